package s3blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/blob/s3blob"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/awstest"
)

// fakeAPI is a hand-written S3 whose calls return what the test sets.
type fakeAPI struct {
	head       func(*s3.HeadObjectInput) (*s3.HeadObjectOutput, error)
	get        func(*s3.GetObjectInput) (*s3.GetObjectOutput, error)
	put        func(*s3.PutObjectInput) (*s3.PutObjectOutput, error)
	headBucket func(*s3.HeadBucketInput) (*s3.HeadBucketOutput, error)
}

func (f *fakeAPI) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	return f.head(in)
}

func (f *fakeAPI) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	return f.get(in)
}

func (f *fakeAPI) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	return f.put(in)
}

func (f *fakeAPI) CopyObject(context.Context, *s3.CopyObjectInput, ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	return nil, errors.New("fakeAPI: CopyObject is not faked")
}

func (f *fakeAPI) HeadBucket(_ context.Context, in *s3.HeadBucketInput, _ ...func(*s3.Options)) (*s3.HeadBucketOutput, error) {
	return f.headBucket(in)
}

// fakePresigner fails every presign with err.
type fakePresigner struct{ err error }

func (f fakePresigner) PresignPutObject(context.Context, *s3.PutObjectInput, ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error) {
	return nil, f.err
}

func (f fakePresigner) PresignGetObject(context.Context, *s3.GetObjectInput, ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error) {
	return nil, f.err
}

// responseError is what the SDK returns for an HTTP error response of S3.
func responseError(status int, code string) error {
	return awstest.APIError("S3", "HeadObject", status, awstest.ErrorCode(code))
}

func newFakeStore(t *testing.T, api *fakeAPI, opts ...s3blob.Option) *s3blob.Store {
	t.Helper()
	s, err := s3blob.New(api, fakePresigner{errors.New("not used")}, "bucket", opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestStatErrors(t *testing.T) {
	deadline, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	tests := []struct {
		name string
		err  error
		want core.Kind
	}{
		{"modeled not found", &types.NotFound{}, core.KindNotFound},
		{"no such key", &types.NoSuchKey{}, core.KindNotFound},
		{"404 without a body", responseError(404, "NotFound"), core.KindNotFound},
		{"404 unknown code", responseError(404, ""), core.KindNotFound},
		{"slow down", responseError(503, "SlowDown"), core.KindUnavailable},
		{"503 without a code", responseError(503, ""), core.KindUnavailable},
		{"internal error", responseError(500, "InternalError"), core.KindUnavailable},
		{"429", responseError(429, "TooManyRequests"), core.KindUnavailable},
		{"expired token", responseError(400, "ExpiredToken"), core.KindUnavailable},
		{"access denied", responseError(403, "AccessDenied"), core.KindInternal},
		{"403 without a body", responseError(403, "Forbidden"), core.KindInternal},
		{"no such bucket", responseError(404, "NoSuchBucket"), core.KindInternal},
		{"context deadline", deadline.Err(), core.KindUnavailable},
		{"canceled request", &aws.RequestCanceledError{Err: context.Canceled}, core.KindUnavailable},
		{"connection refused", &smithy.OperationError{Err: &smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}}, core.KindUnavailable},
		{"connection reset", &url.Error{Op: "Put", URL: "http://x", Err: errors.New("read: connection reset by peer")}, core.KindUnavailable},
		{"unknown error", errors.New("boom"), core.KindInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeStore(t, &fakeAPI{head: func(*s3.HeadObjectInput) (*s3.HeadObjectOutput, error) { return nil, tt.err }})
			_, err := s.Stat(context.Background(), "photos/p1/ph_1")
			if got := core.KindOf(err); got != tt.want {
				t.Errorf("Stat error kind = %v, want %v (%v)", got, tt.want, err)
			}
			if !strings.Contains(err.Error(), "photos/p1/ph_1") {
				t.Errorf("Stat error %q does not name the key", err)
			}
		})
	}
}

