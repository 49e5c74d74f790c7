// Command get-session is the Lambda function of the get-session operation: it only wires.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/medshare/medshare/shared/lambdafn"
)

func main() {
	h, err := lambdafn.Build(context.Background(), "get-session", os.Getenv)
	if err != nil {
		slog.Error("cold start failed", "function", "get-session", "error", err)
		os.Exit(1)
	}
	lambda.Start(h)
}
