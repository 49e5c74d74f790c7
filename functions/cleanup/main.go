// Command cleanup is the Lambda function of the scheduled job cleanup (package
// jobs), invoked by its EventBridge schedule: it only wires.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/medshare/medshare/shared/lambdafn"
)

func main() {
	h, err := lambdafn.BuildJob(context.Background(), "cleanup", os.Getenv)
	if err != nil {
		slog.Error("cold start failed", "function", "cleanup", "error", err)
		os.Exit(1)
	}
	lambda.Start(h)
}
