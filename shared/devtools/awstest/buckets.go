package awstest

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3Client returns a client of the S3 emulator, with path-style addressing
// (the emulator on loopback has no per-bucket host names).
func S3Client(t testing.TB) *s3.Client {
	t.Helper()
	return s3.NewFromConfig(Config(t), func(o *s3.Options) { o.UsePathStyle = true })
}

// NewBucket creates a bucket named after prefix and the test on the
// emulator, and removes it with its objects when the test ends: the legacy
// public bucket of the migration's tests is one such second bucket.
func NewBucket(t testing.TB, client *s3.Client, prefix string) string {
	t.Helper()
	bucket := UniqueName(t, prefix)
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Errorf("list objects of %s: %v", bucket, err)
				return
			}
			for _, o := range page.Contents {
				if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key}); err != nil {
					t.Errorf("delete %s: %v", aws.ToString(o.Key), err)
				}
			}
		}
		if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
			t.Errorf("delete bucket %s: %v", bucket, err)
		}
	})
	return bucket
}
