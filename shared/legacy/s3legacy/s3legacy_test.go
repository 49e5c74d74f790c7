package s3legacy_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/awstest"
	"github.com/medshare/medshare/shared/legacy/legacysourcetest"
	"github.com/medshare/medshare/shared/legacy/s3legacy"
	"github.com/medshare/medshare/shared/store/storetest"
)

// TestContract runs the source's contract suite on a second bucket of the
// S3 emulator, as the AWS tier's tests hold the legacy bucket.
func TestContract(t *testing.T) {
	legacysourcetest.Run(t, legacysourcetest.Harness{New: func(t *testing.T, objects map[string]legacysourcetest.Object) core.LegacySource {
		client := awstest.S3Client(t)
		bucket := awstest.NewBucket(t, client, "legacy")
		for key, o := range objects {
			_, err := client.PutObject(context.Background(), &s3.PutObjectInput{
				Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(o.Data), ContentType: aws.String(o.ContentType),
			})
			storetest.Must(t, "put "+key, err)
		}
		src, err := s3legacy.New(client, bucket)
		storetest.Must(t, "New", err)
		return src
	}})
}

// TestPingRefusesAMissingBucket: a wrong bucket is told before a run,
// rather than as a manifest of dead URLs.
func TestPingRefusesAMissingBucket(t *testing.T) {
	client := awstest.S3Client(t)
	src, err := s3legacy.New(client, awstest.UniqueName(t, "absent"))
	storetest.Must(t, "New", err)
	storetest.WantKind(t, "Ping", src.Ping(t.Context()), core.KindUnavailable)
}

// fakeAPI answers every call with err.
type fakeAPI struct{ err error }

func (f fakeAPI) HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	return nil, f.err
}

func (f fakeAPI) GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	return nil, f.err
}

func (f fakeAPI) HeadBucket(context.Context, *s3.HeadBucketInput, ...func(*s3.Options)) (*s3.HeadBucketOutput, error) {
	return nil, f.err
}

func responseError(status int, code string) error {
	return awstest.APIError("S3", "HeadObject", status, awstest.ErrorCode(code))
}

// TestErrors: a missing key is a dead URL; a missing bucket, a refusal (a
// bucket made private answers 403 to every key) or a failure is not.
func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		kind core.Kind
	}{
		{responseError(404, "NoSuchKey"), core.KindNotFound},
		{responseError(404, "NotFound"), core.KindNotFound},
		{responseError(404, "NoSuchBucket"), core.KindUnavailable},
		{responseError(403, "AccessDenied"), core.KindUnavailable},
		{responseError(503, "SlowDown"), core.KindUnavailable},
		{context.Canceled, core.KindUnavailable},
	} {
		src, err := s3legacy.New(fakeAPI{tc.err}, "legacy")
		storetest.Must(t, "New", err)
		_, err = src.Stat(t.Context(), "a.jpg")
		storetest.WantKind(t, "Stat with "+tc.err.Error(), err, tc.kind)
		_, _, err = src.Open(t.Context(), "a.jpg", 0)
		storetest.WantKind(t, "Open with "+tc.err.Error(), err, tc.kind)
	}
}
