package s3presign_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/medshare/medshare/shared/blob/s3blob"
	"github.com/medshare/medshare/shared/blob/s3presign"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/awstest"
	"github.com/medshare/medshare/shared/runtime/awsenv"
)

// emulatorBucket creates a bucket on the S3 emulator that holds body at
// each of keys, and removes it, with those keys and the others the test
// writes, when the test ends.
func emulatorBucket(t *testing.T, body []byte, keys, others []string) (aws.Config, *s3.Client, string) {
	t.Helper()
	cfg := awstest.Config(t)
	ctx := context.Background()
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	bucket := awstest.UniqueName(t, "medshare-test")
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	t.Cleanup(func() {
		for _, key := range append(append([]string(nil), keys...), others...) {
			client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		}
		client.DeleteBucket(context.Background(), &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
	})
	for _, key := range keys {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	return cfg, client, bucket
}

// TestEmulatorChecksTheURLs fetches the signer's URLs from the S3 emulator
// (VersityGW), which verifies SigV4 and the expiry: a URL gets its object,
// and a URL with another signature, for another key, or past its expiry
// gets 403. The expired URL was signed two hours ago for one hour, so no
// timing of the test's own matters.
func TestEmulatorChecksTheURLs(t *testing.T) {
	body := []byte("ciphertext of a photo")
	cfg, _, bucket := emulatorBucket(t, body, []string{"chat/im_1", "chat/im_2"}, nil)
	ctx := context.Background()
	signer := func(now func() time.Time) *s3presign.Signer {
		s, err := s3presign.New(s3presign.Config{Bucket: bucket, Region: cfg.Region, Endpoint: awsenv.Endpoint(os.Getenv, s3presign.ServiceID),
			PathStyle: true, Credentials: cfg.Credentials, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	get := func(t *testing.T, url string) (int, []byte) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}

	good, err := signer(nil).PresignGet(ctx, "chat/im_1", 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("valid", func(t *testing.T) {
		if status, b := get(t, good.URL); status != http.StatusOK || !bytes.Equal(b, body) {
			t.Errorf("status %d, body %q", status, b)
		}
	})
	t.Run("another signature", func(t *testing.T) {
		i := strings.Index(good.URL, "X-Amz-Signature=") + len("X-Amz-Signature=")
		flip := byte('0')
		if good.URL[i] == '0' {
			flip = '1'
		}
		if status, _ := get(t, good.URL[:i]+string(flip)+good.URL[i+1:]); status != http.StatusForbidden {
			t.Errorf("status %d, want 403", status)
		}
	})
	t.Run("another key", func(t *testing.T) {
		if status, _ := get(t, strings.Replace(good.URL, "chat/im_1", "chat/im_2", 1)); status != http.StatusForbidden {
			t.Errorf("status %d, want 403", status)
		}
	})
	t.Run("expired", func(t *testing.T) {
		old, err := signer(func() time.Time { return time.Now().Add(-2 * time.Hour) }).PresignGet(ctx, "chat/im_1", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if !old.ExpiresAt.Before(time.Now()) {
			t.Fatalf("ExpiresAt %v is not past", old.ExpiresAt)
		}
		if status, _ := get(t, old.URL); status != http.StatusForbidden {
			t.Errorf("status %d, want 403", status)
		}
	})
}

// TestDeleteWritesATombstone deletes an object with the signer's own
// signed PUT on the S3 emulator: the key then holds s3blob's tombstone
// (empty, with its metadata), which s3blob's Stat reports as not found;
// deleting it again, or a key that never held an object, succeeds too.
func TestDeleteWritesATombstone(t *testing.T) {
	keys := []string{"photos/p_1/ph_1", "chat/never-written"}
	cfg, client, bucket := emulatorBucket(t, []byte("ciphertext"), keys[:1], keys[1:])
	ctx := context.Background()
	signer, err := s3presign.New(s3presign.Config{Bucket: bucket, Region: cfg.Region, Endpoint: awsenv.Endpoint(os.Getenv, s3presign.ServiceID),
		PathStyle: true, Credentials: cfg.Credentials})
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := s3blob.New(client, s3.NewPresignClient(client), bucket)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range append(keys, keys[0]) {
		if err := signer.Delete(ctx, key); err != nil {
			t.Fatalf("delete %s: %v", key, err)
		}
		out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if len(b) != 0 || out.Metadata[s3presign.TombstoneMetadata] != "1" {
			t.Errorf("%s holds %q with metadata %v, want the empty tombstone", key, b, out.Metadata)
		}
		if _, err := blobs.Stat(ctx, key); !core.IsKind(err, core.KindNotFound) {
			t.Errorf("stat %s after delete: %v, want not found", key, err)
		}
	}
	t.Run("another bucket is refused", func(t *testing.T) {
		other, err := s3presign.New(s3presign.Config{Bucket: bucket + "-absent", Region: cfg.Region, Endpoint: awsenv.Endpoint(os.Getenv, s3presign.ServiceID),
			PathStyle: true, Credentials: cfg.Credentials})
		if err != nil {
			t.Fatal(err)
		}
		if err := other.Delete(ctx, keys[0]); !core.IsKind(err, core.KindInternal) {
			t.Errorf("delete in a missing bucket: %v, want internal (NoSuchBucket)", err)
		}
	})
}
