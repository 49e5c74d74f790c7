// Package s3fn links S3 into a Lambda function: the client, its presigner
// and the blob store (s3blob). Only the functions whose operation touches an
// object import it (lambdafn.Uses).
package s3fn

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/medshare/medshare/shared/blob/s3blob"
	"github.com/medshare/medshare/shared/runtime/awsenv"
	"github.com/medshare/medshare/shared/runtime/lambdafn"
)

// Link builds the S3 client (path-style addressing when
// MEDSHARE_S3_PATH_STYLE says so, the endpoint of AWS_ENDPOINT_URL_S3 or
// AWS_ENDPOINT_URL) and the blob store of the function's bucket.
var Link = lambdafn.Link{Service: lambdafn.S3, Add: add}

// add's error is wrapped by lambdafn with the function and the service.
func add(_ context.Context, w *lambdafn.Wiring) (err error) {
	client := s3.NewFromConfig(w.Config, func(o *s3.Options) {
		o.UsePathStyle, o.BaseEndpoint = w.Settings.PathStyle, awsenv.Endpoint(w.Getenv, s3.ServiceID)
	})
	w.Deps.Blobs, err = s3blob.New(client, s3.NewPresignClient(client), w.Settings.Bucket)
	return err
}
