// Command photo-key is the Lambda function of the photo-key operation: it only wires.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/medshare/medshare/shared/lambdafn"
)

func main() {
	h, err := lambdafn.Build(context.Background(), "photo-key", os.Getenv)
	if err != nil {
		slog.Error("cold start failed", "function", "photo-key", "error", err)
		os.Exit(1)
	}
	lambda.Start(h)
}