func TestStatChecksum(t *testing.T) {
	data := []byte("ciphertext")
	sum := sha256.Sum256(data)
	b64 := base64.StdEncoding.EncodeToString(sum[:])
	tests := []struct {
		name      string
		head      s3.HeadObjectOutput
		fallbacks int64
	}{
		{"full object checksum", s3.HeadObjectOutput{ContentLength: aws.Int64(int64(len(data))), ChecksumSHA256: aws.String(b64), ChecksumType: types.ChecksumTypeFullObject}, 0},
		{"checksum without type", s3.HeadObjectOutput{ContentLength: aws.Int64(int64(len(data))), ChecksumSHA256: aws.String(b64)}, 0},
		{"no checksum", s3.HeadObjectOutput{ContentLength: aws.Int64(int64(len(data))), ETag: aws.String(`"e1"`)}, 1},
		{"composite checksum", s3.HeadObjectOutput{ContentLength: aws.Int64(int64(len(data))), ChecksumSHA256: aws.String(b64 + "-2"), ChecksumType: types.ChecksumTypeComposite}, 1},
		{"malformed checksum", s3.HeadObjectOutput{ContentLength: aws.Int64(int64(len(data))), ChecksumSHA256: aws.String("bm90IGEgc2hhMjU2")}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gets []*s3.GetObjectInput
			s := newFakeStore(t, &fakeAPI{
				head: func(in *s3.HeadObjectInput) (*s3.HeadObjectOutput, error) {
					if in.ChecksumMode != types.ChecksumModeEnabled {
						t.Errorf("HeadObject ChecksumMode = %q, want ENABLED", in.ChecksumMode)
					}
					out := tt.head
					return &out, nil
				},
				get: func(in *s3.GetObjectInput) (*s3.GetObjectOutput, error) {
					gets = append(gets, in)
					return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(data))}, nil
				},
			})
			got, err := s.Stat(context.Background(), "chat/im_1")
			if err != nil {
				t.Fatalf("Stat = %v", err)
			}
			if diff := cmp.Diff(core.BlobInfo{Size: int64(len(data)), SHA256: sum[:]}, got); diff != "" {
				t.Errorf("Stat mismatch (-want +got):\n%s", diff)
			}
			if n := s.HashFallbacks(); n != tt.fallbacks {
				t.Errorf("HashFallbacks() = %d, want %d", n, tt.fallbacks)
			}
			if int64(len(gets)) != tt.fallbacks {
				t.Fatalf("GetObject called %d times, want %d", len(gets), tt.fallbacks)
			}
			for _, in := range gets {
				if got, want := aws.ToString(in.IfMatch), aws.ToString(tt.head.ETag); got != want {
					t.Errorf("GetObject IfMatch = %q, want the HeadObject ETag %q", got, want)
				}
			}
		})
	}
}

func TestStatFallbackLimit(t *testing.T) {
	head := func(size int64) func(*s3.HeadObjectInput) (*s3.HeadObjectOutput, error) {
		return func(*s3.HeadObjectInput) (*s3.HeadObjectOutput, error) {
			return &s3.HeadObjectOutput{ContentLength: aws.Int64(size)}, nil
		}
	}
	tests := []struct {
		name  string
		limit int64
		size  int64
		body  int // bytes GetObject returns
		want  core.Kind
	}{
		{"fallback disabled", 0, 10, 10, core.KindInternal},
		{"larger than the limit", 100, 101, 101, core.KindInternal},
		{"grew past the limit after the head", 100, 100, 101, core.KindInternal},
		{"object deleted after the head", 100, 10, -1, core.KindNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeStore(t, &fakeAPI{
				head: head(tt.size),
				get: func(*s3.GetObjectInput) (*s3.GetObjectOutput, error) {
					if tt.body < 0 {
						return nil, &types.NoSuchKey{}
					}
					return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(make([]byte, tt.body)))}, nil
				},
			}, s3blob.WithHashFallbackLimit(tt.limit))
			_, err := s.Stat(context.Background(), "chat/im_1")
			if got := core.KindOf(err); err == nil || got != tt.want {
				t.Errorf("Stat = %v (kind %v), want kind %v", err, got, tt.want)
			}
		})
	}
}

