package main

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/medshare/medshare/shared/httpapi/portal"
)

// demoIdentities asks a server for its demo identities.
func demoIdentities(t *testing.T, base string) (int, portal.DemoIdentities) {
	t.Helper()
	status, body := call(t, "GET", base+portal.DemoPath, "", nil, nil)
	var ids portal.DemoIdentities
	if status == http.StatusOK {
		if err := json.Unmarshal(body, &ids); err != nil {
			t.Fatalf("demo identities: %v: %s", err, body)
		}
	}
	return status, ids
}

func demoSignInConfig(t *testing.T, base string) bool {
	t.Helper()
	status, body := call(t, "GET", base+portal.ConfigPath, "", nil, nil)
	var cfg portal.Config
	if err := json.Unmarshal(body, &cfg); status != http.StatusOK || err != nil {
		t.Fatalf("config: %d %s", status, body)
	}
	return cfg.DemoSignIn
}

// TestServeDemoSignIn: `serve --demo` on a loopback address lets the portal
// sign in as the demo identities, whose tokens work on the API; without
// --demo, or on an address that is not loopback, the endpoint does not
// exist (404) and the config says so.
func TestServeDemoSignIn(t *testing.T) {
	t.Run("demo on loopback", func(t *testing.T) {
		s := launch(t, t.TempDir(), nil, "--demo", "--jobs=false")
		if page, body := call(t, "GET", s.url+"/", "", nil, nil); page != http.StatusOK || !strings.Contains(string(body), "MedShare") {
			t.Errorf("GET /: %d %s", page, body)
		}
		if !demoSignInConfig(t, s.url) {
			t.Error("config.json says no demo sign-in")
		}
		status, ids := demoIdentities(t, s.url)
		if status != http.StatusOK || ids.AppointmentID != DemoAppointment || len(ids.Identities) != 3 {
			t.Fatalf("demo identities: %d %+v", status, ids)
		}
		for _, id := range ids.Identities {
			// Each token is the identity's own, for the API.
			path := map[string]string{"patient": "/v1/photos", "professional": "/v1/shares", "clinic": "/v1/notifications"}[string(id.Role)]
			if st, body := call(t, "GET", s.url+path, id.Token, nil, nil); st != http.StatusOK {
				t.Errorf("%s's token on %s: %d %s", id.ID, path, st, body)
			}
		}
		// The demo appointment is the patient's and the professional's.
		pat := ids.Identities[0].Token
		if st, body := call(t, "GET", s.url+"/api/appointments/"+ids.AppointmentID+"/chat-images", pat, nil, nil); st != http.StatusOK {
			t.Errorf("the demo patient lists the demo appointment's images: %d %s", st, body)
		}
		// Asked under a name that is not this machine's: refused.
		req, _ := http.NewRequest("GET", s.url+portal.DemoPath, nil)
		req.Host = "attacker.example"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("demo identities under another Host: %d, want 404", resp.StatusCode)
		}
	})

	t.Run("no demo", func(t *testing.T) {
		s := launch(t, t.TempDir(), nil, "--jobs=false")
		if status, _ := demoIdentities(t, s.url); status != http.StatusNotFound {
			t.Errorf("demo identities without --demo: %d, want 404", status)
		}
		if demoSignInConfig(t, s.url) {
			t.Error("config.json says demo sign-in without --demo")
		}
	})

	t.Run("demo on every address", func(t *testing.T) {
		// Plain HTTP off loopback takes --insecure-http, and every
		// interface a public URL.
		s := launch(t, t.TempDir(), nil, "--demo", "--jobs=false", "--addr", "0.0.0.0:0",
			"--insecure-http", "--public-url", "http://medshare.test:8080")
		// Reach it through loopback, under a loopback name: the refusal is
		// the listen address's, not the request's.
		_, port, err := net.SplitHostPort(strings.TrimPrefix(s.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		base := "http://127.0.0.1:" + port
		if status, _ := demoIdentities(t, base); status != http.StatusNotFound {
			t.Errorf("demo identities when listening on 0.0.0.0: %d, want 404", status)
		}
		if demoSignInConfig(t, base) {
			t.Error("config.json says demo sign-in when listening on 0.0.0.0")
		}
		// The blob URLs point at the public URL, which the page's CSP
		// allows beside its own origin.
		resp, err := http.Get(base + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got, want := resp.Header.Get("Content-Security-Policy"), portal.CSP(portal.Origins{Media: []string{"http://medshare.test:8080"}}); got != want {
			t.Errorf("CSP %q, want %q", got, want)
		}
		// --demo still seeds and prints the identities for the operator.
		demoTokens(t, s.stdout)
	})
}

// TestServePortalOverTLS: with --tls-cert and --tls-key the portal is
// served over TLS as the API is, with HSTS (HSTSValue) beside its own
// headers, a CSP whose only origin is the page's own (the https public URL
// is the page's origin), and demo sign-in on loopback; the demo tokens
// work on the API over the same connection.
func TestServePortalOverTLS(t *testing.T) {
	pki := newTestPKI(t)
	srv := launch(t, t.TempDir(), nil, "--demo", "--jobs=false", "--tls-cert", pki.certFile, "--tls-key", pki.keyFile)
	c := pki.tlsClient(tls.VersionTLS12, tls.VersionTLS13, nil)
	get := func(path, token string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.url+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	page, body := get("/", "")
	if page.StatusCode != http.StatusOK || !strings.Contains(string(body), "MedShare") || page.TLS == nil {
		t.Fatalf("GET / over TLS: %d %s", page.StatusCode, body)
	}
	for k, want := range map[string]string{
		"Strict-Transport-Security": HSTSValue,
		"Content-Security-Policy":   portal.CSP(portal.Origins{}),
		"X-Content-Type-Options":    "nosniff",
		"X-Frame-Options":           portal.FrameOptions,
		"Cache-Control":             portal.CacheNone,
	} {
		if got := page.Header.Get(k); got != want {
			t.Errorf("GET /: %s %q, want %q", k, got, want)
		}
	}
	cfg, body := get(portal.ConfigPath, "")
	var conf portal.Config
	if err := json.Unmarshal(body, &conf); cfg.StatusCode != http.StatusOK || err != nil || !conf.DemoSignIn || cfg.Header.Get("Strict-Transport-Security") != HSTSValue {
		t.Errorf("config.json over TLS: %d %s", cfg.StatusCode, body)
	}
	ids, body := get(portal.DemoPath, "")
	var demo portal.DemoIdentities
	if err := json.Unmarshal(body, &demo); ids.StatusCode != http.StatusOK || err != nil || len(demo.Identities) != 3 {
		t.Fatalf("demo identities over TLS: %d %s", ids.StatusCode, body)
	}
	if r, body := get("/v1/photos", demo.Identities[0].Token); r.StatusCode != http.StatusOK {
		t.Errorf("the demo patient's token over TLS: %d %s", r.StatusCode, body)
	}
}

// TestServePortalRateLimits: the portal's answers carry no token, so the
// local server limits them by client address, as it limits the blob URLs
// and the OpenAPI document (and, as those, not on loopback unless asked);
// a refusal is 429 with Retry-After and the portal's own headers, and a
// caller with a valid token is still limited by subject only.
func TestServePortalRateLimits(t *testing.T) {
	tiny := map[string]string{EnvRateLimitIPRPS: "0.001", EnvRateLimitIPBurst: "2"}
	t.Run("by address", func(t *testing.T) {
		env := map[string]string{EnvRateLimitLoopback: "true"}
		for k, v := range tiny {
			env[k] = v
		}
		srv := launch(t, t.TempDir(), env, "--demo", "--jobs=false")
		tok := demoTokens(t, srv.stdout)
		var got []int
		for _, path := range []string{"/", portal.ConfigPath, "/", "/openapi.yaml"} {
			resp, err := http.Get(srv.url + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got = append(got, resp.StatusCode)
			if resp.StatusCode == http.StatusTooManyRequests && path == "/" {
				if resp.Header.Get("Retry-After") == "" || resp.Header.Get("Content-Security-Policy") != portal.CSP(portal.Origins{}) ||
					resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Cache-Control") != portal.CacheNone {
					t.Errorf("refused GET /: headers %v", resp.Header)
				}
			}
		}
		if want := []int{200, 200, 429, 429}; !slices.Equal(got, want) {
			t.Errorf("statuses %v, want %v (the portal's files and the OpenAPI document share the address's budget)", got, want)
		}
		if st, body := call(t, "GET", srv.url+"/v1/photos", tok["PATIENT_TOKEN"], nil, nil); st != http.StatusOK {
			t.Errorf("a valid token after the address's budget is spent: %d %s", st, body)
		}
	})
	t.Run("loopback exempt by default", func(t *testing.T) {
		srv := launch(t, t.TempDir(), tiny, "--jobs=false")
		for i := range 5 {
			if st, body := call(t, "GET", srv.url+"/", "", nil, nil); st != http.StatusOK {
				t.Fatalf("GET / %d: %d %s", i+1, st, body)
			}
		}
	})
}
