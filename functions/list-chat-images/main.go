// Command list-chat-images is the Lambda function of the list-chat-images operation: it only wires.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/medshare/medshare/shared/lambdafn"
)

func main() {
	h, err := lambdafn.Build(context.Background(), "list-chat-images", os.Getenv)
	if err != nil {
		slog.Error("cold start failed", "function", "list-chat-images", "error", err)
		os.Exit(1)
	}
	lambda.Start(h)
}
