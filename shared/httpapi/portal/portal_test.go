package portal

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
)

func TestCSP(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Origins
		want string
	}{
		{"own origin only", Origins{},
			"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; " +
				"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"},
		{"a media origin and an API", Origins{Media: []string{"https://b.s3.eu-west-1.amazonaws.com"}, Connect: []string{"https://api.example", "https://auth.example"}},
			"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data: https://b.s3.eu-west-1.amazonaws.com; " +
				"connect-src 'self' https://b.s3.eu-west-1.amazonaws.com https://api.example https://auth.example; " +
				"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"},
		{"an origin twice", Origins{Media: []string{"https://m.example"}, Connect: []string{"https://m.example"}},
			"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data: https://m.example; " +
				"connect-src 'self' https://m.example; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := CSP(tc.o)
			if got != tc.want {
				t.Errorf("CSP:\n got %s\nwant %s", got, tc.want)
			}
			for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*"} {
				if strings.Contains(got, bad) {
					t.Errorf("CSP allows %s: %s", bad, got)
				}
			}
		})
	}
}

func TestCSPMeta(t *testing.T) {
	o := Origins{Media: []string{"https://m.example"}, Connect: []string{"https://api.example"}}
	want := "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data: https://m.example; " +
		"connect-src 'self' https://m.example https://api.example; object-src 'none'; base-uri 'none'; form-action 'self'"
	if got := CSPMeta(o); got != want {
		t.Errorf("CSPMeta:\n got %s\nwant %s", got, want)
	}
	if CSP(o) != want+"; frame-ancestors 'none'" {
		t.Errorf("CSP and CSPMeta differ by more than frame-ancestors: %s", CSP(o))
	}
}

func TestCacheControl(t *testing.T) {
	for path, want := range map[string]string{
		"/":                     CacheNone,
		"/index.html":           CacheNone,
		"/config.json":          CacheNone,
		"/app.js":               CacheNone,
		"/assets/app-3f9a1c.js": CacheImmutable,
		"/assets/":              CacheNone,
		"/assetsx/a.js":         CacheNone,
	} {
		if got := CacheControl(path); got != want {
			t.Errorf("CacheControl(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestDemoAllowed(t *testing.T) {
	for _, tc := range []struct {
		demo bool
		addr net.Addr
		want bool
	}{
		{true, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, true},
		{true, &net.TCPAddr{IP: net.IPv4(127, 1, 2, 3), Port: 8080}, true},
		{true, &net.TCPAddr{IP: net.IPv6loopback, Port: 8080}, true},
		{false, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, false},
		{true, &net.TCPAddr{IP: net.IPv4zero, Port: 8080}, false},
		{true, &net.TCPAddr{IP: net.IPv6unspecified, Port: 8080}, false},
		{true, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 10), Port: 8080}, false},
		{true, &net.UnixAddr{Name: "/tmp/medshare.sock", Net: "unix"}, false},
	} {
		if got := DemoAllowed(tc.demo, tc.addr); got != tc.want {
			t.Errorf("DemoAllowed(%v, %v) = %v, want %v", tc.demo, tc.addr, got, tc.want)
		}
	}
}

// bundle is a small bundle: a page, a hashed asset, a file outside assets.
var bundle = fstest.MapFS{
	"index.html":            {Data: []byte("<!doctype html><title>portal</title>")},
	"assets/app-3f9a1c.js":  {Data: []byte("console.log(1)")},
	"assets/app-3f9a1c.css": {Data: []byte("body{}")},
	"favicon.svg":           {Data: []byte("<svg/>")},
}

// api stands for the API's handler: it answers every request it gets with
// 418, so that a test sees which requests reached it.
var api = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })

func get(t *testing.T, h http.Handler, method, url, host string, header map[string]string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, url, nil)
	if host != "" {
		r.Host = host
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func wantSecurityHeaders(t *testing.T, what string, resp *http.Response, csp string) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy":      csp,
		"X-Content-Type-Options":       "nosniff",
		"Referrer-Policy":              "no-referrer",
		"Cross-Origin-Opener-Policy":   "same-origin",
		"Cross-Origin-Resource-Policy": "same-origin",
		"Permissions-Policy":           PermissionsPolicy,
		"X-Frame-Options":              "DENY",
	}
	got := map[string]string{}
	for k := range want {
		got[k] = resp.Header.Get(k)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s: security headers (-want +got):\n%s", what, diff)
	}
	if !core.ValidID("rq", resp.Header.Get("X-Request-Id")) {
		t.Errorf("%s: request id %q", what, resp.Header.Get("X-Request-Id"))
	}
	for _, feature := range []string{"camera=()", "microphone=()", "geolocation=()"} {
		if !strings.Contains(resp.Header.Get("Permissions-Policy"), feature) {
			t.Errorf("%s: Permissions-Policy does not deny %s", what, feature)
		}
	}
}