func TestDeleteAndPingErrors(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantDelete core.Kind // meaningful when the delete fails
		deleteOK   bool
		wantPing   core.Kind
	}{
		{"no error", nil, 0, true, core.KindInternal},
		{"missing bucket", responseError(404, "NoSuchBucket"), core.KindInternal, false, core.KindInternal},
		{"throttled", responseError(503, "SlowDown"), core.KindUnavailable, false, core.KindUnavailable},
		{"access denied", responseError(403, "AccessDenied"), core.KindInternal, false, core.KindInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeStore(t, &fakeAPI{
				put: func(*s3.PutObjectInput) (*s3.PutObjectOutput, error) { return &s3.PutObjectOutput{}, tt.err },
				headBucket: func(*s3.HeadBucketInput) (*s3.HeadBucketOutput, error) {
					if tt.err == nil {
						return nil, responseError(404, "NoSuchBucket")
					}
					return nil, tt.err
				},
			})
			err := s.Delete(context.Background(), "chat/im_1")
			switch {
			case tt.deleteOK && err != nil:
				t.Errorf("Delete = %v, want nil", err)
			case !tt.deleteOK && core.KindOf(err) != tt.wantDelete:
				t.Errorf("Delete = %v, want kind %v", err, tt.wantDelete)
			}
			if err := s.Ping(context.Background()); err == nil || core.KindOf(err) != tt.wantPing {
				t.Errorf("Ping = %v, want kind %v", err, tt.wantPing)
			}
		})
	}
}

func TestInvalidInput(t *testing.T) {
	s := newFakeStore(t, &fakeAPI{})
	ctx := context.Background()
	sum := make([]byte, 32)
	tests := []struct {
		name string
		call func() error
		want core.Kind
	}{
		{"empty key", func() error { _, err := s.PresignGet(ctx, "", time.Minute); return err }, core.KindInvalid},
		{"key too long", func() error { _, err := s.PresignGet(ctx, strings.Repeat("k", 1025), time.Minute); return err }, core.KindInvalid},
		{"control character", func() error { _, err := s.Stat(ctx, "chat/\n"); return err }, core.KindInvalid},
		{"ttl too short", func() error { _, err := s.PresignGet(ctx, "chat/x", time.Millisecond); return err }, core.KindInvalid},
		{"ttl too long", func() error { _, err := s.PresignGet(ctx, "chat/x", 8*24*time.Hour); return err }, core.KindInvalid},
		{"negative size", func() error { _, err := s.PresignPut(ctx, "chat/x", -1, sum, "image/jpeg", time.Minute); return err }, core.KindInvalid},
		{"too large", func() error {
			_, err := s.PresignPut(ctx, "chat/x", 5<<30+1, sum, "image/jpeg", time.Minute)
			return err
		}, core.KindTooLarge},
		{"short digest", func() error {
			_, err := s.PresignPut(ctx, "chat/x", 1, sum[:31], "image/jpeg", time.Minute)
			return err
		}, core.KindInvalid},
		{"no content type", func() error { _, err := s.PresignPut(ctx, "chat/x", 1, sum, "", time.Minute); return err }, core.KindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); core.KindOf(err) != tt.want || err == nil {
				t.Errorf("error = %v, want kind %v", err, tt.want)
			}
		})
	}
}

// fakeCredentials hands out the credentials in order, then the last one
// forever, and counts the calls.
type fakeCredentials struct {
	mu    sync.Mutex
	creds []aws.Credentials
	calls int
}

func (f *fakeCredentials) Retrieve(context.Context) (aws.Credentials, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.creds[min(f.calls, len(f.creds)-1)]
	f.calls++
	return c, nil
}

// newSigningStore returns a store on a real S3 client and presign client
// (presigning is local: nothing is sent), signing with provider.
func newSigningStore(t *testing.T, provider aws.CredentialsProvider, opts ...s3blob.Option) *s3blob.Store {
	t.Helper()
	client := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://127.0.0.1:1"),
		UsePathStyle: true,
		Credentials:  provider,
	})
	s, err := s3blob.New(client, s3.NewPresignClient(client), "bucket", opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func query(t *testing.T, rawURL string) url.Values {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("parse presigned URL: %v", err)
	}
	return u.Query()
}

