package embedded_test

import (
	"bytes"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/httpapi"
	"github.com/medshare/medshare/shared/runtime/devauth"
	"github.com/medshare/medshare/shared/runtime/embedded"
	"github.com/medshare/medshare/shared/runtime/localserver"
)

// The fuzz targets of this package run every input on a world of their own:
// an embedded runtime holding one of everything (an appointment with a chat
// image, a photo shared with a professional who opened an access and holds a
// key, a notification). The world is built once per fuzzing process into a
// template data directory, and each input runs on a fresh copy of it, so that
// what one input does (a revoke, a delete) never changes what another sees:
// an input that fails, fails again alone, from its corpus file.
//
// Everything in it is deterministic except the ids: the clock is fixed, and
// the token key is fixed (tokens in a corpus file stay valid). Inputs name
// the world's ids by flags, never literally.

// fuzzNow is the world's clock: the runtime, its blob URLs and its tokens.
var fuzzNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

const fuzzBaseURL = "http://medshare.test"

// The world's cast.
const (
	fzPatient  = "fz-patient"
	fzPro      = "fz-pro"
	fzClinic   = "fz-clinic"
	fzStranger = "fz-stranger"
	fzAppt     = "fz-appt-1"
)

// fuzzTokenKey is the token signing key of every fuzz world, a P-256 key
// made for these tests only, so that the tokens in a corpus file verify in
// every run.
const fuzzTokenKey = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAPr+7KPZ45zDmrvs
QoPsOCO+3WSTMUiVh6WtSRc8rUyhRANCAAQ/UVlkYDgBYmBE2fgVqHoF4KQNGWsU
5b84xygkWxaj9jxXIFrUuDvNKLUVwfBN5KSaCTWOPwjnLu8khuRlfpTv
-----END PRIVATE KEY-----
`

// worldIDs are the ids of the world's things, by the name of the path
// parameter that carries them.
type worldIDs map[string]string

// fuzzWorld is one open copy of the world.
type fuzzWorld struct {
	rt   *embedded.Runtime
	srv  http.Handler       // the local server, as `medshare serve` runs it
	auth *devauth.Authority // mints and checks tokens at fuzzNow
	ids  worldIDs
}

// openWorld opens the runtime in dir (created if needed) with the fuzz
// world's clock and token key.
func openWorld(tb testing.TB, dir string) *fuzzWorld {
	tb.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	keyFile := filepath.Join(dir, embedded.TokenKeyFile)
	if _, err := os.Stat(keyFile); err != nil {
		if err := os.WriteFile(keyFile, []byte(fuzzTokenKey), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	log := slog.New(slog.DiscardHandler)
	rt, err := embedded.Open(embedded.Options{DataDir: dir, PublicURL: fuzzBaseURL, Log: log, Now: func() time.Time { return fuzzNow }})
	if err != nil {
		tb.Fatalf("open the fuzz world: %v", err)
	}
	tb.Cleanup(func() { rt.Close() })
	auth := rt.Auth.WithClock(func() time.Time { return fuzzNow })
	srv := localserver.New(localserver.Options{
		Handler: rt.Handler, Auth: auth, Blobs: rt.Blobs.Handler(), BlobPrefix: embedded.BlobPrefix,
		OpenAPI: httpapi.OpenAPI(), Log: log,
	})
	return &fuzzWorld{rt: rt, srv: srv, auth: auth}
}

// token mints a token of the world for sub in role.
func (w *fuzzWorld) token(tb testing.TB, sub string, role core.Role) string {
	tb.Helper()
	tok, err := w.auth.Mint(sub, role, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// serve sends one request to the local server and returns the recorded
// answer.
func (w *fuzzWorld) serve(r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	w.srv.ServeHTTP(rec, r)
	return rec
}

// call sends a JSON request as sub in role and decodes a success into out;
// any other status stops the test.
func (w *fuzzWorld) call(tb testing.TB, method, path, sub string, role core.Role, in, out any, want int) {
	tb.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			tb.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	r := httptest.NewRequest(method, fuzzBaseURL+path, body)
	if in != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("Authorization", "Bearer "+w.token(tb, sub, role))
	rec := w.serve(r)
	if rec.Code != want {
		tb.Fatalf("build the fuzz world: %s %s: status %d %s, want %d", method, path, rec.Code, rec.Body, want)
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			tb.Fatalf("build the fuzz world: %s %s: %v", method, path, err)
		}
	}
}

// upload sends data as a presigned upload says.
func (w *fuzzWorld) upload(tb testing.TB, u struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
}, data []byte) {
	tb.Helper()
	r := httptest.NewRequest(u.Method, u.URL, bytes.NewReader(data))
	for k, v := range u.Headers {
		r.Header.Set(k, v)
	}
	if rec := w.serve(r); rec.Code != http.StatusOK {
		tb.Fatalf("build the fuzz world: upload: status %d %s", rec.Code, rec.Body)
	}
}

type presigned struct {
	ID      string `json:"photo_id"`
	ImageID string `json:"image_id"`
	Upload  struct {
		Method  string            `json:"method"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
	} `json:"upload"`
}

