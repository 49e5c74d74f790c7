package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/legacy/migrate"
	"github.com/medshare/medshare/shared/runtime/awsruntime"
	"github.com/medshare/medshare/shared/runtime/embedded"
)

// backend is the service a command that works on a store (job, migrate)
// runs on: the embedded data directory of `medshare serve`, or AWS wired
// from the environment as the functions are.
type backend struct {
	Service *core.Service
	Blobs   migrate.Blobs
	// AWS and AWSConfig are set on the aws backend only.
	AWS       *awsruntime.Runtime
	AWSConfig aws.Config
	close     func() error
}

// openBackend opens the backend named by --backend. The embedded one holds
// the data directory's store, which a running server holds too: busyHint
// is added to the advice given then. The caller closes what it opened.
func openBackend(ctx context.Context, name, dir string, getenv func(string) string, cfg core.Config, log *slog.Logger, busyHint string) (*backend, error) {
	switch name {
	case "embedded":
		// No URL is handed out: the public URL only has to be well formed.
		rt, err := embedded.Open(embedded.Options{DataDir: dir, PublicURL: "http://127.0.0.1", Config: cfg, Log: log})
		if core.KindOf(err) == core.KindUnavailable {
			return nil, fmt.Errorf("%w (is medshare serve running on %s? stop it first%s)", err, dir, busyHint)
		}
		if err != nil {
			return nil, err
		}
		return &backend{Service: rt.Service, Blobs: rt.Blobs, close: rt.Close}, nil
	case "aws":
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("aws config: %w", err)
		}
		rt, err := awsruntime.Open(ctx, awsCfg, getenv, cfg)
		if err != nil {
			return nil, err
		}
		return &backend{Service: rt.Service, Blobs: rt.Blobs, AWS: rt, AWSConfig: awsCfg, close: func() error { return nil }}, nil
	}
	return nil, fmt.Errorf("--backend must be embedded or aws, not %q", name)
}

// Close releases what the backend holds (the embedded store's file lock).
func (b *backend) Close() error { return b.close() }
