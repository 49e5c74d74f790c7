package s3presign_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

	"github.com/medshare/medshare/shared/blob/s3presign"
	"github.com/medshare/medshare/shared/core"
)

var static = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", SessionToken: "token", Source: "test"}, nil
})

// sdkURL presigns a GET as s3blob does, with the SDK's S3 client.
func sdkURL(t *testing.T, region string, endpoint *string, pathStyle bool, bucket, key string, ttl time.Duration) string {
	t.Helper()
	client := s3.New(s3.Options{Region: region, Credentials: static, BaseEndpoint: endpoint, UsePathStyle: pathStyle})
	req, err := s3.NewPresignClient(client).PresignGetObject(context.Background(),
		&s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}, s3.WithPresignExpires(ttl))
	if err != nil {
		t.Fatalf("SDK presign: %v", err)
	}
	return req.URL
}

// TestSameURLAsTheSDK: for the same credentials, second and request, the
// URL is the SDK's presign client's, byte for byte (so its signature too):
// in the commercial, China and GovCloud partitions, virtual-hosted and in
// path style, on an emulator's endpoint, for a bucket that is no DNS label,
// and for keys that need escaping.
func TestSameURLAsTheSDK(t *testing.T) {
	emulator := aws.String("http://127.0.0.1:7070")
	for _, c := range []struct {
		name, region string
		endpoint     *string
		pathStyle    bool
		bucket, key  string
	}{
		{"virtual-hosted", "eu-west-3", nil, false, "medshare-photos-1a2b", "photos/pat_1/ph_1"},
		{"us-east-1", "us-east-1", nil, false, "medshare-photos-1a2b", "chat/im_1"},
		{"China", "cn-north-1", nil, false, "medshare-photos-1a2b", "chat/im_1"},
		{"GovCloud", "us-gov-west-1", nil, false, "medshare-photos-1a2b", "chat/im_1"},
		{"path style", "eu-west-3", nil, true, "medshare-photos-1a2b", "chat/im_1"},
		{"bucket with dots", "eu-west-3", nil, false, "medshare.photos", "chat/im_1"},
		{"bucket with upper case", "eu-west-3", nil, false, "MedShare", "chat/im_1"},
		{"emulator, path style", "us-east-1", emulator, true, "medshare-test-1", "photos/p:1@x/ph_1"},
		{"emulator on an IP address, virtual-hosted", "us-east-1", emulator, false, "medshare-test-1", "chat/im_1"},
		{"emulator on a name, virtual-hosted", "us-east-1", aws.String("http://localhost:7070"), false, "medshare-test-1", "chat/im_1"},
		{"IPv6 endpoint", "us-east-1", aws.String("http://[::1]:7070"), false, "medshare-test-1", "chat/im_1"},
		{"endpoint with a path", "us-east-1", aws.String("https://s3.example.com/prefix/"), true, "b-1", "chat/im_1"},
		{"key to escape", "eu-west-3", nil, false, "medshare-photos-1a2b", "chat/a b+c%d/é~!*'()=&?#[]"},
		{"key with slashes", "eu-west-3", nil, true, "medshare-photos-1a2b", "/chat//im_1/"},
	} {
		t.Run(c.name, func(t *testing.T) {
			const ttl = 15 * time.Minute
			want := sdkURL(t, c.region, c.endpoint, c.pathStyle, c.bucket, c.key, ttl)
			u, err := url.Parse(want)
			if err != nil {
				t.Fatal(err)
			}
			at, err := time.Parse("20060102T150405Z", u.Query().Get("X-Amz-Date"))
			if err != nil {
				t.Fatalf("SDK URL without X-Amz-Date: %v", err)
			}
			s, err := s3presign.New(s3presign.Config{Bucket: c.bucket, Region: c.region, Endpoint: c.endpoint, PathStyle: c.pathStyle,
				Credentials: static, Now: func() time.Time { return at }})
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.PresignGet(context.Background(), c.key, ttl)
			if err != nil {
				t.Fatal(err)
			}
			if got.URL != want {
				t.Errorf("URL\n got  %s\n want %s", got.URL, want)
			}
			if want := at.Add(ttl); !got.ExpiresAt.Equal(want) {
				t.Errorf("ExpiresAt %v, want %v", got.ExpiresAt, want)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  s3presign.Config
	}{
		{"no bucket", s3presign.Config{Region: "eu-west-3", Credentials: static}},
		{"no region", s3presign.Config{Bucket: "b-1", Credentials: static}},
		{"no credentials", s3presign.Config{Bucket: "b-1", Region: "eu-west-3"}},
		{"relative endpoint", s3presign.Config{Bucket: "b-1", Region: "eu-west-3", Credentials: static, Endpoint: aws.String("localhost:7070")}},
		{"isolated partition", s3presign.Config{Bucket: "b-1", Region: "us-iso-east-1", Credentials: static}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := s3presign.New(c.cfg); err == nil {
				t.Error("New accepted it")
			}
		})
	}
}

// TestURLsCappedAtCredentialExpiry: a URL never outlives the credentials
// that sign it, less the margin; credentials that expire too soon, or that
// cannot be had, sign nothing.
func TestURLsCappedAtCredentialExpiry(t *testing.T) {
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	expiring := func(in time.Duration) aws.CredentialsProvider {
		return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "s", CanExpire: true, Expires: now.Add(in)}, nil
		})
	}
	newSigner := func(p aws.CredentialsProvider) *s3presign.Signer {
		s, err := s3presign.New(s3presign.Config{Bucket: "b-1", Region: "eu-west-3", Credentials: p, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, c := range []struct {
		name    string
		left    time.Duration
		ttl     time.Duration
		want    time.Time
		refused bool // unavailable
	}{
		{"far from expiry", 6 * time.Hour, time.Hour, now.Add(time.Hour), false},
		{"capped", 20 * time.Minute, time.Hour, now.Add(19 * time.Minute), false},
		{"too soon", s3presign.CredentialMargin + time.Second/2, time.Hour, time.Time{}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := newSigner(expiring(c.left)).PresignGet(context.Background(), "chat/im_1", c.ttl)
			if c.refused {
				if !core.IsKind(err, core.KindUnavailable) {
					t.Fatalf("got %v, want unavailable", err)
				}
				return
			}
			if err != nil || !got.ExpiresAt.Equal(c.want) {
				t.Errorf("got %v, %v; want expiry %v", got.ExpiresAt, err, c.want)
			}
		})
	}
	t.Run("credentials unavailable", func(t *testing.T) {
		failing := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{}, errors.New("endpoint down")
		})
		if _, err := newSigner(failing).PresignGet(context.Background(), "chat/im_1", time.Hour); err == nil || core.IsKind(err, core.KindInvalid) {
			t.Errorf("got %v, want a server-side error", err)
		}
	})
}