func TestWrapServesTheBundle(t *testing.T) {
	media := "http://127.0.0.1:8080"
	h, err := Wrap(api, Options{Files: bundle, Origins: Origins{Media: []string{media}}, Config: Config{Auth: Auth{Mode: AuthToken}}})
	if err != nil {
		t.Fatal(err)
	}
	own := CSP(Origins{})
	withMedia := CSP(Origins{Media: []string{media}})
	for _, tc := range []struct {
		name, path, host string
		status           int
		ctype, cache     string
		body             string
		csp              string
	}{
		{"root is the index", "/", "127.0.0.1:8080", 200, "text/html; charset=utf-8", CacheNone, "<!doctype html><title>portal</title>", own},
		{"the index by name", "/index.html", "127.0.0.1:8080", 200, "text/html; charset=utf-8", CacheNone, "<!doctype html><title>portal</title>", own},
		{"a hashed script", "/assets/app-3f9a1c.js", "127.0.0.1:8080", 200, "text/javascript; charset=utf-8", CacheImmutable, "console.log(1)", own},
		{"a hashed style", "/assets/app-3f9a1c.css", "127.0.0.1:8080", 200, "text/css; charset=utf-8", CacheImmutable, "body{}", own},
		{"a file outside assets", "/favicon.svg", "127.0.0.1:8080", 200, "image/svg+xml", CacheNone, "<svg/>", own},
		{"the config", "/config.json", "127.0.0.1:8080", 200, "application/json", CacheNone, `{"api_base_url":"","auth":{"mode":"token"},"demo_sign_in":false}`, own},
		// Opened under another name, the blob URLs are another origin.
		{"another name for the server", "/", "localhost:8080", 200, "text/html; charset=utf-8", CacheNone, "<!doctype html><title>portal</title>", withMedia},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := get(t, h, "GET", tc.path, tc.host, nil)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || string(body) != tc.body {
				t.Fatalf("GET %s: %d %q, want %d %q", tc.path, resp.StatusCode, body, tc.status, tc.body)
			}
			if got := resp.Header.Get("Content-Type"); got != tc.ctype {
				t.Errorf("Content-Type %q, want %q", got, tc.ctype)
			}
			if got := resp.Header.Get("Cache-Control"); got != tc.cache {
				t.Errorf("Cache-Control %q, want %q", got, tc.cache)
			}
			wantSecurityHeaders(t, "GET "+tc.path, resp, tc.csp)
			head := get(t, h, "HEAD", tc.path, tc.host, nil)
			if b, _ := io.ReadAll(head.Body); head.StatusCode != tc.status || len(b) != 0 || head.Header.Get("Content-Security-Policy") != tc.csp {
				t.Errorf("HEAD %s: %d with %d bytes, CSP %q", tc.path, head.StatusCode, len(b), head.Header.Get("Content-Security-Policy"))
			}
		})
	}

	t.Run("revalidation", func(t *testing.T) {
		first := get(t, h, "GET", "/favicon.svg", "", nil)
		etag := first.Header.Get("ETag")
		if etag == "" {
			t.Fatal("no ETag")
		}
		again := get(t, h, "GET", "/favicon.svg", "", map[string]string{"If-None-Match": etag})
		if again.StatusCode != http.StatusNotModified {
			t.Errorf("GET with the ETag: %d, want 304", again.StatusCode)
		}
	})

	// What is not the portal's reaches the API as it came.
	for _, tc := range []struct{ method, path string }{
		{"GET", "/health"},
		{"GET", "/v1/photos"},
		{"GET", "/unknown/page"},
		{"GET", "/assets/missing.js"},
		{"GET", DemoPath}, // no demo sign-in configured
		{"POST", "/"},
		{"POST", "/index.html"},
		{"DELETE", "/config.json"},
	} {
		if resp := get(t, h, tc.method, tc.path, "", nil); resp.StatusCode != http.StatusTeapot {
			t.Errorf("%s %s: %d, want it passed to the API (418)", tc.method, tc.path, resp.StatusCode)
		}
	}
}

