// Package migratefn builds the migration function: the Lambda function that
// AWS Step Functions' distributed map invokes for each line of a legacy
// chat export (infra/stack/legacy.go), with a migrate.Item, and that answers
// its migrate.Result (ARCHITECTURE §9). It is lambdafn's wiring (Wire) with
// S3 (s3fn: the private bucket) and the legacy source of
// MEDSHARE_LEGACY_SOURCE: an s3:// bucket, read with the function's own
// credentials (or the keys of MEDSHARE_LEGACY_ENDPOINT), copied
// server-side when it is in the same S3; or an http(s) base URL, read with
// GETs and streamed into the private bucket.
package migratefn

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/medshare/medshare/shared/blob/s3blob"
	"github.com/medshare/medshare/shared/legacy/httplegacy"
	"github.com/medshare/medshare/shared/legacy/migrate"
	"github.com/medshare/medshare/shared/legacy/s3legacy"
	"github.com/medshare/medshare/shared/runtime/awsenv"
	"github.com/medshare/medshare/shared/runtime/lambdafn"
)

// Name is the migration function's name (migrate.FunctionName).
const Name = migrate.FunctionName

// Handler is the migration function's handler.
type Handler = func(context.Context, migrate.Item) (migrate.Result, error)

// Build returns the migration function's handler, wired from the
// environment with links (lambdafn.Uses: S3).
func Build(ctx context.Context, getenv func(string) string, links ...lambdafn.Link) (Handler, error) {
	return BuildWith(ctx, lambdafn.Options{}, getenv, links...)
}

// Main is the whole main of the migration function: Build from the
// process's environment with links, then lambdafn.Start.
func Main(links ...lambdafn.Link) {
	lambdafn.Start(Name, func(ctx context.Context, getenv func(string) string) (Handler, error) {
		return Build(ctx, getenv, links...)
	})
}

// BuildWith is Build with options (lambdafn.Options.Wire): the legacy
// source's S3 client is built from the same AWS configuration, so that the
// options' middleware sees its calls too.
func BuildWith(ctx context.Context, o lambdafn.Options, getenv func(string) string, links ...lambdafn.Link) (Handler, error) {
	w, svc, _, err := o.Wire(ctx, migrate.FunctionName, getenv, links...)
	if err != nil {
		return nil, err
	}
	blobs, ok := w.Deps.Blobs.(*s3blob.Store)
	if !ok {
		return nil, fmt.Errorf("build function %s: it needs the S3 blob store", migrate.FunctionName)
	}
	settings := migrate.SettingsFromEnv(getenv)
	if err := settings.Check(); err != nil {
		return nil, fmt.Errorf("build function %s: %w", migrate.FunctionName, err)
	}
	origin, _ := settings.Origin()
	m := migrate.Migrator{Service: svc, Origin: origin}
	if bucket, ok := settings.Bucket(); ok {
		endpoint := settings.Endpoint
		if endpoint == "" {
			endpoint = aws.ToString(awsenv.Endpoint(getenv, s3.ServiceID))
		}
		client := s3legacy.NewClient(w.Config, endpoint, settings.Region, settings.PathStyle || w.Settings.PathStyle,
			settings.AccessKeyID, settings.SecretAccessKey)
		src, err := s3legacy.New(client, bucket)
		if err != nil {
			return nil, fmt.Errorf("build function %s: %w", migrate.FunctionName, err)
		}
		m.Source = src
		if settings.Endpoint == "" {
			// The legacy bucket is in the account's S3: CopyObject, with the
			// function's role, which may read it and nothing else.
			m.Copier = migrate.ServerSideCopier{LegacyBucket: bucket, Blobs: blobs}
		}
	} else {
		src, err := httplegacy.New(settings.Source, nil)
		if err != nil {
			return nil, fmt.Errorf("build function %s: %w", migrate.FunctionName, err)
		}
		m.Source = src
	}
	if m.Copier == nil {
		m.Copier = migrate.StreamCopier{Source: m.Source, Blobs: blobs}
	}
	return func(ctx context.Context, it migrate.Item) (migrate.Result, error) {
		return migrate.HandleItem(ctx, m, it)
	}, nil
}
