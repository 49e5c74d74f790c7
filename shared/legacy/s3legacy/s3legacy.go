// Package s3legacy is a core.LegacySource that reads the legacy public
// bucket through the S3 API: an AWS S3 bucket, or an S3-compatible one
// (DigitalOcean Spaces, MinIO, VersityGW) at its own endpoint. It only
// reads: HeadObject and GetObject, which are all the migration function's
// role may call on that bucket (infra/stack/legacy.go). When the private
// store is S3 too, on the same endpoint, the migration copies server-side
// from Bucket() (package migrate).
package s3legacy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/runtime/awserr"
)

var _ core.LegacySource = (*Source)(nil)

// API is the part of the S3 client that the source calls; *s3.Client
// satisfies it.
type API interface {
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadBucket(ctx context.Context, in *s3.HeadBucketInput, optFns ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
}

// Source reads one bucket.
type Source struct {
	api    API
	bucket string
}

// New returns the source of bucket, read with client (built by the caller
// for the bucket's endpoint, region and credentials).
func New(client API, bucket string) (*Source, error) {
	if client == nil || bucket == "" {
		return nil, errors.New("new s3 legacy source: client and bucket are required")
	}
	return &Source{api: client, bucket: bucket}, nil
}

// Bucket is the bucket's name, the source of a server-side copy.
func (s *Source) Bucket() string { return s.bucket }

func checkKey(key string) error {
	if key == "" || len(key) > 1024 || !utf8.ValidString(key) {
		return core.ErrInvalid("legacy object key must be 1 to 1024 bytes of UTF-8")
	}
	return nil
}

// Ping is HeadBucket: the bucket exists and the credentials may list it,
// which S3 also requires to answer 404 rather than 403 for a missing key.
func (s *Source) Ping(ctx context.Context) error {
	if _, err := s.api.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)}); err != nil {
		return core.ErrUnavailable(err, "legacy bucket %s does not answer (does it exist, may these credentials list it?)", s.bucket)
	}
	return nil
}

// Stat is HeadObject.
func (s *Source) Stat(ctx context.Context, key string) (core.LegacyObject, error) {
	if err := checkKey(key); err != nil {
		return core.LegacyObject{}, err
	}
	out, err := s.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return core.LegacyObject{}, translate("head legacy object "+key, err)
	}
	return core.LegacyObject{Size: aws.ToInt64(out.ContentLength), ContentType: aws.ToString(out.ContentType)}, nil
}

// Open is GetObject, with a Range of the first limit bytes when limit > 0.
func (s *Source) Open(ctx context.Context, key string, limit int64) (io.ReadCloser, core.LegacyObject, error) {
	if err := checkKey(key); err != nil {
		return nil, core.LegacyObject{}, err
	}
	in := &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)}
	if limit > 0 {
		in.Range = aws.String("bytes=0-" + strconv.FormatInt(limit-1, 10))
	}
	out, err := s.api.GetObject(ctx, in)
	if err != nil {
		return nil, core.LegacyObject{}, translate("get legacy object "+key, err)
	}
	body, obj := core.OpenedLegacyObject(out.Body, aws.ToInt64(out.ContentLength), aws.ToString(out.ContentRange), aws.ToString(out.ContentType), limit)
	return body, obj, nil
}

// translate maps an SDK error to the core's kinds: a missing key is
// KindNotFound (a dead URL); everything else KindUnavailable, so that the
// line is reported unavailable and a run later retries it, never as dead:
// a bucket made private answers 403 to every key.
func translate(what string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return core.ErrUnavailable(err, "%s", what)
	}
	switch awserr.Code(err) {
	case "NoSuchKey", "NotFound":
		return core.ErrNotFound("%s: not found", what)
	case "NoSuchBucket":
		// Also a 404, of every key: the configuration, not a dead URL.
		return core.ErrUnavailable(err, "%s: the legacy bucket does not exist", what)
	}
	if awserr.StatusCode(err) == http.StatusNotFound {
		return core.ErrNotFound("%s: not found", what)
	}
	return core.ErrUnavailable(fmt.Errorf("%w", err), "%s", what)
}

// NewClient returns the S3 client of a legacy bucket: cfg's (the AWS
// account's own S3, with cfg's credentials and endpoint) when endpoint is
// empty; otherwise one for that S3-compatible endpoint, with region
// (cfg's when empty), path-style addressing when asked, and the static
// keys given (cfg's credentials when they are empty).
func NewClient(cfg aws.Config, endpoint, region string, pathStyle bool, accessKeyID, secretAccessKey string) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = pathStyle
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		if region != "" {
			o.Region = region
		}
		if accessKeyID != "" {
			o.Credentials = aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: accessKeyID, SecretAccessKey: secretAccessKey, Source: "medshare-legacy"}, nil
			}))
		}
	})
}
