// Package lambdafn wires one operation's Lambda function: configuration from
// the environment, adapters built once at cold start, the service and the
// handler. Every functions/<op>/main.go calls Build and then lambda.Start.
package lambdafn

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/medshare/medshare/shared/awsruntime"
	"github.com/medshare/medshare/shared/config"
	"github.com/medshare/medshare/shared/embedded"
	"github.com/medshare/medshare/shared/httpapi"
)

// Environment variables of the functions.
const (
	EnvBackend   = "MEDSHARE_BACKEND"    // "aws" (the default) or "embedded"
	EnvDataDir   = "MEDSHARE_DATA_DIR"   // embedded backend: the data directory
	EnvPublicURL = "MEDSHARE_PUBLIC_URL" // embedded backend: base of blob URLs
)

// Handler is an HTTP API (payload 2.0) Lambda handler.
type Handler = func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Build returns the handler of operation op, wired from the environment.
func Build(ctx context.Context, op string, getenv func(string) string) (Handler, error) {
	if _, ok := httpapi.RouteByOp(op); !ok {
		return nil, fmt.Errorf("build function: unknown operation %q", op)
	}
	cfg, err := config.Service(getenv)
	if err != nil {
		return nil, fmt.Errorf("build function %s: %w", op, err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("function", op)
	switch backend := getenv(EnvBackend); backend {
	case "", "aws":
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("build function %s: aws config: %w", op, err)
		}
		rt, err := awsruntime.Open(ctx, awsCfg, getenv, cfg)
		if err != nil {
			return nil, fmt.Errorf("build function %s: %w", op, err)
		}
		return httpapi.NewHandler(rt.Service, log).Function(op), nil
	case "embedded":
		dir := getenv(EnvDataDir)
		if dir == "" {
			return nil, fmt.Errorf("build function %s: %s is required for the embedded backend", op, EnvDataDir)
		}
		rt, err := embedded.Open(embedded.Options{DataDir: dir, PublicURL: getenv(EnvPublicURL), Config: cfg, Log: log})
		if err != nil {
			return nil, fmt.Errorf("build function %s: %w", op, err)
		}
		return rt.Handler.Function(op), nil
	default:
		return nil, fmt.Errorf("build function %s: %s=%q is not a known backend", op, EnvBackend, backend)
	}
}