// TestWrapLimitsItsOwnAnswers: Options.Limit wraps the portal's own
// answers (its files, config.json, the demo identities) and nothing that
// goes on to the API, whose answers the local server limits itself; a
// refusal carries the portal's security headers.
func TestWrapLimitsItsOwnAnswers(t *testing.T) {
	var seen []string
	limit := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen = append(seen, r.URL.Path)
			if len(seen) > 3 {
				w.Header().Set("Cache-Control", CacheNone)
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	demo := &Demo{Patient: "p", Professional: "d", Clinic: "c", Appointment: "a",
		Mint: func(sub string, role core.Role) (string, error) { return "token-" + sub, nil }}
	h, err := Wrap(api, Options{Files: bundle, Demo: demo, Limit: limit})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/", http.StatusOK},
		{"/v1/photos", http.StatusTeapot}, // the API's, not counted here
		{"/assets/app-3f9a1c.js", http.StatusOK},
		{ConfigPath, http.StatusOK},
		{"/unknown/page", http.StatusTeapot},
		{DemoPath, http.StatusTooManyRequests},
		{"/favicon.svg", http.StatusTooManyRequests},
	} {
		resp := get(t, h, "GET", tc.path, "127.0.0.1:8080", nil)
		if resp.StatusCode != tc.status {
			t.Errorf("GET %s: %d, want %d", tc.path, resp.StatusCode, tc.status)
		}
		if tc.status == http.StatusTooManyRequests {
			wantSecurityHeaders(t, "refused GET "+tc.path, resp, CSP(Origins{}))
		}
	}
	want := []string{"/", "/assets/app-3f9a1c.js", ConfigPath, DemoPath, "/favicon.svg"}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("answers that went through the limit (-want +got):\n%s", diff)
	}
}

func TestWrapRefusesAFileThatShadowsTheAPI(t *testing.T) {
	for _, name := range []string{"health", "v1/photos", "api/x", "blobs/k", "openapi.yaml", "config.json", "demo/identities"} {
		_, err := Wrap(api, Options{Files: fstest.MapFS{"index.html": {}, name: {Data: []byte("x")}}})
		if err == nil {
			t.Errorf("a bundle with %s: no error", name)
		}
	}
}

func TestDemoIdentities(t *testing.T) {
	minted := map[string]core.Role{}
	demo := &Demo{Patient: "demo-patient", Professional: "demo-professional", Clinic: "demo-clinic", Appointment: "demo-appointment",
		Mint: func(sub string, role core.Role) (string, error) { minted[sub] = role; return "token-of-" + sub, nil }}
	h, err := Wrap(api, Options{Files: bundle, Demo: demo})
	if err != nil {
		t.Fatal(err)
	}
	resp := get(t, h, "GET", "/config.json", "127.0.0.1:8080", nil)
	var cfg Config
	if err := json.NewDecoder(resp.Body).Decode(&cfg); err != nil || !cfg.DemoSignIn {
		t.Errorf("config: %+v %v, want demo_sign_in", cfg, err)
	}
	for _, host := range []string{"127.0.0.1:8080", "localhost:8080", "[::1]:8080", "LOCALHOST", "127.0.0.1"} {
		resp := get(t, h, "GET", DemoPath, host, nil)
		var got DemoIdentities
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
			t.Fatalf("Host %s: %d %v", host, resp.StatusCode, err)
		}
		want := DemoIdentities{AppointmentID: "demo-appointment", Identities: []Identity{
			{core.RolePatient, "demo-patient", "token-of-demo-patient"},
			{core.RoleProfessional, "demo-professional", "token-of-demo-professional"},
			{core.RoleClinic, "demo-clinic", "token-of-demo-clinic"},
		}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Host %s: identities (-want +got):\n%s", host, diff)
		}
		if resp.Header.Get("Cache-Control") != CacheNone {
			t.Errorf("Host %s: the tokens may be cached: %q", host, resp.Header.Get("Cache-Control"))
		}
		wantSecurityHeaders(t, "demo identities", resp, CSP(Origins{}))
	}
	// A name that is not this machine's (a rebound DNS name, a LAN name)
	// gets the API's answer, as without demo sign-in.
	for _, host := range []string{"attacker.example", "attacker.example:8080", "192.0.2.7:8080", "127.0.0.1.nip.io"} {
		if resp := get(t, h, "GET", DemoPath, host, nil); resp.StatusCode != http.StatusTeapot {
			t.Errorf("Host %s: %d, want it passed to the API (418)", host, resp.StatusCode)
		}
	}
}

func TestWithMetaCSP(t *testing.T) {
	policy := CSPMeta(Origins{Connect: []string{"https://api.example"}})
	meta := `<meta http-equiv="Content-Security-Policy" content="` + strings.ReplaceAll(policy, "'", "&#39;") + `">`
	for _, tc := range []struct{ page, want string }{
		{"<!doctype html><html><head><title>x</title></head></html>", "<!doctype html><html><head>" + meta + "<title>x</title></head></html>"},
		{"<HTML><HEAD lang=en>\n<script src=/a.js></script>", "<HTML><HEAD lang=en>" + meta + "\n<script src=/a.js></script>"},
	} {
		got, err := WithMetaCSP([]byte(tc.page), policy)
		if err != nil || string(got) != tc.want {
			t.Errorf("WithMetaCSP(%q):\n got %s (%v)\nwant %s", tc.page, got, err, tc.want)
		}
	}
	for _, page := range []string{"<html><body></body></html>", "<header>no head</header>"} {
		if _, err := WithMetaCSP([]byte(page), policy); err == nil {
			t.Errorf("WithMetaCSP(%q): no error for a page without a head", page)
		}
	}
}