func TestInvalidInput(t *testing.T) {
	s, err := s3presign.New(s3presign.Config{Bucket: "b-1", Region: "eu-west-3", Credentials: static})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		key  string
		ttl  time.Duration
	}{
		{"empty key", "", time.Minute},
		{"key too long", strings.Repeat("k", s3presign.MaxKeyLen+1), time.Minute},
		{"control character", "chat/a\nb", time.Minute},
		{"invalid UTF-8", "chat/\xff", time.Minute},
		{"ttl too short", "chat/x", time.Millisecond},
		{"ttl too long", "chat/x", 8 * 24 * time.Hour},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := s.PresignGet(context.Background(), c.key, c.ttl); !core.IsKind(err, core.KindInvalid) {
				t.Errorf("got %v, want invalid", err)
			}
		})
	}
}

// TestOtherMethodsNotLinked: the blob methods a presign-only function does
// not link fail with an internal error, never a nil dereference.
func TestOtherMethodsNotLinked(t *testing.T) {
	s, err := s3presign.New(s3presign.Config{Bucket: "b-1", Region: "eu-west-3", Credentials: static})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, errPut := s.PresignPut(ctx, "chat/x", 1, make([]byte, 32), "image/jpeg", time.Minute)
	_, errStat := s.Stat(ctx, "chat/x")
	for name, err := range map[string]error{"PresignPut": errPut, "Stat": errStat, "Ping": s.Ping(ctx)} {
		if !core.IsKind(err, core.KindInternal) {
			t.Errorf("%s: got %v, want internal", name, err)
		}
	}
}

// recorder is an APIOptions middleware that appends each call's
// "service.operation bucket/key" to seen, as the IAM test reads a call,
// and fails the call of key refuse.
func recorder(seen *[]string, refuse string) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("record",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				var bucket, key string
				switch p := in.Parameters.(type) {
				case *s3presign.GetObject:
					bucket, key = p.Bucket, p.Key
				case *s3presign.PutObject:
					bucket, key = p.Bucket, p.Key
				default:
					return middleware.InitializeOutput{}, middleware.Metadata{}, fmt.Errorf("unexpected input %T", p)
				}
				*seen = append(*seen, awsmiddleware.GetServiceID(ctx)+"."+awsmiddleware.GetOperationName(ctx)+" "+bucket+"/"+key)
				if key == refuse {
					return middleware.InitializeOutput{}, middleware.Metadata{}, errors.New("refused")
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	}
}

