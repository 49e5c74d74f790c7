// Package lambdafn wires one operation's Lambda function: configuration from
// the environment, AWS clients and adapters built once at cold start, the
// service and the handler. Every functions/<op>/main.go calls Build and then
// lambda.Start. Functions link only the AWS adapters: the embedded runtime is
// for `medshare serve`.
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
	"github.com/medshare/medshare/shared/httpapi"
)

// Handler is an HTTP API (payload 2.0) Lambda handler.
type Handler = func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Build returns the handler of operation op, wired from the environment
// (awsruntime's MEDSHARE_TABLE, MEDSHARE_BUCKET, MEDSHARE_KMS_KEY_ID,
// MEDSHARE_TOPIC_ARN, and the service's settings in package config).
func Build(ctx context.Context, op string, getenv func(string) string) (Handler, error) {
	if _, ok := httpapi.RouteByOp(op); !ok {
		return nil, fmt.Errorf("build function: unknown operation %q", op)
	}
	cfg, err := config.Service(getenv)
	if err != nil {
		return nil, fmt.Errorf("build function %s: %w", op, err)
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("build function %s: aws config: %w", op, err)
	}
	rt, err := awsruntime.Open(ctx, awsCfg, getenv, cfg)
	if err != nil {
		return nil, fmt.Errorf("build function %s: %w", op, err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("function", op)
	return httpapi.NewHandler(rt.Service, log).Function(op), nil
}
