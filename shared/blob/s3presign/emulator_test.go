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

	"github.com/medshare/medshare/shared/blob/s3presign"
	"github.com/medshare/medshare/shared/devtools/awstest"
	"github.com/medshare/medshare/shared/runtime/awsenv"
)

// TestEmulatorChecksTheURLs fetches the signer's URLs from the S3 emulator
// (VersityGW), which verifies SigV4 and the expiry: a URL gets its object,
// and a URL with another signature, for another key, or past its expiry
// gets 403. The expired URL was signed two hours ago for one hour, so no
// timing of the test's own matters.
func TestEmulatorChecksTheURLs(t *testing.T) {
	cfg := awstest.Config(t)
	ctx := context.Background()
	client := awstest.S3Client(t)
	bucket := awstest.NewBucket(t, client, "medshare-test")
	body := []byte("ciphertext of a photo")
	for _, key := range []string{"chat/im_1", "chat/im_2"} {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
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