// TestMiddlewareSeesThePresign: APIOptions see each presign as the SDK's
// clients show a call (service S3, operation GetObject, the bucket and
// key), which is how the IAM test records it; an error there stops it.
func TestMiddlewareSeesThePresign(t *testing.T) {
	var seen []string
	record := recorder(&seen, "chat/refused")
	s, err := s3presign.New(s3presign.Config{Bucket: "b-1", Region: "eu-west-3", Credentials: static,
		APIOptions: []func(*middleware.Stack) error{record}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PresignGet(context.Background(), "chat/im_1", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PresignGet(context.Background(), "chat/refused", time.Minute); err == nil {
		t.Error("a middleware's error did not stop the presign")
	}
	if want := []string{"S3.GetObject b-1/chat/im_1", "S3.GetObject b-1/chat/refused"}; strings.Join(seen, "|") != strings.Join(want, "|") {
		t.Errorf("seen %q, want %q", seen, want)
	}
}

// TestDeleteRequest: Delete sends one PUT of an empty body to the key's
// path with the tombstone's metadata, signed (the metadata among the
// signed headers), seen by APIOptions as S3.PutObject; S3's transient
// answers are retried and its final ones are not, each with its kind.
func TestDeleteRequest(t *testing.T) {
	type answer struct {
		status int
		code   string
	}
	for _, c := range []struct {
		name     string
		answers  []answer // in turn; the last repeats
		fails    bool
		wantKind core.Kind // when it fails
		wantPuts int
	}{
		{"written", []answer{{200, ""}}, false, 0, 1},
		{"throttled, then written", []answer{{503, "SlowDown"}, {500, "InternalError"}, {200, ""}}, false, 0, 3},
		{"throttled past the retries", []answer{{503, "SlowDown"}}, true, core.KindUnavailable, 3},
		{"denied", []answer{{403, "AccessDenied"}}, true, core.KindInternal, 1},
		{"no bucket", []answer{{404, "NoSuchBucket"}}, true, core.KindInternal, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			var mu sync.Mutex
			var puts []*http.Request
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				n := len(puts)
				puts = append(puts, r)
				mu.Unlock()
				if r.Method != http.MethodPut || len(body) != 0 {
					t.Errorf("request %s with %d bytes, want an empty PUT", r.Method, len(body))
				}
				a := c.answers[min(n, len(c.answers)-1)]
				if a.code != "" {
					w.WriteHeader(a.status)
					fmt.Fprintf(w, "<Error><Code>%s</Code><Message>no</Message></Error>", a.code)
				}
			}))
			defer srv.Close()
			var seen []string
			record := recorder(&seen, "")
			s, err := s3presign.New(s3presign.Config{Bucket: "b-1", Region: "eu-west-3", Credentials: static, Endpoint: aws.String(srv.URL),
				APIOptions: []func(*middleware.Stack) error{record}, HTTPClient: srv.Client(),
				Retryer: func() aws.Retryer {
					return retry.NewStandard(func(o *retry.StandardOptions) {
						o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
					})
				}})
			if err != nil {
				t.Fatal(err)
			}
			err = s.Delete(context.Background(), "photos/p_1/ph 1")
			switch {
			case !c.fails && err != nil:
				t.Errorf("delete: %v", err)
			case c.fails && !core.IsKind(err, c.wantKind):
				t.Errorf("delete: %v, want kind %v", err, c.wantKind)
			}
			if len(puts) != c.wantPuts {
				t.Fatalf("%d requests, want %d", len(puts), c.wantPuts)
			}
			r := puts[0]
			if r.URL.EscapedPath() != "/b-1/photos/p_1/ph%201" || r.Header.Get("X-Amz-Meta-Medshare-Tombstone") != "1" {
				t.Errorf("PUT %s with tombstone metadata %q", r.URL.EscapedPath(), r.Header.Get("X-Amz-Meta-Medshare-Tombstone"))
			}
			if auth := r.Header.Get("Authorization"); !strings.Contains(auth, "x-amz-meta-medshare-tombstone") || !strings.Contains(auth, "Credential=AKIDEXAMPLE/") {
				t.Errorf("Authorization %q does not sign the metadata with the credentials", auth)
			}
			if want := []string{"S3.PutObject b-1/photos/p_1/ph 1"}; !slices.Equal(seen, want) {
				t.Errorf("middleware saw %q, want %q", seen, want)
			}
		})
	}
}
