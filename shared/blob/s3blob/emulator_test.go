package s3blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/blob/blobtest"
	"github.com/medshare/medshare/shared/blob/s3blob"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/awstest"
)

func newEmulatorStore(t *testing.T) (*s3blob.Store, *s3.Client, string) {
	t.Helper()
	client := awstest.S3Client(t)
	bucket := awstest.NewBucket(t, client, "medshare-test")
	store, err := s3blob.New(client, s3.NewPresignClient(client), bucket)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return store, client, bucket
}

func TestContract(t *testing.T) {
	store, _, _ := newEmulatorStore(t)
	blobtest.Run(t, blobtest.Harness{
		New: func(t *testing.T) core.Blobs { return store },
	})
	if n := store.HashFallbacks(); n != 0 {
		t.Errorf("HashFallbacks() = %d after the suite, want 0: the emulator did not keep the uploads' SHA-256", n)
	}
}

// put sends data with exactly the method, URL and headers of up.
func put(t *testing.T, up core.Upload, body []byte, override map[string]string) int {
	t.Helper()
	req, err := http.NewRequest(up.Method, up.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("build upload request: %v", err)
	}
	req.ContentLength = int64(len(body))
	for k, v := range up.Headers {
		if !strings.EqualFold(k, "Content-Length") {
			req.Header.Set(k, v)
		}
	}
	for k, v := range override {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("upload: %v", errors.Unwrap(err)) // the url.Error quotes the signed URL
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// TestEmptyObject checks the one case where S3 cannot sign Content-Length:
// the signed digest of the empty string and the signed type still hold.
func TestEmptyObject(t *testing.T) {
	store, _, _ := newEmulatorStore(t)
	ctx := context.Background()
	empty := sha256.Sum256(nil)
	tests := []struct {
		name     string
		body     []byte
		override map[string]string
		ok       bool
	}{
		{"empty", nil, nil, true},
		{"one byte", []byte{0}, nil, false},
		{"other content type", nil, map[string]string{"Content-Type": "text/plain"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "chat/" + core.NewID("im")
			up, err := store.PresignPut(ctx, key, 0, empty[:], core.CiphertextContentType, time.Minute)
			if err != nil {
				t.Fatalf("PresignPut = %v", err)
			}
			status := put(t, up, tt.body, tt.override)
			info, err := store.Stat(ctx, key)
			if !tt.ok {
				if status/100 == 2 {
					t.Errorf("upload: status %d, want 4xx", status)
				}
				if !core.IsKind(err, core.KindNotFound) {
					t.Errorf("Stat after a refused upload = %+v, %v; want KindNotFound", info, err)
				}
				return
			}
			if status/100 != 2 {
				t.Fatalf("upload: status %d, want 2xx", status)
			}
			if err != nil {
				t.Fatalf("Stat = %v", err)
			}
			if diff := cmp.Diff(core.BlobInfo{Size: 0, SHA256: empty[:]}, info); diff != "" {
				t.Errorf("Stat mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestStatHashesObjectsWithoutChecksum writes an object the way another tool
// would, without a SHA-256 checksum, and checks that Stat hashes it instead
// and counts that it did.
func TestStatHashesObjectsWithoutChecksum(t *testing.T) {
	store, client, bucket := newEmulatorStore(t)
	ctx := context.Background()
	data := bytes.Repeat([]byte("medshare"), 1000)
	key := "chat/" + core.NewID("im")
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket),
		Key:    aws.String(key),
		Body:   bytes.NewReader(data),
	}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	info, err := store.Stat(ctx, key)
	if err != nil {
		t.Fatalf("Stat = %v", err)
	}
	sum := sha256.Sum256(data)
	if diff := cmp.Diff(core.BlobInfo{Size: int64(len(data)), SHA256: sum[:]}, info); diff != "" {
		t.Errorf("Stat mismatch (-want +got):\n%s", diff)
	}
	if got := store.HashFallbacks(); got != 1 {
		t.Errorf("HashFallbacks() = %d, want 1", got)
	}
}
