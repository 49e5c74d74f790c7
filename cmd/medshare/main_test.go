package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func call(t *testing.T, method, u, token string, body any, headers map[string]string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
		if headers == nil {
			headers = map[string]string{}
		}
		headers["Content-Type"] = "application/json"
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func demoTokens(t *testing.T, stdout string) map[string]string {
	t.Helper()
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
		if ok {
			out[k] = v
		}
	}
	for _, k := range []string{"PATIENT_TOKEN", "PRO_TOKEN", "CLINIC_TOKEN", "APPOINTMENT_ID"} {
		if out[k] == "" {
			t.Fatalf("--demo did not print %s; stdout:\n%s", k, stdout)
		}
	}
	return out
}

type upload struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
}

// TestServeEndToEnd drives `medshare serve --demo` over real HTTP the way the
// chat app and the patient app do: presign, upload to the URL, finalize, signed
// URL, download; then checks expiry, tampering, restart and `medshare token`.
func TestServeEndToEnd(t *testing.T) {
	dir := t.TempDir()
	srv := launch(t, dir, map[string]string{"MEDSHARE_CHAT_URL_TTL": "2s"}, "--demo")
	tok := demoTokens(t, srv.stdout)

	if st, body := call(t, "GET", srv.url+"/health", "", nil, nil); st != 200 {
		t.Fatalf("health: %d %s", st, body)
	}
	if st, body := call(t, "GET", srv.url+"/openapi.yaml", "", nil, nil); st != 200 || !bytes.Contains(body, []byte("openapi: 3.1")) {
		t.Fatalf("openapi: %d", st)
	}

	// Chat image: the patient sends, the professional fetches.
	img := make([]byte, 70_000)
	rand.Read(img)
	sum := sha256.Sum256(img)
	st, body := call(t, "POST", srv.url+"/api/chat-images", tok["PATIENT_TOKEN"], map[string]any{
		"appointment_id": tok["APPOINTMENT_ID"], "content_type": "image/jpeg", "size": len(img), "sha256": sum[:],
	}, nil)
	if st != 201 {
		t.Fatalf("chat upload: %d %s", st, body)
	}
	var cu struct {
		ImageID string `json:"image_id"`
		URL     string `json:"url"`
		Upload  upload `json:"upload"`
	}
	json.Unmarshal(body, &cu)
	if !strings.HasPrefix(cu.URL, "private://chat-images/") {
		t.Errorf("url = %q", cu.URL)
	}
	if st, body := call(t, cu.Upload.Method, cu.Upload.URL, "", img, cu.Upload.Headers); st != 200 {
		t.Fatalf("upload: %d %s", st, body)
	}
	if st, body := call(t, "POST", srv.url+"/api/chat-images/"+cu.ImageID+"/finalize", tok["PATIENT_TOKEN"], nil, nil); st != 200 {
		t.Fatalf("finalize: %d %s", st, body)
	}
	var su struct {
		URL       string    `json:"url"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	// The URL lives 2 seconds (MEDSHARE_CHAT_URL_TTL above), so that its
	// expiry can be seen below. A busy machine may take longer than that
	// between signing and downloading: a refusal that came back after the
	// URL's expiry proves nothing either way, and only then is a fresh URL
	// tried. A refusal while the URL was still valid fails the test.
	for attempt := 1; ; attempt++ {
		st, body = call(t, "GET", srv.url+"/api/chat-images/"+cu.ImageID+"/signed-url", tok["PRO_TOKEN"], nil, nil)
		if st != 200 {
			t.Fatalf("signed url: %d %s", st, body)
		}
		json.Unmarshal(body, &su)
		st, got := call(t, "GET", su.URL, "", nil, nil)
		if st == 200 && bytes.Equal(got, img) {
			break
		}
		if time.Now().Before(su.ExpiresAt) || attempt == 5 {
			t.Fatalf("download: %d, %d bytes, want the %d uploaded bytes", st, len(got), len(img))
		}
	}
	u, _ := url.Parse(su.URL)
	q := u.Query()
	sig := q.Get("X-Medshare-Signature")
	if sig == "" {
		t.Fatalf("signed url has no X-Medshare-Signature: %s", su.URL)
	}
	q.Set("X-Medshare-Signature", strings.Repeat("0", len(sig)))
	u.RawQuery = q.Encode()
	if st, _ := call(t, "GET", u.String(), "", nil, nil); st != 403 {
		t.Errorf("tampered url: %d, want 403", st)
	}
	time.Sleep(time.Until(su.ExpiresAt) + 1100*time.Millisecond)
	if st, _ := call(t, "GET", su.URL, "", nil, nil); st != 403 {
		t.Errorf("expired url: %d, want 403", st)
	}

	// Photo: the patient app encrypts (here: random ciphertext), stages, uploads, finalizes.
	ct := make([]byte, 10_000)
	rand.Read(ct)
	csum := sha256.Sum256(ct)
	key := make([]byte, 32)
	rand.Read(key)
	st, body = call(t, "POST", srv.url+"/v1/photos", tok["PATIENT_TOKEN"], map[string]any{
		"angle": "VERTEX", "content_type": "image/jpeg", "size": len(ct), "sha256": csum[:], "data_key": key,
	}, nil)
	if st != 201 {
		t.Fatalf("photo presign: %d %s", st, body)
	}
	var pu struct {
		PhotoID string `json:"photo_id"`
		Upload  upload `json:"upload"`
	}
	json.Unmarshal(body, &pu)
	if st, body := call(t, pu.Upload.Method, pu.Upload.URL, "", ct, pu.Upload.Headers); st != 200 {
		t.Fatalf("photo upload: %d %s", st, body)
	}
	if st, body := call(t, "POST", srv.url+"/v1/photos/"+pu.PhotoID+"/finalize", tok["PATIENT_TOKEN"], nil, nil); st != 200 {
		t.Fatalf("photo finalize: %d %s", st, body)
	}

	// Everything survives a restart, and `medshare token` mints working tokens.
	srv.stop(t)
	srv = launch(t, dir, nil)
	var tb bytes.Buffer
	if err := run(context.Background(), []string{"token", "--sub", "demo-patient", "--role", "patient", "--data-dir", dir}, nil, &tb, io.Discard); err != nil {
		t.Fatalf("token: %v", err)
	}
	st, body = call(t, "GET", srv.url+"/v1/photos", strings.TrimSpace(tb.String()), nil, nil)
	if st != 200 || !bytes.Contains(body, []byte(pu.PhotoID)) || !bytes.Contains(body, []byte(`"status":"ready"`)) {
		t.Fatalf("photos after restart: %d %s", st, body)
	}
	st, body = call(t, "GET", srv.url+"/v1/audit/verify", strings.TrimSpace(tb.String()), nil, nil)
	if st != 200 || !bytes.Contains(body, []byte(`"valid":true`)) {
		t.Fatalf("verify after restart: %d %s", st, body)
	}
	if st, _ := call(t, "GET", srv.url+"/v1/photos", "not-a-token", nil, nil); st != 401 {
		t.Errorf("bad token: %d, want 401", st)
	}
}

func TestTokenCommand(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		args []string
		ok   bool
	}{
		{"valid", []string{"--sub", "u1", "--role", "clinic"}, true},
		{"no role", []string{"--sub", "u1"}, false},
		{"bad role", []string{"--sub", "u1", "--role", "admin"}, false},
		{"bad subject", []string{"--sub", "a b", "--role", "patient"}, false},
		{"the detector's id", []string{"--sub", "medshare-detector", "--role", "professional"}, false},
		{"the cleanup job's id", []string{"--sub", "medshare-cleanup", "--role", "patient"}, false},
		{"the operators' id", []string{"--sub", "medshare-ops", "--role", "clinic"}, false},
		{"the system role", []string{"--sub", "u1", "--role", "system"}, false},
		{"bad ttl", []string{"--sub", "u1", "--role", "patient", "--ttl", "-1s"}, false},
		{"no ttl", []string{"--sub", "u1", "--role", "patient", "--ttl", "0s"}, false},
		{"the longest ttl", []string{"--sub", "u1", "--role", "patient", "--ttl", "720h"}, true},
		{"ttl past the longest", []string{"--sub", "u1", "--role", "patient", "--ttl", "720h1s"}, false},
		{"ttl of a year", []string{"--sub", "u1", "--role", "patient", "--ttl", "8760h"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), append([]string{"token", "--data-dir", dir}, c.args...), nil, &out, io.Discard)
			if (err == nil) != c.ok {
				t.Fatalf("err = %v, want ok=%v", err, c.ok)
			}
			if c.ok && strings.Count(strings.TrimSpace(out.String()), ".") != 2 {
				t.Errorf("stdout %q is not one JWT", out.String())
			}
		})
	}
}

// TestJobCommand: `medshare job` runs one job now on the data directory and
// prints what it did; it refuses what it cannot do.
func TestJobCommand(t *testing.T) {
	dir := t.TempDir()
	srv := launch(t, dir, nil, "--demo", "--jobs=false")
	srv.stop(t) // the job needs the store the server holds
	for _, c := range []struct {
		name string
		args []string
		want string // in the output; "" for an error
	}{
		{"cleanup", []string{"cleanup", "--data-dir", dir}, `"job": "cleanup"`},
		{"report of a day", []string{"daily-report", "--data-dir", dir, "--day", "2026-11-25"}, `"day": "2026-11-25"`},
		{"report of yesterday", []string{"daily-report", "--data-dir", dir}, `"day": "` + time.Now().UTC().Add(-24*time.Hour).Format(time.DateOnly) + `"`},
		{"unknown job", []string{"vacuum", "--data-dir", dir}, ""},
		{"no job", nil, ""},
		{"day for cleanup", []string{"cleanup", "--data-dir", dir, "--day", "2026-11-25"}, ""},
		{"bad day", []string{"daily-report", "--data-dir", dir, "--day", "yesterday"}, ""},
		{"bad backend", []string{"cleanup", "--data-dir", dir, "--backend", "cloud"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), append([]string{"job"}, c.args...), func(string) string { return "" }, &out, io.Discard)
			switch {
			case c.want == "" && err == nil:
				t.Errorf("succeeded with %s, want an error", out.String())
			case c.want != "" && err != nil:
				t.Errorf("error: %v", err)
			case c.want != "" && !strings.Contains(out.String(), c.want):
				t.Errorf("output %s, want %s in it", out.String(), c.want)
			}
		})
	}
}
