package localblob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/blob/blobtest"
	"github.com/medshare/medshare/shared/blob/localblob"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/testclock"
	"github.com/medshare/medshare/shared/httpapi/wire"
)

var testSecret = bytes.Repeat([]byte("s"), 32)

// newServer starts a store behind a real HTTP server at /blobs. The listener
// exists before the store, so the store knows its base URL.
func newServer(t *testing.T, opts ...localblob.Option) (*localblob.Store, *httptest.Server, string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	root := t.TempDir()
	store, err := localblob.New(root, "http://"+srv.Listener.Addr().String()+"/blobs", testSecret, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/blobs/", store.Handler())
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return store, srv, root
}

func TestContract(t *testing.T) {
	blobtest.Run(t, blobtest.Harness{
		New: func(t *testing.T) core.Blobs {
			store, _, _ := newServer(t)
			return store
		},
	})
}

func digest(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// serve sends one request straight to the handler, so that the path reaches
// it exactly as written (no client or mux cleans it).
func serve(t *testing.T, h http.Handler, method, target string, headers map[string]string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// checkError checks an error response's status and JSON body.
func checkError(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status = %d, want %d (body %s)", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type = %q, want application/json", ct)
	}
	var body wire.Error
	dec := json.NewDecoder(rec.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("decode error body: %v", err)
	}
	if body.Error.Code != code {
		t.Errorf("error code = %q, want %q", body.Error.Code, code)
	}
	if body.Error.Message == "" {
		t.Errorf("error message is empty")
	}
	if id := rec.Header().Get("X-Request-Id"); body.Error.RequestID == "" || body.Error.RequestID != id {
		t.Errorf("request_id %q in the body, X-Request-Id %q", body.Error.RequestID, id)
	}
	if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
	}
}

// newStore returns a store for handler-level tests, whose base URL is
// http://blobs.test/blobs, with a settable clock.
func newStore(t *testing.T) (*localblob.Store, *testclock.Clock, string) {
	t.Helper()
	clock := testclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	root := t.TempDir()
	s, err := localblob.New(root, "http://blobs.test/blobs/", testSecret, localblob.WithClock(clock.Now))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, clock, root
}

// target returns the path and query of a presigned URL.
func target(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse url: %v", err)
	}
	return u.RequestURI()
}

func upload(t *testing.T, s *localblob.Store, key string, data []byte) {
	t.Helper()
	up, err := s.PresignPut(context.Background(), key, int64(len(data)), digest(data), "image/png", time.Minute)
	if err != nil {
		t.Fatalf("PresignPut(%s): %v", key, err)
	}
	if rec := serve(t, s.Handler(), up.Method, target(t, up.URL), up.Headers, data); rec.Code != http.StatusOK {
		t.Fatalf("upload %s: status %d, body %s", key, rec.Code, rec.Body)
	}
}

