package localblob_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medshare/medshare/shared/blob/localblob"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/wiretest"
)

// blobFuzzNow is the store's clock in FuzzBlobURL: with it and testSecret
// fixed, the presigned URLs are the same in every run, so that the seeds
// and the corpus stay valid.
var blobFuzzNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// blobFuzzWorld is a store holding one object, with a GET URL of it and a PUT
// URL of a second key.
type blobFuzzWorld struct {
	store             *localblob.Store
	root              string
	getKey, putKey    string
	object, putBody   []byte
	getURL, putURL    *url.URL
	putType           string
	objectSum, putSum []byte
}

func newBlobFuzzWorld(t testing.TB) *blobFuzzWorld {
	t.Helper()
	w := &blobFuzzWorld{
		root: t.TempDir(), getKey: "photos/fz-patient/ph_get", putKey: "photos/fz-patient/ph_put",
		object: []byte("ciphertext of the stored photo"), putBody: []byte("ciphertext of the new photo"), putType: "image/png",
	}
	var err error
	w.store, err = localblob.New(w.root, "http://medshare.test/blobs", testSecret, localblob.WithClock(func() time.Time { return blobFuzzNow }))
	if err != nil {
		t.Fatal(err)
	}
	w.objectSum, w.putSum = digest(w.object), digest(w.putBody)
	ctx := context.Background()
	up, err := w.store.PresignPut(ctx, w.getKey, int64(len(w.object)), w.objectSum, "application/octet-stream", 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(up.Method, up.URL, bytes.NewReader(w.object))
	for k, v := range up.Headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	w.store.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("store the object: status %d %s", rec.Code, rec.Body)
	}
	get, err := w.store.PresignGet(ctx, w.getKey, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	put, err := w.store.PresignPut(ctx, w.putKey, int64(len(w.putBody)), w.putSum, w.putType, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	w.getURL, _ = url.Parse(get.URL)
	w.putURL, _ = url.Parse(put.URL)
	return w
}

// FuzzBlobURL sends the blob handler one request with any method, path,
// query, Content-Type, checksum header and body, starting from the store's
// own URLs. Every answer must pass wiretest.Check. Only the request a URL
// was signed for may succeed, exactly as signed: a 2xx GET or HEAD is of the
// signed key with the signed expiry and signature spelled as the store
// wrote them, and a GET answers the object's bytes; a 2xx PUT is of the
// signed key with every signed parameter as written, the signed Content-Type
// and the signed bytes, and stores them. Nothing else changes what is
// stored.
func FuzzBlobURL(f *testing.F) {
	w := newBlobFuzzWorld(f)
	get, put := w.getURL.RequestURI(), w.putURL.RequestURI()
	sum := base64.StdEncoding.EncodeToString(w.putSum)
	seeds := []struct {
		method, target, contentType, checksum string
		body                                  []byte
		mode                                  uint8
	}{
		{"GET", get, "", "", nil, 0},
		{"HEAD", get, "", "", nil, 0},
		{"PUT", put, w.putType, sum, w.putBody, 3},
		{"PUT", put, w.putType, "", w.putBody, 1},
		{"PUT", put, w.putType, sum, w.putBody, 7},
		{"PUT", put, "image/jpeg", sum, w.putBody, 3},
		{"PUT", put, w.putType, sum, []byte("other bytes of the same size"), 3},
		{"PUT", strings.Replace(put, "ph_put", "ph_get", 1), w.putType, sum, w.putBody, 3},
		{"GET", strings.Replace(get, "Expires=", "Expires=0", 1), "", "", nil, 0},
		{"GET", strings.ToUpper(get), "", "", nil, 0},
		{"GET", get + "&X-Medshare-Signature=00", "", "", nil, 0},
		{"GET", "/blobs/photos/fz-patient/ph_get", "", "", nil, 0},
		{"GET", "/blobs/../blob-signing.key", "", "", nil, 0},
		{"DELETE", get, "", "", nil, 0},
		{"POST", put, w.putType, sum, w.putBody, 3},
		{"GET", put, "", "", nil, 0},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, s.contentType, s.checksum, s.body, s.mode)
	}
	f.Fuzz(func(t *testing.T, method, target, contentType, checksum string, body []byte, mode uint8) {
		w := newBlobFuzzWorld(t)
		r, err := http.NewRequest(method, "http://medshare.test"+target, bytes.NewReader(body))
		if err != nil || !strings.HasPrefix(r.URL.Path, "/blobs/") {
			return // not a request the blob handler can receive
		}
		if mode&1 != 0 {
			r.Header.Set("Content-Type", contentType)
		}
		if mode&2 != 0 {
			r.Header.Set(localblob.ChecksumHeader, checksum)
		}
		if mode&4 != 0 {
			r.ContentLength = -1
		}
		rec := httptest.NewRecorder()
		w.store.Handler().ServeHTTP(rec, r)
		if err := wiretest.Check(method, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			t.Fatalf("%s %s: %v", method, target, err)
		}
		q := r.URL.Query()
		signedAs := func(u *url.URL, params ...string) bool {
			want := u.Query()
			for _, p := range params {
				if len(q[p]) != 1 || q[p][0] != want.Get(p) {
					return false
				}
			}
			return true
		}
		putDone := false
		if rec.Code < 300 {
			switch method {
			case http.MethodGet, http.MethodHead:
				if r.URL.Path != w.getURL.Path || !signedAs(w.getURL, localblob.ParamExpires, localblob.ParamSignature) {
					t.Fatalf("%s %s: status %d for a request that is not the signed GET %s", method, target, rec.Code, w.getURL.RequestURI())
				}
				if method == http.MethodGet && !bytes.Equal(rec.Body.Bytes(), w.object) {
					t.Fatalf("GET %s: answered %q, want the object", target, rec.Body)
				}
			case http.MethodPut:
				if r.URL.Path != w.putURL.Path || r.Header.Get("Content-Type") != w.putType || !bytes.Equal(body, w.putBody) ||
					!signedAs(w.putURL, localblob.ParamExpires, localblob.ParamLength, localblob.ParamSHA256, localblob.ParamSignature) {
					t.Fatalf("PUT %s (Content-Type %q, %d bytes): status %d for a request that is not the signed PUT %s", target, r.Header.Get("Content-Type"), len(body), rec.Code, w.putURL.RequestURI())
				}
				putDone = true
			default:
				t.Fatalf("%s %s: status %d", method, target, rec.Code)
			}
		}
		// What is stored: the object, and the new one only after its PUT.
		ctx := context.Background()
		if info, err := w.store.Stat(ctx, w.getKey); err != nil || !bytes.Equal(info.SHA256, w.objectSum) {
			t.Fatalf("%s %s changed the stored object: %+v, %v", method, target, info, err)
		}
		info, err := w.store.Stat(ctx, w.putKey)
		switch {
		case putDone && (err != nil || !bytes.Equal(info.SHA256, w.putSum)):
			t.Fatalf("PUT %s answered %d but stored %+v, %v", target, rec.Code, info, err)
		case !putDone && !core.IsKind(err, core.KindNotFound):
			t.Fatalf("%s %s (status %d) stored an object at the PUT URL's key: %+v, %v", method, target, rec.Code, info, err)
		}
		want := 1
		if putDone {
			want = 2
		}
		if got := countObjects(t, w.root); got != want {
			t.Fatalf("%s %s (status %d): %d files under the store, want %d", method, target, rec.Code, got, want)
		}
	})
}

// countObjects counts the regular files under root, temporary ones too.
func countObjects(t *testing.T, root string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