// build fills an empty world: an appointment with a finalized chat image;
// a photo shared with the professional, who opened an access on an X25519
// device and was issued a key; and so notifications.
func (w *fuzzWorld) build(tb testing.TB) {
	tb.Helper()
	w.call(tb, "PUT", "/v1/appointments/"+fzAppt, fzClinic, core.RoleClinic, map[string]any{
		"patient_id": fzPatient, "professional_ids": []string{fzPro},
		"starts_at": fuzzNow, "ends_at": fuzzNow.Add(time.Hour),
	}, nil, http.StatusCreated)

	chat := bytes.Repeat([]byte("chat image "), 100)
	sum := sha256.Sum256(chat)
	var ci presigned
	w.call(tb, "POST", "/api/chat-images", fzPatient, core.RolePatient, map[string]any{
		"appointment_id": fzAppt, "content_type": "image/png", "size": len(chat), "sha256": sum[:],
	}, &ci, http.StatusCreated)
	w.upload(tb, ci.Upload, chat)
	w.call(tb, "POST", "/api/chat-images/"+ci.ImageID+"/finalize", fzPatient, core.RolePatient, nil, nil, http.StatusOK)

	ct := bytes.Repeat([]byte("ciphertext "), 100)
	sum = sha256.Sum256(ct)
	var ph presigned
	w.call(tb, "POST", "/v1/photos", fzPatient, core.RolePatient, map[string]any{
		"angle": "CROWN", "content_type": "image/jpeg", "size": len(ct), "sha256": sum[:], "data_key": bytes.Repeat([]byte{7}, 32),
	}, &ph, http.StatusCreated)
	w.upload(tb, ph.Upload, ct)
	w.call(tb, "POST", "/v1/photos/"+ph.ID+"/finalize", fzPatient, core.RolePatient, nil, nil, http.StatusOK)

	var sh struct {
		ShareID string `json:"share_id"`
	}
	w.call(tb, "POST", "/v1/shares", fzPatient, core.RolePatient, map[string]any{
		"professional_id": fzPro, "photo_ids": []string{ph.ID}, "expires_in": 3600, "max_views": 5, "max_devices": 2,
	}, &sh, http.StatusCreated)
	kem, err := hpke.NewKEM(core.KEMX25519)
	if err != nil {
		tb.Fatal(err)
	}
	dev, err := kem.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	var acc struct {
		AccessID string `json:"access_id"`
	}
	w.call(tb, "POST", "/v1/shares/"+sh.ShareID+"/access", fzPro, core.RoleProfessional, map[string]any{
		"kem": core.KEMX25519, "device_public_key": dev.PublicKey().Bytes(), "device_fingerprint": "fuzz-device",
	}, &acc, http.StatusCreated)
	var key struct {
		KeyID string `json:"key_id"`
	}
	w.call(tb, "POST", "/v1/access/"+acc.AccessID+"/photos/"+ph.ID+"/key", fzPro, core.RoleProfessional, nil, &key, http.StatusCreated)
	var inbox struct {
		Items []struct {
			ID string `json:"notification_id"`
		} `json:"items"`
	}
	w.call(tb, "GET", "/v1/notifications", fzPro, core.RoleProfessional, nil, &inbox, http.StatusOK)
	if len(inbox.Items) == 0 {
		tb.Fatal("build the fuzz world: the professional has no notification")
	}
	w.ids = worldIDs{
		"photo_id": ph.ID, "id": ci.ImageID, "share_id": sh.ShareID, "access_id": acc.AccessID,
		"key_id": key.KeyID, "notification_id": inbox.Items[0].ID, "appointment_id": fzAppt,
	}
}

// worldTemplate builds the world once in a directory of tb's and returns a
// function that opens a fresh copy of it for one input.
func worldTemplate(tb testing.TB) func(t *testing.T) *fuzzWorld {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "template")
	w := openWorld(tb, dir)
	w.build(tb)
	ids := w.ids
	if err := w.rt.Close(); err != nil {
		tb.Fatal(err)
	}
	return func(t *testing.T) *fuzzWorld {
		t.Helper()
		copy := filepath.Join(t.TempDir(), "world")
		copyDir(t, dir, copy)
		w := openWorld(t, copy)
		w.ids = ids
		return w
	}
}

// copyDir copies the regular files of the tree at src into dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		if strings.HasPrefix(d.Name(), ".tmp-") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o600)
	})
	if err != nil {
		t.Fatalf("copy the fuzz world: %v", err)
	}
}