func TestPresignPutSignsLengthTypeAndDigest(t *testing.T) {
	s := newSigningStore(t, aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "secret"}, nil
	}))
	data := []byte("0123456789")
	sum := sha256.Sum256(data)
	empty := sha256.Sum256(nil)
	b64 := base64.StdEncoding.EncodeToString
	tests := []struct {
		name          string
		size          int64
		sum           []byte
		signedHeaders string
		headers       map[string]string
	}{
		// If-None-Match: * is signed too: the URL writes once, and not over
		// a deleted key's tombstone.
		{"ten bytes", 10, sum[:], "content-length;content-type;host;if-none-match;x-amz-checksum-sha256", map[string]string{
			"Content-Length":        "10",
			"Content-Type":          "image/jpeg",
			"If-None-Match":         "*",
			"x-amz-checksum-sha256": b64(sum[:]),
		}},
		// SigV4 never signs a zero Content-Length; the digest of the empty
		// string still pins the body.
		{"empty", 0, empty[:], "content-type;host;if-none-match;x-amz-checksum-sha256", map[string]string{
			"Content-Type":          "image/jpeg",
			"If-None-Match":         "*",
			"x-amz-checksum-sha256": b64(empty[:]),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, err := s.PresignPut(context.Background(), "photos/p:1@x/ph_1", tt.size, tt.sum, "image/jpeg", time.Minute)
			if err != nil {
				t.Fatalf("PresignPut = %v", err)
			}
			if up.Method != http.MethodPut {
				t.Errorf("Method = %q, want PUT", up.Method)
			}
			if got := query(t, up.URL).Get("X-Amz-SignedHeaders"); got != tt.signedHeaders {
				t.Errorf("X-Amz-SignedHeaders = %q, want %q", got, tt.signedHeaders)
			}
			if diff := cmp.Diff(tt.headers, up.Headers); diff != "" {
				t.Errorf("Headers mismatch (-want +got):\n%s", diff)
			}
			u, _ := url.Parse(up.URL)
			if want := "/bucket/photos/p:1@x/ph_1"; u.Path != want {
				t.Errorf("URL path = %q, want %q (the key unchanged)", u.Path, want)
			}
		})
	}
}

func TestURLsCappedAtCredentialExpiry(t *testing.T) {
	soon := aws.Credentials{AccessKeyID: "AKIDSOON", SecretAccessKey: "s", CanExpire: true, Expires: time.Now().Add(10 * time.Minute)}
	later := aws.Credentials{AccessKeyID: "AKIDLATER", SecretAccessKey: "s", CanExpire: true, Expires: time.Now().Add(10 * time.Hour)}
	static := aws.Credentials{AccessKeyID: "AKIDSTATIC", SecretAccessKey: "s"}
	tests := []struct {
		name    string
		creds   []aws.Credentials
		ttl     time.Duration
		wantKey string
		// the URL's validity, to the second
		wantSecs int64
	}{
		{"ttl shorter than the credentials", []aws.Credentials{later}, time.Hour, "AKIDLATER", 3600},
		{"capped at expiry less the margin", []aws.Credentials{soon}, time.Hour, "AKIDSOON", int64((10*time.Minute - s3blob.CredentialMargin) / time.Second)},
		// The provider hands out other credentials on its next call: the URL
		// is signed by the ones whose expiry capped it.
		{"signed by the credentials checked", []aws.Credentials{soon, later}, time.Hour, "AKIDSOON", int64((10*time.Minute - s3blob.CredentialMargin) / time.Second)},
		{"credentials that cannot expire", []aws.Credentials{static}, time.Hour, "AKIDSTATIC", 3600},
	}
	for _, tt := range tests {
		for _, method := range []string{http.MethodGet, http.MethodPut} {
			t.Run(tt.name+" "+method, func(t *testing.T) {
				// The client's own provider would sign as AKIDCLIENT; the
				// store's, not wrapped in a cache, changes between calls.
				client := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
					return aws.Credentials{AccessKeyID: "AKIDCLIENT", SecretAccessKey: "s"}, nil
				})
				s := newSigningStore(t, client, s3blob.WithCredentials(&fakeCredentials{creds: tt.creds}))
				before := time.Now()
				var rawURL string
				var exp time.Time
				if method == http.MethodGet {
					u, err := s.PresignGet(context.Background(), "chat/im_1", tt.ttl)
					if err != nil {
						t.Fatalf("PresignGet = %v", err)
					}
					rawURL, exp = u.URL, u.ExpiresAt
				} else {
					sum := sha256.Sum256(nil)
					up, err := s.PresignPut(context.Background(), "chat/im_1", 0, sum[:], "image/jpeg", tt.ttl)
					if err != nil {
						t.Fatalf("PresignPut = %v", err)
					}
					rawURL, exp = up.URL, up.ExpiresAt
				}
				q := query(t, rawURL)
				if got := q.Get("X-Amz-Credential"); !strings.HasPrefix(got, tt.wantKey+"/") {
					t.Errorf("X-Amz-Credential = %q, want signed by %s", got, tt.wantKey)
				}
				// The cap is computed a moment before the signature, so
				// allow one second of drift.
				want := tt.wantSecs
				if got, err := strconv.ParseInt(q.Get("X-Amz-Expires"), 10, 64); err != nil || got > want || got < want-1 {
					t.Errorf("X-Amz-Expires = %q, want %d (or one less)", q.Get("X-Amz-Expires"), want)
				}
				if limit := tt.creds[0].Expires.Add(-s3blob.CredentialMargin); tt.creds[0].CanExpire && exp.After(limit) {
					t.Errorf("ExpiresAt = %v, after the credentials' expiry less the margin %v", exp, limit)
				}
				if lo, hi := before.Add(time.Duration(want-2)*time.Second), time.Now().Add(time.Duration(want)*time.Second); exp.Before(lo) || exp.After(hi) {
					t.Errorf("ExpiresAt = %v, want within [%v, %v]", exp, lo, hi)
				}
			})
		}
	}
}

