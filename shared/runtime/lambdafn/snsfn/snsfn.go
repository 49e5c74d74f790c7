// Package snsfn links SNS into a Lambda function: the client and the
// notifier (snsnotify). Only the functions that publish notifications import
// it (lambdafn.Uses).
package snsfn

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/medshare/medshare/shared/notify/snsnotify"
	"github.com/medshare/medshare/shared/runtime/awsenv"
	"github.com/medshare/medshare/shared/runtime/lambdafn"
)

// Link builds the SNS client (the endpoint of AWS_ENDPOINT_URL_SNS or
// AWS_ENDPOINT_URL) and the notifier of MEDSHARE_TOPIC_ARN.
var Link = lambdafn.Link{Service: lambdafn.SNS, Add: add}

// add's error is wrapped by lambdafn with the function and the service.
func add(_ context.Context, w *lambdafn.Wiring) (err error) {
	client := sns.NewFromConfig(w.Config, func(o *sns.Options) { o.BaseEndpoint = awsenv.Endpoint(w.Getenv, sns.ServiceID) })
	w.Deps.Notifier, err = snsnotify.New(client, w.Settings.TopicARN)
	return err
}
