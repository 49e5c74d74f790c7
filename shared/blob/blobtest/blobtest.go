// Package blobtest is the contract suite for core.Blobs. Every implementation
// runs it: the local blob directory in every go test, the S3 adapter against
// the emulator. It follows the presigned URLs with real HTTP requests, sending
// exactly the method, URL and headers an implementation returns, as a client
// app does.
package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
)

// Harness describes the implementation under test.
type Harness struct {
	// New returns the store to test. It is called once per subtest, possibly
	// from parallel subtests; stores it returns may share a backend (a bucket)
	// because the suite uses fresh random keys.
	New func(t *testing.T) core.Blobs
	// Client is the HTTP client used to follow presigned URLs (nil =
	// http.DefaultClient).
	Client *http.Client
}

// ttl is the validity of every URL the suite uses, except the expiry checks.
const ttl = 5 * time.Minute

// contentType is the type every upload declares, the one of encrypted photos.
const contentType = core.CiphertextContentType

// Run runs the contract suite. Its subtests run in parallel, so that the
// expiry checks, which must wait for URLs to expire, do not add up; Run
// returns when all of them are done.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("blobtest: Harness.New is nil")
	}
	if h.Client == nil {
		h.Client = http.DefaultClient
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness, b core.Blobs)
	}{
		{"Ping", testPing},
		{"PutThenStat", testPutThenStat},
		{"PutThenGet", testPutThenGet},
		{"KeyWithExternalIDCharacters", testExternalIDKey},
		{"WriteOnce", testWriteOnce},
		{"RejectedUploads", testRejectedUploads},
		{"TamperedGet", testTamperedGet},
		{"Expired", testExpired},
		{"StatMissing", testStatMissing},
		{"Delete", testDelete},
		{"UploadAfterDelete", testUploadAfterDelete},
		{"ExpiresAt", testExpiresAt},
	}
	// The wrapping t.Run waits for the parallel subtests, so that callers may
	// release what New depends on as soon as Run returns.
	t.Run("Blobs", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				tt.fn(t, h, h.New(t))
			})
		}
	})
}

// newKey returns a fresh object key shaped like the ones the core uses.
func newKey(prefix string) string {
	return prefix + "/" + core.NewID("ph")
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("read random bytes: %v", err)
	}
	return b
}

func digest(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// response is what the suite keeps of an HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) String() string {
	if r.status/100 == 2 {
		// An object's bytes tell nothing; their length does.
		return fmt.Sprintf("status %d, %d bytes", r.status, len(r.body))
	}
	body := r.body
	if len(body) > 200 {
		body = body[:200]
	}
	return fmt.Sprintf("status %d, body %q", r.status, body)
}

func (r response) is4xx() bool { return r.status >= 400 && r.status < 500 }

