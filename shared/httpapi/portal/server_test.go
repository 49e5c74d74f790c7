package portal_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/testenv"
	"github.com/medshare/medshare/shared/httpapi/portal"
)

// TestServedWithTheAPI: the embedded runtime's server (what `medshare
// serve` runs) serves the committed web/dist at / with the portal's
// headers, and the API's routes answer exactly as before.
func TestServedWithTheAPI(t *testing.T) {
	env := testenv.Start(t, core.Config{})
	page := env.Get(env.URL + "/")
	if page.Status != http.StatusOK || !strings.Contains(string(page.Body), "<title>MedShare</title>") {
		t.Fatalf("GET /: %d %s", page.Status, page.Body)
	}
	if got, want := page.Header.Get("Content-Security-Policy"), portal.CSP(portal.Origins{}); got != want {
		t.Errorf("GET /: CSP %q, want %q", got, want)
	}
	for k, want := range map[string]string{
		"Cache-Control": portal.CacheNone, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
		"Cross-Origin-Opener-Policy": "same-origin", "Permissions-Policy": portal.PermissionsPolicy, "Content-Type": "text/html; charset=utf-8",
	} {
		if got := page.Header.Get(k); got != want {
			t.Errorf("GET /: %s %q, want %q", k, got, want)
		}
	}
	cfg := env.Get(env.URL + portal.ConfigPath)
	if cfg.Status != http.StatusOK || string(cfg.Body) != `{"api_base_url":"","auth":{"mode":"token"},"demo_sign_in":false}` {
		t.Errorf("GET /config.json: %d %s", cfg.Status, cfg.Body)
	}

	// The API is unchanged: its answers, its 404 and 405.
	if r := env.Get(env.URL + "/health"); r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Content-Security-Policy") != "" {
		t.Errorf("GET /health: %d %s %v", r.Status, r.Body, r.Header)
	}
	if r := env.Do("GET", "/v1/photos", env.Token("pat-1", core.RolePatient), nil); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"items":[]`) {
		t.Errorf("GET /v1/photos: %d %s", r.Status, r.Body)
	}
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/no/such/page", http.StatusNotFound},
		{"GET", portal.DemoPath, http.StatusNotFound}, // no --demo
		{"POST", "/", http.StatusNotFound},
		{"PATCH", "/v1/photos", http.StatusMethodNotAllowed},
	} {
		r := env.Do(tc.method, tc.path, "", nil)
		if r.Status != tc.status || !strings.Contains(string(r.Body), `"request_id"`) {
			t.Errorf("%s %s: %d %s, want %d with the API's error shape", tc.method, tc.path, r.Status, r.Body, tc.status)
		}
	}
}
