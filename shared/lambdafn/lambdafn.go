// Package lambdafn wires one operation's Lambda function: configuration from
// the environment, AWS clients and adapters built once at cold start, the
// service and the handler. Every functions/<op>/main.go calls Build (and
// every functions/<job>/main.go BuildJob) and then lambda.Start. Functions link only the AWS adapters: the embedded runtime is
// for `medshare serve`.
package lambdafn

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/medshare/medshare/shared/awsruntime"
	"github.com/medshare/medshare/shared/config"
	"github.com/medshare/medshare/shared/httpapi"
	"github.com/medshare/medshare/shared/jobs"
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
	rt, log, err := open(ctx, op, getenv)
	if err != nil {
		return nil, err
	}
	return httpapi.NewHandler(rt.Service, log).Function(op), nil
}

// JobHandler is a scheduled job's Lambda handler: EventBridge invokes it with
// the schedule's event.
type JobHandler = func(context.Context, events.EventBridgeEvent) (jobs.Result, error)

// BuildJob returns the handler of the scheduled job name (package jobs),
// wired from the environment as Build does. The run is scheduled for the
// event's time, so that a retried event does the same run; an event without
// a time runs for now.
func BuildJob(ctx context.Context, name string, getenv func(string) string) (JobHandler, error) {
	if _, ok := jobs.ByName(name); !ok {
		return nil, fmt.Errorf("build function: unknown job %q", name)
	}
	rt, log, err := open(ctx, name, getenv)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, ev events.EventBridgeEvent) (jobs.Result, error) {
		at := ev.Time
		if at.IsZero() {
			at = time.Now()
		}
		return jobs.Run(ctx, rt.Service, name, at, log.With("event_id", ev.ID))
	}, nil
}

// open builds the AWS runtime of function name at cold start.
func open(ctx context.Context, name string, getenv func(string) string) (*awsruntime.Runtime, *slog.Logger, error) {
	cfg, err := config.Service(getenv)
	if err != nil {
		return nil, nil, fmt.Errorf("build function %s: %w", name, err)
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("build function %s: aws config: %w", name, err)
	}
	rt, err := awsruntime.Open(ctx, awsCfg, getenv, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("build function %s: %w", name, err)
	}
	return rt, slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("function", name), nil
}
