package httpapi_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/testenv"
	"github.com/medshare/medshare/shared/httpapi"
)

// TestNoReadRouteSpendsAView: a view is an authenticated POST by the
// grantee, never a GET, HEAD, preview or prefetch (ARCHITECTURE §2.3). Every
// route of the route table is called by the grantee of a share with views
// left, with the real ids of the share, its access, its photo, a key, a
// notification and a chat image of an appointment both parties take part
// in; every GET route is also called with HEAD, by the grantee and by the
// patient. The share's views_used, read from the store after each call,
// moves only for issue-key, which the route table makes a POST.
func TestNoReadRouteSpendsAView(t *testing.T) {
	forEachRuntime(t, core.Config{}, testNoReadRouteSpendsAView)
}

func testNoReadRouteSpendsAView(t *testing.T, env *testenv.Env) {
	if r := registerAppointment(t, env, appt1, clinic1, patient1, pro1); r.Status != http.StatusCreated {
		t.Fatalf("register appointment: %d %s", r.Status, r.Body)
	}
	imageID, _ := chatImage(t, env, patient1, core.RolePatient, appt1)
	photoID, _ := photo(t, env, patient1, true)
	shareID, accessID, keyID, noteID := sharedWith(t, env, patient1, pro1, photoID)
	ids := map[string]string{
		"photo_id": photoID, "share_id": shareID, "access_id": accessID, "key_id": keyID,
		"notification_id": noteID, "id": imageID, "appointment_id": appt1,
	}
	views := func() int {
		t.Helper()
		sh, err := env.Store.GetShare(t.Context(), shareID)
		if err != nil {
			t.Fatalf("get share: %v", err)
		}
		if sh.MaxViews-sh.ViewsUsed < 2 || sh.StatusAt(env.Clock.Now()) != core.ShareActive {
			t.Fatalf("share %s: %d of %d views used, %s: the test needs an active share with views left", shareID, sh.ViewsUsed, sh.MaxViews, sh.Status)
		}
		return sh.ViewsUsed
	}
	callers := []struct {
		sub  string
		role core.Role
	}{{pro1, core.RoleProfessional}, {patient1, core.RolePatient}}

	t.Run("GET and HEAD", func(t *testing.T) {
		var reads int
		for _, rt := range httpapi.Routes() {
			if rt.Method != http.MethodGet {
				continue
			}
			reads++
			for _, c := range callers {
				tok := env.Token(c.sub, c.role)
				path := fillPath(rt.Path, ids)
				before := views()
				get := env.DoRaw(http.MethodGet, path, jsonHeaders(tok, ""), "")
				head := env.DoRaw(http.MethodHead, path, jsonHeaders(tok, ""), "")
				if after := views(); after != before {
					t.Errorf("%s %s as %s: views_used %d -> %d", rt.Op, path, c.role, before, after)
				}
				want := http.StatusOK
				if !rt.Public() && !rt.Allows(c.role) {
					want = http.StatusForbidden
				}
				if get.Status != want || head.Status != want {
					t.Errorf("%s as %s: GET %d, HEAD %d, want %d (%s)", rt.Op, c.role, get.Status, head.Status, want, get.Body)
				}
			}
		}
		if reads < 8 {
			t.Fatalf("only %d GET routes: the route table changed?", reads)
		}
	})

	t.Run("every route", func(t *testing.T) {
		tok := env.Token(pro1, core.RoleProfessional)
		var spent []string
		for _, rt := range httpapi.Routes() {
			var body string
			if rt.Body == httpapi.BodyRequired {
				body = "{}"
				if rt.Op == "open-access" { // another access on a new device slot
					b, _ := json.Marshal(deviceBody(t))
					body = string(b)
				}
			}
			ct := ""
			if body != "" {
				ct = "application/json"
			}
			before := views()
			r := env.DoRaw(rt.Method, fillPath(rt.Path, ids), jsonHeaders(tok, ct), body)
			if r.Status >= 500 {
				t.Errorf("%s: %d %s", rt.Op, r.Status, r.Body)
			}
			if after := views(); after != before {
				spent = append(spent, rt.RouteKey())
				if after != before+1 {
					t.Errorf("%s: views_used %d -> %d, want one view", rt.Op, before, after)
				}
			}
		}
		issue, _ := httpapi.RouteByOp("issue-key")
		if want := []string{issue.RouteKey()}; !slices.Equal(spent, want) {
			t.Errorf("routes that spent a view: %q, want %q", spent, want)
		}
		if issue.Method != http.MethodPost {
			t.Errorf("issue-key is %s, want a POST", issue.RouteKey())
		}
	})
}
