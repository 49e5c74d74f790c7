// Command hello is the hello-world Lambda bootstrap that the functions' cold
// starts are compared with (medshare bench coldstart): the Lambda runtime
// client, an HTTP API event in and a JSON response out, and nothing else.
// It is built with the functions' flags.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return events.APIGatewayV2HTTPResponse{
			StatusCode: 200,
			Headers:    map[string]string{"Content-Type": "application/json"},
			Body:       `{"status":"ok"}`,
		}, nil
	})
}
