// Command mark-notification-read is the Lambda function of the mark-notification-read operation: it only wires.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/medshare/medshare/shared/lambdafn"
)

func main() {
	h, err := lambdafn.Build(context.Background(), "mark-notification-read", os.Getenv)
	if err != nil {
		slog.Error("cold start failed", "function", "mark-notification-read", "error", err)
		os.Exit(1)
	}
	lambda.Start(h)
}
