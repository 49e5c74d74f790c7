// Package kmsfn links KMS into a Lambda function: the client and the key
// ring (kmskeys). Only the functions that wrap, unwrap or check the data key
// import it (lambdafn.Uses).
package kmsfn

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/medshare/medshare/shared/keyring/kmskeys"
	"github.com/medshare/medshare/shared/runtime/awsenv"
	"github.com/medshare/medshare/shared/runtime/lambdafn"
)

// Link builds the KMS client (the endpoint of AWS_ENDPOINT_URL_KMS or
// AWS_ENDPOINT_URL) and the key ring of MEDSHARE_KMS_KEY_ID.
var Link = lambdafn.Link{Service: lambdafn.KMS, Add: add}

// add's error is wrapped by lambdafn with the function and the service.
func add(_ context.Context, w *lambdafn.Wiring) (err error) {
	client := kms.NewFromConfig(w.Config, func(o *kms.Options) { o.BaseEndpoint = awsenv.Endpoint(w.Getenv, kms.ServiceID) })
	w.Deps.Keys, err = kmskeys.New(client, w.Settings.KeyID)
	return err
}