// do sends one request. headers are set exactly as given; a Host or
// Content-Length entry is applied to the request's own fields, since Go's
// client ignores them in the header map. The body's real length is always what
// is sent.
func (h Harness) do(t *testing.T, method, rawURL string, headers map[string]string, body []byte) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		t.Fatalf("build %s request: %v", method, err)
	}
	req.ContentLength = int64(len(body))
	for k, v := range headers {
		switch {
		case strings.EqualFold(k, "Host"):
			req.Host = v
		case strings.EqualFold(k, "Content-Length"):
			// Checked by the caller against the body; the client sets it.
		default:
			req.Header.Set(k, v)
		}
	}
	resp, err := h.Client.Do(req)
	if err != nil {
		t.Fatalf("%s request: %v", method, redact(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s response: %v", method, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// redact drops the URL from a client error: test logs are logs, and signed
// URLs are kept out of logs.
func redact(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

func presignPut(t *testing.T, b core.Blobs, key string, data []byte, ttl time.Duration) core.Upload {
	t.Helper()
	up, err := b.PresignPut(context.Background(), key, int64(len(data)), digest(data), contentType, ttl)
	if err != nil {
		t.Fatalf("PresignPut(%s) = %v", key, err)
	}
	if up.Method == "" || up.URL == "" {
		t.Fatalf("PresignPut(%s) returned method %q and URL of %d bytes, want both set", key, up.Method, len(up.URL))
	}
	if v, ok := header(up.Headers, "Content-Length"); ok && v != strconv.Itoa(len(data)) {
		t.Fatalf("PresignPut(%s) asks for Content-Length %s, want %d", key, v, len(data))
	}
	return up
}

// header looks name up case-insensitively.
func header(headers map[string]string, name string) (string, bool) {
	for k, v := range headers {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// put uploads data to key and fails the test unless the store accepts it.
func put(t *testing.T, h Harness, b core.Blobs, key string, data []byte) {
	t.Helper()
	up := presignPut(t, b, key, data, ttl)
	if r := h.do(t, up.Method, up.URL, up.Headers, data); r.status/100 != 2 {
		t.Fatalf("upload of %d bytes to %s: %v, want 2xx", len(data), key, r)
	}
}

func presignGet(t *testing.T, b core.Blobs, key string, ttl time.Duration) core.SignedURL {
	t.Helper()
	u, err := b.PresignGet(context.Background(), key, ttl)
	if err != nil {
		t.Fatalf("PresignGet(%s) = %v", key, err)
	}
	if u.URL == "" {
		t.Fatalf("PresignGet(%s) returned an empty URL", key)
	}
	return u
}

// get reads key through a fresh presigned URL.
func get(t *testing.T, h Harness, b core.Blobs, key string) response {
	t.Helper()
	return h.do(t, http.MethodGet, presignGet(t, b, key, ttl).URL, nil, nil)
}

func checkStat(t *testing.T, b core.Blobs, key string, want []byte) {
	t.Helper()
	got, err := b.Stat(context.Background(), key)
	if err != nil {
		t.Fatalf("Stat(%s) = %v", key, err)
	}
	if diff := cmp.Diff(core.BlobInfo{Size: int64(len(want)), SHA256: digest(want)}, got); diff != "" {
		t.Errorf("Stat(%s) mismatch (-want +got):\n%s", key, diff)
	}
}

func checkNotFound(t *testing.T, b core.Blobs, key string) {
	t.Helper()
	info, err := b.Stat(context.Background(), key)
	if !core.IsKind(err, core.KindNotFound) {
		t.Errorf("Stat(%s) = %+v, %v; want KindNotFound", key, info, err)
	}
}

func checkGet(t *testing.T, h Harness, b core.Blobs, key string, want []byte) {
	t.Helper()
	r := get(t, h, b, key)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %v, want 200", key, r)
	}
	if !bytes.Equal(r.body, want) {
		t.Errorf("GET %s returned %d bytes (sha256 %x), want %d bytes (sha256 %x)", key, len(r.body), digest(r.body), len(want), digest(want))
	}
}

func testPing(t *testing.T, _ Harness, b core.Blobs) {
	if err := b.Ping(context.Background()); err != nil {
		t.Fatalf("Ping() = %v, want nil", err)
	}
}

func testPutThenStat(t *testing.T, h Harness, b core.Blobs) {
	key := newKey("photos/patient-1")
	data := randomBytes(t, 64<<10+3)
	put(t, h, b, key, data)
	checkStat(t, b, key, data)
}

func testPutThenGet(t *testing.T, h Harness, b core.Blobs) {
	key := newKey("photos/patient-1")
	// Over a megabyte, so that the body is streamed in many reads.
	data := randomBytes(t, 1<<20+7)
	put(t, h, b, key, data)
	checkGet(t, h, b, key, data)
	// A URL may be used more than once before it expires.
	checkGet(t, h, b, key, data)
}

// testExternalIDKey uses a key holding characters that core.ValidExternalID
// allows in owner ids, which core.PhotoObjectKey puts in keys.
func testExternalIDKey(t *testing.T, h Harness, b core.Blobs) {
	key := newKey("photos/Dr.Who_2:x@example.org")
	data := randomBytes(t, 100)
	put(t, h, b, key, data)
	checkStat(t, b, key, data)
	checkGet(t, h, b, key, data)
}

// testWriteOnce checks that a key is written once: a second upload, with
// the same URL (a client's retry) or a fresh one, is refused and the first
// object stays. This is what lets Delete refuse every later upload.
func testWriteOnce(t *testing.T, h Harness, b core.Blobs) {
	key := newKey("chat")
	first, second := randomBytes(t, 1000), randomBytes(t, 500)
	up := presignPut(t, b, key, first, ttl)
	if r := h.do(t, up.Method, up.URL, up.Headers, first); r.status/100 != 2 {
		t.Fatalf("first upload: %v, want 2xx", r)
	}
	if r := h.do(t, up.Method, up.URL, up.Headers, first); !r.is4xx() {
		t.Errorf("the same upload again: %v, want 4xx", r)
	}
	again := presignPut(t, b, key, second, ttl)
	if r := h.do(t, again.Method, again.URL, again.Headers, second); !r.is4xx() {
		t.Errorf("an upload of other bytes with a fresh URL: %v, want 4xx", r)
	}
	checkStat(t, b, key, first)
	checkGet(t, h, b, key, first)
}

func testRejectedUploads(t *testing.T, h Harness, b core.Blobs) {
	data := randomBytes(t, 1000)
	same := bytes.Clone(data)
	same[500] ^= 0xff
	tests := []struct {
		name        string
		body        []byte
		contentType string
	}{
		{"one byte more", append(bytes.Clone(data), 0), contentType},
		{"one byte less", data[:len(data)-1], contentType},
		{"same length other bytes", same, contentType},
		{"empty body", []byte{}, contentType},
		{"other content type", data, "text/plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := newKey("photos/patient-1")
			up := presignPut(t, b, key, data, ttl)
			headers := make(map[string]string, len(up.Headers)+1)
			replaced := false
			for k, v := range up.Headers {
				if strings.EqualFold(k, "Content-Type") {
					v, replaced = tt.contentType, true
				}
				headers[k] = v
			}
			if !replaced {
				headers["Content-Type"] = tt.contentType
			}
			if r := h.do(t, up.Method, up.URL, headers, tt.body); !r.is4xx() {
				t.Errorf("upload: %v, want 4xx", r)
			}
			checkNotFound(t, b, key)
			if r := get(t, h, b, key); !r.is4xx() {
				t.Errorf("GET after a rejected upload: %v, want 4xx", r)
			}
		})
	}
}

func testTamperedGet(t *testing.T, h Harness, b core.Blobs) {
	// Two objects whose keys differ in their last segment only, so that
	// changing the path of one URL names the other, existing, object.
	key, other := newKey("photos/patient-1"), newKey("photos/patient-1")
	data, otherData := randomBytes(t, 300), randomBytes(t, 300)
	put(t, h, b, key, data)
	put(t, h, b, other, otherData)
	signed := presignGet(t, b, key, ttl)
	checkGet(t, h, b, key, data)

	base, err := url.Parse(signed.URL)
	if err != nil {
		t.Fatalf("parse presigned URL: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(t *testing.T, u *url.URL)
	}{
		{"signature altered", func(t *testing.T, u *url.URL) {
			q := u.Query()
			name := ""
			for k := range q {
				if strings.Contains(strings.ToLower(k), "signature") {
					name = k
				}
			}
			if name == "" {
				t.Fatalf("no signature parameter in the query of the presigned URL (parameters %v)", paramNames(q))
			}
			sig := []byte(q.Get(name))
			if len(sig) == 0 {
				t.Fatalf("empty %s parameter", name)
			}
			// Hex and base64 both hold '0' and '1'.
			if sig[0] == '0' {
				sig[0] = '1'
			} else {
				sig[0] = '0'
			}
			q.Set(name, string(sig))
			u.RawQuery = q.Encode()
		}},
		{"query stripped", func(t *testing.T, u *url.URL) { u.RawQuery = "" }},
		{"key changed", func(t *testing.T, u *url.URL) {
			from, to := key[strings.LastIndex(key, "/")+1:], other[strings.LastIndex(other, "/")+1:]
			if !strings.Contains(u.Path, from) {
				t.Fatalf("the presigned URL's path does not hold the key's last segment %q", from)
			}
			u.Path = strings.Replace(u.Path, from, to, 1)
			u.RawPath = ""
		}},
		{"key extended", func(t *testing.T, u *url.URL) { u.Path += "x"; u.RawPath = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := *base
			tt.mutate(t, &u)
			r := h.do(t, http.MethodGet, u.String(), nil, nil)
			if !r.is4xx() {
				t.Errorf("GET: %v, want 4xx", r)
			}
			if bytes.Contains(r.body, data) || bytes.Contains(r.body, otherData) {
				t.Errorf("rejected GET returned an object's bytes")
			}
		})
	}
}

func paramNames(q url.Values) []string {
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	return names
}

// testExpired checks GET and PUT URLs past their expiry, with one shared
// sleep.
func testExpired(t *testing.T, h Harness, b core.Blobs) {
	const short = time.Second
	getKey, putKey := newKey("chat"), newKey("chat")
	data := randomBytes(t, 200)
	put(t, h, b, getKey, data)

	start := time.Now()
	getURL := presignGet(t, b, getKey, short)
	up := presignPut(t, b, putKey, data, short)
	// Expiry is checked to the second by S3; 1.1 s past the ttl is past it
	// whatever the rounding.
	time.Sleep(time.Until(start.Add(short + 1100*time.Millisecond)))

	if r := h.do(t, http.MethodGet, getURL.URL, nil, nil); !r.is4xx() {
		t.Errorf("GET with an expired URL: %v, want 4xx", r)
	}
	if r := h.do(t, up.Method, up.URL, up.Headers, data); !r.is4xx() {
		t.Errorf("upload with an expired URL: %v, want 4xx", r)
	}
	checkNotFound(t, b, putKey)
	// The object itself is still there.
	checkGet(t, h, b, getKey, data)
}

func testStatMissing(t *testing.T, h Harness, b core.Blobs) {
	checkNotFound(t, b, newKey("photos/patient-1"))
	if r := get(t, h, b, newKey("photos/patient-1")); !r.is4xx() {
		t.Errorf("GET of a missing object: %v, want 4xx", r)
	}
}

func testDelete(t *testing.T, h Harness, b core.Blobs) {
	ctx := context.Background()
	key := newKey("photos/patient-1")
	data := randomBytes(t, 300)
	put(t, h, b, key, data)
	// A URL signed before the delete reads nothing after it.
	before := presignGet(t, b, key, ttl)
	if err := b.Delete(ctx, key); err != nil {
		t.Fatalf("Delete(%s) = %v, want nil", key, err)
	}
	checkNotFound(t, b, key)
	checkNothingOf(t, "GET after Delete with a fresh URL", get(t, h, b, key), data)
	checkNothingOf(t, "GET after Delete with a URL signed before", h.do(t, http.MethodGet, before.URL, nil, nil), data)
	if err := b.Delete(ctx, key); err != nil {
		t.Errorf("second Delete(%s) = %v, want nil", key, err)
	}
	if err := b.Delete(ctx, newKey("photos/patient-1")); err != nil {
		t.Errorf("Delete of a key never written = %v, want nil", err)
	}
}

// checkNothingOf fails unless r carries none of data: a 4xx, or (S3, where a
// deleted key holds an empty tombstone) a 2xx with an empty body.
func checkNothingOf(t *testing.T, what string, r response, data []byte) {
	t.Helper()
	switch {
	case r.is4xx():
	case r.status/100 == 2 && len(r.body) == 0:
	default:
		t.Errorf("%s: %v, want 4xx or an empty body", what, r)
	}
	if len(data) > 0 && bytes.Contains(r.body, data) {
		t.Errorf("%s returned the deleted object's bytes", what)
	}
}

// testUploadAfterDelete checks that once a key is deleted no upload to it
// succeeds: not with a URL signed before the delete (a deleted photo's
// upload URL, whether or not it was used), and not with a fresh one. The
// key stays absent.
func testUploadAfterDelete(t *testing.T, h Harness, b core.Blobs) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		uploaded bool // the object was uploaded before the delete
	}{
		{"never uploaded", false},
		{"uploaded", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := newKey("photos/patient-1")
			data := randomBytes(t, 400)
			up := presignPut(t, b, key, data, ttl)
			if tc.uploaded {
				if r := h.do(t, up.Method, up.URL, up.Headers, data); r.status/100 != 2 {
					t.Fatalf("upload before the delete: %v, want 2xx", r)
				}
			}
			if err := b.Delete(ctx, key); err != nil {
				t.Fatalf("Delete(%s) = %v, want nil", key, err)
			}
			if r := h.do(t, up.Method, up.URL, up.Headers, data); !r.is4xx() {
				t.Errorf("upload with the URL signed before the delete: %v, want 4xx", r)
			}
			fresh := presignPut(t, b, key, data, ttl)
			if r := h.do(t, fresh.Method, fresh.URL, fresh.Headers, data); !r.is4xx() {
				t.Errorf("upload with a URL signed after the delete: %v, want 4xx", r)
			}
			checkNotFound(t, b, key)
			checkNothingOf(t, "GET after the refused uploads", get(t, h, b, key), data)
			if err := b.Delete(ctx, key); err != nil {
				t.Errorf("Delete(%s) again = %v, want nil", key, err)
			}
		})
	}
}

// testExpiresAt checks that the expiry a store reports is now+ttl, give or take
// a rounding to the second, and never later: a URL may not outlive what
// granted it (ARCHITECTURE §2.6).
func testExpiresAt(t *testing.T, _ Harness, b core.Blobs) {
	const ttl = 10 * time.Minute
	ctx := context.Background()
	data := randomBytes(t, 10)
	check := func(what string, got time.Time, before, after time.Time) {
		t.Helper()
		lo, hi := before.Add(ttl-2*time.Second), after.Add(ttl)
		if got.Before(lo) || got.After(hi) {
			t.Errorf("%s ExpiresAt = %v, want within [%v, %v] (now+ttl)", what, got, lo, hi)
		}
	}
	before := time.Now()
	up, err := b.PresignPut(ctx, newKey("chat"), int64(len(data)), digest(data), contentType, ttl)
	after := time.Now()
	if err != nil {
		t.Fatalf("PresignPut = %v", err)
	}
	check("Upload", up.ExpiresAt, before, after)

	before = time.Now()
	u, err := b.PresignGet(ctx, newKey("chat"), ttl)
	after = time.Now()
	if err != nil {
		t.Fatalf("PresignGet = %v", err)
	}
	check("SignedURL", u.ExpiresAt, before, after)
}
