#!/bin/sh
# LocalStack ready hook (docker-compose.yml mounts this directory on
# /etc/localstack/init/ready.d): once DynamoDB, S3, KMS, SNS and SQS answer,
# create MedShare's table, bucket, key and topic with `medshare bootstrap`,
# which is idempotent, and keep the environment it prints for the functions.
#
# Not run in CI, which has no Docker: `make test` uses localstack/emulators.sh.
set -eu

BIN=${MEDSHARE_BIN:-/opt/medshare/medshare}
if [ ! -x "$BIN" ]; then
	echo "medshare bootstrap: $BIN is missing; build it on the host with" >&2
	echo "  GOOS=linux CGO_ENABLED=0 go build -o localstack/.bin/medshare ./cmd/medshare" >&2
	exit 1
fi

# LocalStack accepts any credentials; these are its documented defaults.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_EC2_METADATA_DISABLED=true

"$BIN" bootstrap --endpoint http://localhost:4566 --path-style >/opt/medshare/medshare.env.tmp
mv /opt/medshare/medshare.env.tmp /opt/medshare/medshare.env
echo "medshare bootstrap: done; environment in localstack/.bin/medshare.env"
