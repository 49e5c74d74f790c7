package lambdafn

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/medshare/medshare/shared/httpapi"
)

// Main is the whole main of route's function (functions/<op>/main.go):
// Build from the process's environment with links, then Start.
func Main(route httpapi.Route, links ...Link) {
	Start(route.Op, func(ctx context.Context, getenv func(string) string) (Handler, error) {
		return Build(ctx, route, getenv, links...)
	})
}

// MainJob is the whole main of the scheduled job name's function:
// BuildJob from the process's environment with links, then Start.
func MainJob(name string, links ...Link) {
	Start(name, func(ctx context.Context, getenv func(string) string) (JobHandler, error) {
		return BuildJob(ctx, name, getenv, links...)
	})
}

// Start builds function name's handler once, at cold start, from the
// process's environment, and hands it to the Lambda runtime. A cold start
// that fails is logged (as JSON, with the function's name) and exits with
// status 1, so that Lambda reports an init error rather than serving a
// half-built function.
func Start[H any](name string, build func(ctx context.Context, getenv func(string) string) (H, error)) {
	h, err := build(context.Background(), os.Getenv)
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("cold start failed", "function", name, "error", err)
		os.Exit(1)
	}
	lambda.Start(h)
}