func TestCredentialsExpiringTooSoon(t *testing.T) {
	creds := aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "s", CanExpire: true, Expires: time.Now().Add(s3blob.CredentialMargin)}
	s := newSigningStore(t, &fakeCredentials{creds: []aws.Credentials{creds}})
	_, err := s.PresignGet(context.Background(), "chat/im_1", time.Hour)
	if !core.IsKind(err, core.KindUnavailable) {
		t.Errorf("PresignGet with credentials expiring within the margin = %v, want KindUnavailable", err)
	}
}

func TestCredentialErrors(t *testing.T) {
	s := newSigningStore(t, aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{}, &net.OpError{Op: "dial", Err: errors.New("connection refused")}
	}))
	_, err := s.PresignGet(context.Background(), "chat/im_1", time.Hour)
	if !core.IsKind(err, core.KindUnavailable) {
		t.Errorf("PresignGet when the credentials cannot be fetched = %v, want KindUnavailable", err)
	}
}

func TestWithCredentialsOverridesClient(t *testing.T) {
	mine := &fakeCredentials{creds: []aws.Credentials{{AccessKeyID: "AKIDMINE", SecretAccessKey: "s"}}}
	s := newSigningStore(t, aws.AnonymousCredentials{}, s3blob.WithCredentials(mine))
	u, err := s.PresignGet(context.Background(), "chat/im_1", time.Minute)
	if err != nil {
		t.Fatalf("PresignGet = %v", err)
	}
	if got := query(t, u.URL).Get("X-Amz-Credential"); !strings.HasPrefix(got, "AKIDMINE/") {
		t.Errorf("X-Amz-Credential = %q, want signed by AKIDMINE", got)
	}
}

func TestDeleteWritesATombstoneThatStatHides(t *testing.T) {
	var got *s3.PutObjectInput
	s := newFakeStore(t, &fakeAPI{
		put: func(in *s3.PutObjectInput) (*s3.PutObjectOutput, error) { got = in; return &s3.PutObjectOutput{}, nil },
		head: func(*s3.HeadObjectInput) (*s3.HeadObjectOutput, error) {
			return &s3.HeadObjectOutput{ContentLength: aws.Int64(0), Metadata: map[string]string{"medshare-tombstone": "1"}}, nil
		},
	})
	if err := s.Delete(context.Background(), "photos/p/ph_1"); err != nil {
		t.Fatalf("Delete = %v", err)
	}
	if got == nil {
		t.Fatal("Delete made no PutObject")
	}
	if aws.ToString(got.Key) != "photos/p/ph_1" || aws.ToInt64(got.ContentLength) != 0 || got.IfNoneMatch != nil {
		t.Errorf("tombstone PutObject: key %q, length %d, If-None-Match %v; want the key, 0 bytes, unconditional",
			aws.ToString(got.Key), aws.ToInt64(got.ContentLength), got.IfNoneMatch)
	}
	if diff := cmp.Diff(map[string]string{s3blob.TombstoneMetadata: "1"}, got.Metadata); diff != "" {
		t.Errorf("tombstone metadata mismatch (-want +got):\n%s", diff)
	}
	if info, err := s.Stat(context.Background(), "photos/p/ph_1"); !core.IsKind(err, core.KindNotFound) {
		t.Errorf("Stat of a tombstone = %+v, %v; want KindNotFound", info, err)
	}
}
