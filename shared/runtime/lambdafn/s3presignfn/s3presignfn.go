// Package s3presignfn links S3 into a Lambda function whose only uses of
// S3 are presigned downloads and deletes (lambdafn.Access.SignsOnly): the
// SDK's SigV4 signer (s3presign), without the S3 client, which is about
// 1.3 MB of a binary. The functions that stat or upload objects, or ping
// the bucket, import lambdafn/s3fn instead.
package s3presignfn

import (
	"context"
	"fmt"

	"github.com/medshare/medshare/shared/blob/s3presign"
	"github.com/medshare/medshare/shared/runtime/awsenv"
	"github.com/medshare/medshare/shared/runtime/lambdafn"
)

// Link builds the presigner of the function's bucket (path-style addressing
// when MEDSHARE_S3_PATH_STYLE says so, the endpoint of AWS_ENDPOINT_URL_S3
// or AWS_ENDPOINT_URL, as s3fn's client would have).
var Link = lambdafn.Link{Service: lambdafn.S3, ReadOnly: true, Add: add}

func add(_ context.Context, w *lambdafn.Wiring) error {
	blobs, err := s3presign.New(s3presign.Config{
		Bucket:      w.Settings.Bucket,
		Region:      w.Config.Region,
		Endpoint:    awsenv.Endpoint(w.Getenv, s3presign.ServiceID),
		PathStyle:   w.Settings.PathStyle,
		Credentials: w.Config.Credentials,
		APIOptions:  w.Config.APIOptions,
		HTTPClient:  w.Config.HTTPClient,
		Retryer:     w.Config.Retryer,
	})
	if err != nil {
		return fmt.Errorf("s3 presigner: %w", err)
	}
	w.Deps.Blobs = blobs
	return nil
}
