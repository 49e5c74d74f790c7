package main

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/medshare/medshare/shared/portal"
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
		s := startServe(t, t.TempDir(), nil, "--demo", "--jobs=false")
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
		s := startServe(t, t.TempDir(), nil, "--jobs=false")
		if status, _ := demoIdentities(t, s.url); status != http.StatusNotFound {
			t.Errorf("demo identities without --demo: %d, want 404", status)
		}
		if demoSignInConfig(t, s.url) {
			t.Error("config.json says demo sign-in without --demo")
		}
	})

	t.Run("demo on every address", func(t *testing.T) {
		s := startServe(t, t.TempDir(), nil, "--demo", "--jobs=false", "--addr", "0.0.0.0:0")
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
		// --demo still seeds and prints the identities for the operator.
		demoTokens(t, s.stdout)
	})
}
