// Package cdnfn links the CloudFront delivery of chat images into a Lambda
// function (chat-signed-url only: lambdafn.Uses). With MEDSHARE_CDN_DOMAIN
// and MEDSHARE_CDN_KEY_SECRET_ARN set, Link reads the signing key from
// Secrets Manager once, at cold start, and wraps the S3 blob store so that
// chat images' URLs are CloudFront signed URLs (cdnblob). With neither set,
// it does nothing and chat images keep presigned S3 GETs: the fallback.
package cdnfn

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/medshare/medshare/shared/blob/cdnblob"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/runtime/awsenv"
	"github.com/medshare/medshare/shared/runtime/lambdafn"
)

// Link wraps the function's blob store (S3, linked before it) with the
// CloudFront signer of chat images, when the environment names a
// distribution.
var Link = lambdafn.Link{Service: lambdafn.CDN, Add: add}

// ChatPrefix is the key prefix of chat images (core.ChatImage.ObjectKey),
// which the distribution serves.
var ChatPrefix = strings.TrimSuffix(core.ChatImage{ID: "x"}.ObjectKey(), "x")

func add(ctx context.Context, w *lambdafn.Wiring) error {
	domain, secret := w.Getenv(cdnblob.EnvDomain), w.Getenv(cdnblob.EnvKeySecret)
	switch {
	case domain == "" && secret == "":
		return nil // no distribution: presigned S3 GETs
	case domain == "" || secret == "":
		return fmt.Errorf("%s and %s go together: set both or neither", cdnblob.EnvDomain, cdnblob.EnvKeySecret)
	case w.Deps.Blobs == nil:
		return errors.New("the CDN wraps the S3 blob store, which is not linked before it")
	}
	client := secretsmanager.NewFromConfig(w.Config, func(o *secretsmanager.Options) {
		o.BaseEndpoint = awsenv.Endpoint(w.Getenv, secretsmanager.ServiceID)
	})
	key, err := cdnblob.LoadKey(ctx, client, secret)
	if err != nil {
		return err
	}
	blobs, err := cdnblob.New(w.Deps.Blobs, cdnblob.Options{Domain: domain, Key: key, Prefix: ChatPrefix})
	if err != nil {
		return err
	}
	w.Deps.Blobs = blobs
	return nil
}