func TestPathTraversal(t *testing.T) {
	s, _, root := newStore(t)
	// Something worth stealing next to the root.
	if err := os.WriteFile(filepath.Join(filepath.Dir(root), "secret.txt"), []byte("top secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	upload(t, s, "photos/p1/ph_1", []byte("ciphertext"))
	signed, err := s.PresignGet(context.Background(), "photos/p1/ph_1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	query := "?" + strings.SplitN(signed.URL, "?", 2)[1]

	tests := []struct {
		name string
		path string
	}{
		{"dot dot", "/blobs/../secret.txt"},
		{"dot dot inside", "/blobs/photos/p1/../../../secret.txt"},
		{"encoded dot dot", "/blobs/%2e%2e/secret.txt"},
		{"encoded dot dot upper", "/blobs/photos/%2E%2E/%2E%2E/secret.txt"},
		{"encoded slashes", "/blobs/..%2f..%2fsecret.txt"},
		{"dot segment", "/blobs/photos/./p1/ph_1"},
		{"absolute", "/blobs//etc/passwd"},
		{"trailing slash", "/blobs/photos/p1/"},
		{"backslash", "/blobs/..%5csecret.txt"},
		{"nul byte", "/blobs/photos%00/p1"},
		{"space", "/blobs/photos%20/p1"},
		{"empty key", "/blobs/"},
	}
	for _, tt := range tests {
		for _, method := range []string{http.MethodGet, http.MethodPut} {
			t.Run(tt.name+" "+method, func(t *testing.T) {
				rec := serve(t, s.Handler(), method, tt.path+query, nil, nil)
				checkError(t, rec, http.StatusBadRequest, core.CodeInvalid)
			})
		}
	}

	for _, key := range []string{"../secret.txt", "/etc/passwd", "a/../b", "a//b", "a/./b", "a b", "a\\b", "", strings.Repeat("a", localblob.MaxKeyLen+1)} {
		ctx := context.Background()
		if _, err := s.PresignGet(ctx, key, time.Minute); !core.IsKind(err, core.KindInvalid) {
			t.Errorf("PresignGet(%q) = %v, want KindInvalid", key, err)
		}
		if _, err := s.PresignPut(ctx, key, 1, make([]byte, 32), "image/png", time.Minute); !core.IsKind(err, core.KindInvalid) {
			t.Errorf("PresignPut(%q) = %v, want KindInvalid", key, err)
		}
		if _, err := s.Stat(ctx, key); !core.IsKind(err, core.KindInvalid) {
			t.Errorf("Stat(%q) = %v, want KindInvalid", key, err)
		}
		if err := s.Delete(ctx, key); !core.IsKind(err, core.KindInvalid) {
			t.Errorf("Delete(%q) = %v, want KindInvalid", key, err)
		}
	}
}

func TestTraversalThroughServer(t *testing.T) {
	// Through a real server and mux, which clean or redirect such paths: the
	// answer is still a 4xx or a redirect, never a file.
	s, srv, root := newServer(t)
	if err := os.WriteFile(filepath.Join(filepath.Dir(root), "secret.txt"), []byte("top secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	signed, err := s.PresignGet(context.Background(), "photos/p1/ph_1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	query := "?" + strings.SplitN(signed.URL, "?", 2)[1]
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"/blobs/%2e%2e/secret.txt", "/blobs/photos/%2e%2e/%2e%2e/%2e%2e/secret.txt", "/blobs/..%2fsecret.txt"} {
		resp, err := client.Get(srv.URL + p + query)
		if err != nil {
			t.Fatalf("GET %s: %v", p, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 300 || resp.StatusCode >= 500 {
			t.Errorf("GET %s: status %d, want 3xx or 4xx", p, resp.StatusCode)
		}
		if bytes.Contains(body, []byte("top secret")) {
			t.Errorf("GET %s returned the file outside the root", p)
		}
	}
}

func TestURLSignedForAnotherKey(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	h := s.Handler()
	upload(t, s, "photos/p1/ph_a", []byte("object a"))
	upload(t, s, "photos/p2/ph_b", []byte("object b"))

	t.Run("get", func(t *testing.T) {
		signed, err := s.PresignGet(ctx, "photos/p1/ph_a", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		tgt := strings.Replace(target(t, signed.URL), "photos/p1/ph_a", "photos/p2/ph_b", 1)
		rec := serve(t, h, http.MethodGet, tgt, nil, nil)
		checkError(t, rec, http.StatusForbidden, core.CodeForbidden)
	})
	t.Run("put", func(t *testing.T) {
		data := []byte("new object")
		up, err := s.PresignPut(ctx, "photos/p1/ph_c", int64(len(data)), digest(data), "image/png", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		tgt := strings.Replace(target(t, up.URL), "photos/p1/ph_c", "photos/p2/ph_b", 1)
		rec := serve(t, h, up.Method, tgt, up.Headers, data)
		checkError(t, rec, http.StatusForbidden, core.CodeForbidden)
		got, err := s.Stat(ctx, "photos/p2/ph_b")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(core.BlobInfo{Size: 8, SHA256: digest([]byte("object b"))}, got); diff != "" {
			t.Errorf("object b changed (-want +got):\n%s", diff)
		}
	})
	t.Run("get url used for put", func(t *testing.T) {
		signed, err := s.PresignGet(ctx, "photos/p2/ph_b", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		rec := serve(t, h, http.MethodPut, target(t, signed.URL), map[string]string{"Content-Type": "image/png"}, []byte("x"))
		checkError(t, rec, http.StatusForbidden, core.CodeForbidden)
	})
	t.Run("put url used for get", func(t *testing.T) {
		data := []byte("object b")
		up, err := s.PresignPut(ctx, "photos/p2/ph_b", int64(len(data)), digest(data), "image/png", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		rec := serve(t, h, http.MethodGet, target(t, up.URL), nil, nil)
		checkError(t, rec, http.StatusForbidden, core.CodeForbidden)
	})
	t.Run("other secret", func(t *testing.T) {
		other, err := localblob.New(t.TempDir(), "http://blobs.test/blobs", bytes.Repeat([]byte("o"), 32))
		if err != nil {
			t.Fatal(err)
		}
		signed, err := other.PresignGet(ctx, "photos/p1/ph_a", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		rec := serve(t, h, http.MethodGet, target(t, signed.URL), nil, nil)
		checkError(t, rec, http.StatusForbidden, core.CodeForbidden)
	})
}

func TestExpiryWithClock(t *testing.T) {
	s, clock, _ := newStore(t)
	ctx := context.Background()
	h := s.Handler()
	data := []byte("ciphertext")
	upload(t, s, "chat/im_1", data)

	signed, err := s.PresignGet(ctx, "chat/im_1", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := clock.Now().Add(30 * time.Second); !signed.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", signed.ExpiresAt, want)
	}
	up, err := s.PresignPut(ctx, "chat/im_2", int64(len(data)), digest(data), "image/png", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}

	clock.Advance(29 * time.Second)
	if rec := serve(t, h, http.MethodGet, target(t, signed.URL), nil, nil); rec.Code != http.StatusOK {
		t.Errorf("GET 1s before expiry: status %d, want 200", rec.Code)
	}
	clock.Advance(time.Second)
	checkError(t, serve(t, h, http.MethodGet, target(t, signed.URL), nil, nil), http.StatusForbidden, core.CodeForbidden)
	checkError(t, serve(t, h, up.Method, target(t, up.URL), up.Headers, data), http.StatusForbidden, core.CodeForbidden)
	if _, err := s.Stat(ctx, "chat/im_2"); !core.IsKind(err, core.KindNotFound) {
		t.Errorf("Stat after an expired upload = %v, want KindNotFound", err)
	}
}

func TestExpiresAtRoundsDown(t *testing.T) {
	s, clock, _ := newStore(t)
	clock.Advance(900 * time.Millisecond)
	signed, err := s.PresignGet(context.Background(), "chat/im_1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if want := clock.Now().Add(time.Minute).Truncate(time.Second); !signed.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v (never after now+ttl)", signed.ExpiresAt, want)
	}
}

func TestGetResponse(t *testing.T) {
	s, _, _ := newStore(t)
	data := []byte("\x89PNG not really")
	upload(t, s, "chat/im_1", data)
	signed, err := s.PresignGet(context.Background(), "chat/im_1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		t.Run(method, func(t *testing.T) {
			rec := serve(t, s.Handler(), method, target(t, signed.URL), nil, nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200", rec.Code)
			}
			want := map[string]string{
				"Content-Type":           "image/png",
				"Content-Length":         "15",
				"Cache-Control":          "private, no-store",
				"X-Content-Type-Options": "nosniff",
			}
			got := map[string]string{}
			for k := range want {
				got[k] = rec.Header().Get(k)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
			wantBody := data
			if method == http.MethodHead {
				wantBody = nil
			}
			if !bytes.Equal(rec.Body.Bytes(), wantBody) {
				t.Errorf("body = %q, want %q", rec.Body.Bytes(), wantBody)
			}
		})
	}
}

func TestPutChecks(t *testing.T) {
	data := []byte("0123456789")
	good := base64.StdEncoding.EncodeToString(digest(data))
	tests := []struct {
		name    string
		headers map[string]string // changes to the presigned headers; "" deletes
		body    []byte
		status  int
		code    string
	}{
		{"exact", nil, data, http.StatusOK, ""},
		{"without checksum header", map[string]string{localblob.ChecksumHeader: ""}, data, http.StatusOK, ""},
		{"checksum header of other bytes", map[string]string{localblob.ChecksumHeader: base64.StdEncoding.EncodeToString(digest([]byte("x")))}, data, http.StatusBadRequest, core.CodeInvalid},
		{"checksum header not base64", map[string]string{localblob.ChecksumHeader: "%%%"}, data, http.StatusBadRequest, core.CodeInvalid},
		{"checksum header matching", map[string]string{localblob.ChecksumHeader: good}, data, http.StatusOK, ""},
		{"longer body", nil, append(bytes.Clone(data), 'x'), http.StatusRequestEntityTooLarge, core.CodePayloadTooLarge},
		{"shorter body", nil, data[:9], http.StatusBadRequest, core.CodeInvalid},
		{"other bytes", nil, []byte("0123456780"), http.StatusBadRequest, core.CodeInvalid},
		{"other content type", map[string]string{"Content-Type": "image/jpeg"}, data, http.StatusForbidden, core.CodeForbidden},
		{"no content type", map[string]string{"Content-Type": ""}, data, http.StatusForbidden, core.CodeForbidden},
	}
	// The signed numbers, written another way, do not match the signature.
	for _, tt := range []struct{ name, param, prefix string }{
		{"length with a plus sign", localblob.ParamLength, "+"},
		{"length with a leading zero", localblob.ParamLength, "0"},
		{"expiry with a leading zero", localblob.ParamExpires, "0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, _, _ := newStore(t)
			up, err := s.PresignPut(context.Background(), "photos/p1/ph_1", int64(len(data)), digest(data), "image/png", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(target(t, up.URL))
			q := u.Query()
			q.Set(tt.param, tt.prefix+q.Get(tt.param))
			rec := serve(t, s.Handler(), up.Method, u.Path+"?"+q.Encode(), up.Headers, data)
			checkError(t, rec, http.StatusForbidden, core.CodeForbidden)
		})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, root := newStore(t)
			up, err := s.PresignPut(context.Background(), "photos/p1/ph_1", int64(len(data)), digest(data), "image/png", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			headers := map[string]string{}
			for k, v := range up.Headers {
				headers[k] = v
			}
			for k, v := range tt.headers {
				if v == "" {
					delete(headers, k)
				} else {
					headers[k] = v
				}
			}
			rec := serve(t, s.Handler(), up.Method, target(t, up.URL), headers, tt.body)
			if tt.code != "" {
				checkError(t, rec, tt.status, tt.code)
				if _, err := s.Stat(context.Background(), "photos/p1/ph_1"); !core.IsKind(err, core.KindNotFound) {
					t.Errorf("Stat after a rejected upload = %v, want KindNotFound", err)
				}
			} else if rec.Code != tt.status {
				t.Errorf("status = %d, want %d (body %s)", rec.Code, tt.status, rec.Body)
			}
			checkNoTempFiles(t, root)
		})
	}
}

// checkNoTempFiles checks that no temporary upload file is left under root.
func checkNoTempFiles(t *testing.T, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPutWithoutContentLength(t *testing.T) {
	s, _, _ := newStore(t)
	data := []byte("0123456789")
	up, err := s.PresignPut(context.Background(), "photos/p1/ph_1", int64(len(data)), digest(data), "image/png", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(up.Method, target(t, up.URL), io.NopCloser(bytes.NewReader(data)))
	req.ContentLength = -1
	for k, v := range up.Headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	checkError(t, rec, http.StatusLengthRequired, core.CodeInvalid)
}

func TestUnsignedAndMalformedQueries(t *testing.T) {
	s, _, _ := newStore(t)
	upload(t, s, "chat/im_1", []byte("x"))
	signed, err := s.PresignGet(context.Background(), "chat/im_1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(signed.URL)
	q := u.Query()
	mutate := func(f func(q url.Values)) string {
		c := url.Values{}
		for k, v := range q {
			c[k] = append([]string(nil), v...)
		}
		f(c)
		return u.Path + "?" + c.Encode()
	}
	tests := []struct {
		name   string
		target string
	}{
		{"no query", u.Path},
		{"no signature", mutate(func(q url.Values) { q.Del(localblob.ParamSignature) })},
		{"no expiry", mutate(func(q url.Values) { q.Del(localblob.ParamExpires) })},
		{"signature not hex", mutate(func(q url.Values) { q.Set(localblob.ParamSignature, "zz") })},
		{"signature truncated", mutate(func(q url.Values) { q.Set(localblob.ParamSignature, q.Get(localblob.ParamSignature)[:62]) })},
		{"expiry extended", mutate(func(q url.Values) { q.Set(localblob.ParamExpires, "99999999999") })},
		{"expiry not a number", mutate(func(q url.Values) { q.Set(localblob.ParamExpires, "soon") })},
		{"signature twice", mutate(func(q url.Values) { q.Add(localblob.ParamSignature, q.Get(localblob.ParamSignature)) })},
		// The same values, written another way: a URL is valid only as it
		// was signed.
		{"expiry with a plus sign", mutate(func(q url.Values) { q.Set(localblob.ParamExpires, "+"+q.Get(localblob.ParamExpires)) })},
		{"expiry with a leading zero", mutate(func(q url.Values) { q.Set(localblob.ParamExpires, "0"+q.Get(localblob.ParamExpires)) })},
		{"signature in upper case", mutate(func(q url.Values) { q.Set(localblob.ParamSignature, strings.ToUpper(q.Get(localblob.ParamSignature))) })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkError(t, serve(t, s.Handler(), http.MethodGet, tt.target, nil, nil), http.StatusForbidden, core.CodeForbidden)
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	s, _, _ := newStore(t)
	for _, method := range []string{http.MethodPost, http.MethodDelete, http.MethodPatch} {
		rec := serve(t, s.Handler(), method, "/blobs/chat/im_1", nil, nil)
		checkError(t, rec, http.StatusMethodNotAllowed, core.CodeInvalid)
		if got := rec.Header().Get("Allow"); got != "GET, HEAD, PUT" {
			t.Errorf("%s: Allow = %q", method, got)
		}
	}
}

func TestGetMissing(t *testing.T) {
	s, _, _ := newStore(t)
	signed, err := s.PresignGet(context.Background(), "chat/im_none", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	checkError(t, serve(t, s.Handler(), http.MethodGet, target(t, signed.URL), nil, nil), http.StatusNotFound, core.CodeNotFound)
	checkError(t, serve(t, s.Handler(), http.MethodGet, "/other/chat/im_none", nil, nil), http.StatusNotFound, core.CodeNotFound)
}

func TestErrorsDoNotLeakPaths(t *testing.T) {
	s, _, root := newStore(t)
	data := []byte("x")
	up, err := s.PresignPut(context.Background(), "chat/im_1", 1, digest(data), "image/png", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Make the object directory unusable: replace it by a file.
	objects := filepath.Join(root, "objects")
	if err := os.RemoveAll(objects); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(objects, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	rec := serve(t, s.Handler(), up.Method, target(t, up.URL), up.Headers, data)
	body := rec.Body.String()
	checkError(t, rec, http.StatusInternalServerError, core.CodeInternal)
	if strings.Contains(body, root) || strings.Contains(body, "objects") {
		t.Errorf("error body %q reveals a path", body)
	}
	ctx := context.Background()
	if err := s.Ping(ctx); !core.IsKind(err, core.KindUnavailable) {
		t.Errorf("Ping with a broken root = %v, want KindUnavailable", err)
	}
	if _, err := s.Stat(ctx, "chat/im_1"); !core.IsKind(err, core.KindUnavailable) && !core.IsKind(err, core.KindNotFound) {
		t.Errorf("Stat with a broken root = %v, want KindUnavailable or KindNotFound", err)
	}
}

func TestPresignValidates(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	sum := make([]byte, 32)
	tests := []struct {
		name        string
		size        int64
		sum         []byte
		contentType string
		ttl         time.Duration
	}{
		{"negative size", -1, sum, "image/png", time.Minute},
		{"short sha256", 1, sum[:31], "image/png", time.Minute},
		{"no content type", 1, sum, "", time.Minute},
		{"content type with newline", 1, sum, "image/png\nX: y", time.Minute},
		{"content type not a media type", 1, sum, "image/", time.Minute},
		{"ttl too short", 1, sum, "image/png", 500 * time.Millisecond},
		{"ttl too long", 1, sum, "image/png", 8 * 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.PresignPut(ctx, "chat/im_1", tt.size, tt.sum, tt.contentType, tt.ttl); !core.IsKind(err, core.KindInvalid) {
				t.Errorf("PresignPut = %v, want KindInvalid", err)
			}
		})
	}
	if _, err := s.PresignPut(ctx, "chat/im_1", localblob.MaxObjectSize+1, sum, "image/png", time.Minute); !core.IsKind(err, core.KindTooLarge) {
		t.Errorf("PresignPut(MaxObjectSize+1 bytes) = %v, want KindTooLarge", err)
	}
	if _, err := s.PresignGet(ctx, "chat/im_1", 0); !core.IsKind(err, core.KindInvalid) {
		t.Errorf("PresignGet(ttl 0) = %v, want KindInvalid", err)
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name    string
		baseURL string
		secret  []byte
	}{
		{"short secret", "http://127.0.0.1/blobs", make([]byte, 31)},
		{"relative url", "/blobs", testSecret},
		{"no scheme", "127.0.0.1:8080/blobs", testSecret},
		{"ftp", "ftp://127.0.0.1/blobs", testSecret},
		{"query", "http://127.0.0.1/blobs?x=1", testSecret},
		{"user", "http://u:p@127.0.0.1/blobs", testSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := localblob.New(t.TempDir(), tt.baseURL, tt.secret); err == nil {
				t.Errorf("New(%q) succeeded, want an error", tt.baseURL)
			}
		})
	}
}

func TestNewRemovesStaleTempFiles(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "objects", "ab")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	stale, fresh := filepath.Join(dir, ".tmp-stale"), filepath.Join(dir, ".tmp-fresh")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := localblob.New(root, "http://127.0.0.1/blobs", testSecret); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file still there (stat: %v)", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temporary file removed: %v", err)
	}
}

func TestLoadOrCreateSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "blob.secret")
	first, err := localblob.LoadOrCreateSecret(path)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if len(first) != 32 {
		t.Errorf("secret has %d bytes, want 32", len(first))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("secret file mode = %04o, want 0600", got)
	}
	again, err := localblob.LoadOrCreateSecret(path)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if !bytes.Equal(first, again) {
		t.Errorf("reloaded secret differs")
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := localblob.LoadOrCreateSecret(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("load of a 0644 secret = %v, want an error telling to chmod 600", err)
	}

	short := filepath.Join(t.TempDir(), "short.secret")
	if err := os.WriteFile(short, make([]byte, 16), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := localblob.LoadOrCreateSecret(short); err == nil {
		t.Errorf("load of a 16-byte secret succeeded, want an error")
	}
}

func TestConcurrentUploadsOfOneKey(t *testing.T) {
	// A key is written once: of concurrent uploads exactly one lands, the
	// others get 412, and what Stat sees is that one whole upload.
	s, srv, root := newServer(t)
	ctx := context.Background()
	const writers = 8
	bodies := make([][]byte, writers)
	for i := range bodies {
		bodies[i] = bytes.Repeat([]byte{byte('a' + i)}, 64<<10)
	}
	statuses := make([]int, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			up, err := s.PresignPut(ctx, "chat/im_1", int64(len(bodies[i])), digest(bodies[i]), "image/png", time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			req, _ := http.NewRequest(up.Method, up.URL, bytes.NewReader(bodies[i]))
			for k, v := range up.Headers {
				req.Header.Set(k, v)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Errorf("upload %d: %v", i, err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	wg.Wait()
	winner := -1
	for i, st := range statuses {
		switch {
		case st == http.StatusOK && winner < 0:
			winner = i
		case st == http.StatusOK:
			t.Errorf("uploads %d and %d both succeeded, want exactly one", winner, i)
		case st != http.StatusPreconditionFailed:
			t.Errorf("upload %d: status %d, want 200 or 412", i, st)
		}
	}
	if winner < 0 {
		t.Fatalf("no upload succeeded: statuses %v", statuses)
	}
	info, err := s.Stat(ctx, "chat/im_1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(core.BlobInfo{Size: 64 << 10, SHA256: digest(bodies[winner])}, info); diff != "" {
		t.Errorf("Stat is not the upload that succeeded (-want +got):\n%s", diff)
	}
	noTemps(t, root)
}

// noTemps fails if a temporary file is left anywhere under root.
func noTemps(t *testing.T, root string) {
	t.Helper()
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", path)
		}
		return nil
	})
}

func TestDeleteRacesUpload(t *testing.T) {
	// An upload and the delete of its key at once: whichever comes first,
	// the key ends deleted, and no later upload writes it.
	for i := range 20 {
		s, srv, root := newServer(t)
		ctx := context.Background()
		body := bytes.Repeat([]byte{byte(i)}, 32<<10)
		up, err := s.PresignPut(ctx, "photos/p/ph_1", int64(len(body)), digest(body), "application/octet-stream", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		send := func() int {
			req, _ := http.NewRequest(up.Method, up.URL, bytes.NewReader(body))
			for k, v := range up.Headers {
				req.Header.Set(k, v)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Errorf("upload: %v", err)
				return 0
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			if st := send(); st != http.StatusOK && st != http.StatusPreconditionFailed {
				t.Errorf("upload during the delete: status %d, want 200 or 412", st)
			}
		})
		wg.Go(func() {
			if err := s.Delete(ctx, "photos/p/ph_1"); err != nil {
				t.Errorf("Delete: %v", err)
			}
		})
		wg.Wait()
		if info, err := s.Stat(ctx, "photos/p/ph_1"); !core.IsKind(err, core.KindNotFound) {
			t.Fatalf("round %d: Stat after the race = %+v, %v; want not found", i, info, err)
		}
		if st := send(); st != http.StatusPreconditionFailed {
			t.Errorf("round %d: upload after the delete: status %d, want 412", i, st)
		}
		noTemps(t, root)
	}
}

func TestTombstonesAreSwept(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s, srv, root := newServer(t, localblob.WithClock(clock))
	ctx := context.Background()
	if err := s.Delete(ctx, "chat/ci_1"); err != nil {
		t.Fatal(err)
	}
	tombstones := func() int {
		n := 0
		_ = filepath.WalkDir(filepath.Join(root, "tombstones"), func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				n++
			}
			return nil
		})
		return n
	}
	body := []byte("late bytes")
	upload := func() int {
		up, err := s.PresignPut(ctx, "chat/ci_1", int64(len(body)), digest(body), "image/png", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(up.Method, up.URL, bytes.NewReader(body))
		for k, v := range up.Headers {
			req.Header.Set(k, v)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// Within the longest URL lifetime the tombstone stays, whoever sweeps.
	now = now.Add(localblob.TombstoneTTL)
	s.SweepTombstones()
	if n := tombstones(); n != 1 {
		t.Fatalf("%d tombstones after a sweep at TombstoneTTL, want 1", n)
	}
	if st := upload(); st != http.StatusPreconditionFailed {
		t.Errorf("upload at TombstoneTTL: status %d, want 412", st)
	}
	// Past it, a Delete of another key sweeps it (an hour after the last
	// sweep), and the key is writable again: no URL signed before its
	// delete is still valid.
	now = now.Add(time.Hour + time.Second)
	if err := s.Delete(ctx, "chat/ci_2"); err != nil {
		t.Fatal(err)
	}
	if n := tombstones(); n != 1 {
		t.Errorf("%d tombstones after the sweep, want 1 (the new one)", n)
	}
	if st := upload(); st != http.StatusOK {
		t.Errorf("upload after the tombstone was swept: status %d, want 200", st)
	}
}

// TestImportContract runs the import contract on the local directory.
func TestImportContract(t *testing.T) {
	blobtest.RunImport(t, blobtest.Harness{}, func(t *testing.T) blobtest.Importer {
		store, _, _ := newServer(t)
		return store
	})
}
