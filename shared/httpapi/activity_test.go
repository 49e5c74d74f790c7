package httpapi_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/testenv"
)

type activityResult struct {
	Action string `json:"action"`
	Score  int    `json:"score"`
}

func report(t *testing.T, c *client.Client, accessID string, types ...string) (activityResult, error) {
	t.Helper()
	var events []map[string]any
	for _, typ := range types {
		events = append(events, map[string]any{"type": typ, "at": time.Now().UTC(), "details": "planted detail"})
	}
	var r activityResult
	err := c.Do(context.Background(), "POST", "/v1/access/"+accessID+"/activity", nil, map[string]any{"events": events}, &r)
	return r, err
}

// openShared shares one photo of patient1 with pro1 under a screenshot
// policy and opens an access on a fresh device.
func openShared(t *testing.T, env *testenv.Env, policy string) (pat, pro party, shareID, accessID, photoID string) {
	t.Helper()
	pat, _, pro, _ = parties(env)
	id := pat.upload(t, "CROWN", "image/png", []byte("activity photo"), nil)
	sh, _, a := openShare(t, pat, pro, client.ShareRequest{ProfessionalID: pro1, PhotoIDs: []string{id}, ExpiresIn: 600, MaxViews: 20, ScreenshotPolicy: policy}, core.KEMX25519)
	return pat, pro, sh.ShareID, a.AccessID, id
}

func notificationTypes(t *testing.T, p party) string {
	t.Helper()
	var inbox struct {
		Items []struct{ Type string } `json:"items"`
	}
	if err := p.c.Do(context.Background(), "GET", "/v1/notifications", nil, nil, &inbox); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range inbox.Items {
		out = append(out, it.Type)
	}
	return strings.Join(out, ",")
}

// TestSuspiciousActivity: reports from the grantee's client and the patient
// score an access, the screenshot policy decides, the threshold revokes; a
// stranger can never move a score.
func TestSuspiciousActivity(t *testing.T) { forEachRuntime(t, core.Config{}, testSuspiciousActivity) }

func testSuspiciousActivity(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	t.Run("warn policy, then the threshold revokes", func(t *testing.T) {
		pat, pro, sh, ac, photo := openShared(t, env, "warn")
		_, patB, _, other := parties(env)
		if _, err := report(t, other.c, ac, "screen_recording"); client.Code(err) != core.CodeNotFound {
			t.Errorf("another professional's report: %v, want not_found", err)
		}
		if _, err := report(t, patB.c, ac, "unexpected_access"); client.Code(err) != core.CodeNotFound {
			t.Errorf("another patient's report: %v, want not_found", err)
		}
		r, err := report(t, pro.c, ac, "screenshot")
		if err != nil || r != (activityResult{core.ActionWarned, 40}) {
			t.Fatalf("screenshot under warn: %+v %v, want warned 40 (strangers moved nothing)", r, err)
		}
		if got := notificationTypes(t, pat); !strings.HasPrefix(got, "suspicious_activity,") {
			t.Errorf("patient's notifications = %s, want a suspicious_activity first", got)
		}
		r, err = report(t, pro.c, ac, "screen_recording")
		if err != nil || r != (activityResult{core.ActionRevoked, 100}) {
			t.Fatalf("screen recording: %+v %v, want revoked 100", r, err)
		}
		if got, _ := pat.c.GetShare(ctx, sh); got.Status != "revoked" {
			t.Errorf("share status %q, want revoked", got.Status)
		}
		_, err = pro.c.IssueKey(ctx, ac, photo)
		wantCode(t, "issue after auto-revoke", err, core.CodeSessionRevoked)
		if got := notificationTypes(t, pro); !strings.HasPrefix(got, "session_revoked") {
			t.Errorf("grantee's notifications = %s, want session_revoked first", got)
		}
		var auto bool
		for _, r := range history(t, env, patient1, core.RolePatient) {
			if r.Action == string(core.AuditShareRevoke) && r.ActorID == core.DetectorID && r.Reason == "auto_revoked" {
				auto = true
			}
		}
		if !auto {
			t.Error("no audit record of the detector's revocation")
		}
		// Once revoked, reports score nothing and write nothing.
		unmoved := chainUnmoved(t, env, patient1)
		before := notificationTypes(t, pat)
		if r, err := report(t, pro.c, ac, "screen_recording", "copy_attempt"); err != nil || r != (activityResult{core.ActionRevoked, 100}) {
			t.Errorf("report on a revoked session: %+v %v, want revoked 100", r, err)
		}
		unmoved("on a report on a revoked session")
		if after := notificationTypes(t, pat); after != before {
			t.Errorf("a report on a revoked session notified the patient: %s", after)
		}
		if strings.Contains(env.Logs.String(), "planted detail") {
			t.Error("event details reached the logs")
		}
	})
	t.Run("revoke policy", func(t *testing.T) {
		_, pro, _, ac, _ := openShared(t, env, "revoke")
		if r, err := report(t, pro.c, ac, "screenshot"); err != nil || r.Action != core.ActionRevoked {
			t.Errorf("screenshot under revoke: %+v %v, want revoked", r, err)
		}
	})
	t.Run("allow policy", func(t *testing.T) {
		_, pro, _, ac, _ := openShared(t, env, "allow")
		if r, err := report(t, pro.c, ac, "screenshot", "screenshot"); err != nil || r != (activityResult{core.ActionNone, 0}) {
			t.Errorf("screenshots under allow: %+v %v, want none 0", r, err)
		}
	})
	t.Run("the patient reports an unexpected access", func(t *testing.T) {
		pat, pro, sh, ac, _ := openShared(t, env, "warn")
		if _, err := report(t, pat.c, ac, "screenshot"); client.Code(err) != core.CodeInvalid {
			t.Errorf("the patient reporting a screenshot: %v, want invalid_request", err)
		}
		if r, err := report(t, pat.c, ac, "unexpected_access"); err != nil || r.Action != core.ActionRevoked {
			t.Errorf("unexpected access: %+v %v, want revoked", r, err)
		}
		_, err := pro.c.OpenAccess(ctx, sh, mustDevice(t))
		wantCode(t, "open after the patient's report", err, core.CodeSessionRevoked)
	})
	t.Run("detectors: another IP, a failed claim", func(t *testing.T) {
		_, pro, _, ac, photo := openShared(t, env, "warn")
		k := pro.issue(t, ac, photo)
		pro.claim(t, k.KeyID)
		_, err := pro.c.ClaimKey(ctx, k.KeyID)
		wantCode(t, "second claim", err, core.CodeKeyUsed) // +15
		elsewhere := client.New(env.URL, env.Token(pro1, core.RoleProfessional))
		elsewhere.HTTP = &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
			LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}}
		// Two keys from 127.0.0.2: the IP change counts once per IP per
		// access, +30 for the first key and nothing for the second.
		for i := range 2 {
			if _, err := elsewhere.IssueKey(ctx, ac, photo); err != nil {
				t.Fatalf("issue %d from another IP: %v", i+1, err)
			}
		}
		if r, err := report(t, pro.c, ac, "app_backgrounded"); err != nil || r.Score != 15+30+5 {
			t.Errorf("score after a failed claim, two keys from another IP and a backgrounding: %+v %v, want 50", r, err)
		}
	})
}

func mustDevice(t *testing.T) *client.Device {
	t.Helper()
	d, err := client.NewDevice(core.KEMX25519)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestKeyBurst: more issue-key calls on one access in a minute than
// core.BurstLimit is a burst: the detector scores it once per window, calls
// by anyone but the grantee do not count, and a burst on an access already
// under suspicion revokes the session.
func TestKeyBurst(t *testing.T) { forEachRuntime(t, core.Config{}, testKeyBurst) }

func testKeyBurst(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	pat, patB, pro, stranger := parties(env)
	// open shares one photo with room for many views and opens an access.
	open := func() (shareID, accessID, photoID string) {
		t.Helper()
		id := pat.upload(t, "CROWN", "image/png", []byte("burst photo"), nil)
		sh, err := pat.c.CreateShare(ctx, client.ShareRequest{ProfessionalID: pro1, PhotoIDs: []string{id}, ExpiresIn: 3600, MaxViews: 100, ScreenshotPolicy: "warn"}, "")
		if err != nil {
			t.Fatal(err)
		}
		a, err := pro.c.OpenAccess(ctx, sh.ShareID, mustDevice(t))
		if err != nil {
			t.Fatal(err)
		}
		return sh.ShareID, a.AccessID, id
	}
	// The detector counts per minute of the service's clock: start each
	// burst at the start of a minute so that it stays in one window.
	nextWindow := func() {
		s := env.Clock.Now().Second()
		env.Clock.Advance(time.Duration(61-s) * time.Second)
	}
	issue := func(n int, ac, photo string) {
		t.Helper()
		for i := range n {
			if _, err := pro.c.IssueKey(ctx, ac, photo); err != nil {
				t.Fatalf("issue %d of %d: %v", i+1, n, err)
			}
		}
	}
	score := func(ac string) int {
		t.Helper()
		r, err := report(t, pro.c, ac, "app_backgrounded") // +5
		if err != nil {
			t.Fatal(err)
		}
		return r.Score
	}
	limit := core.BurstLimit(core.Access{Photos: make([]core.SharedPhoto, 1)})
	bursts := func() (n int) {
		for _, r := range history(t, env, patient1, core.RolePatient) {
			if r.Action == string(core.AuditActivityReport) && r.ActorID == core.DetectorID && r.Reason == core.SignalKeyBurst {
				n++
			}
		}
		return n
	}

	t.Run("scored once per window", func(t *testing.T) {
		_, ac, photo := open()
		nextWindow()
		issue(limit, ac, photo)
		if got := score(ac); got != 5 {
			t.Fatalf("score after %d keys in a minute: %d, want 5 (no burst)", limit, got)
		}
		issue(3, ac, photo) // past the limit: one burst, counted once
		if got := score(ac); got != 5+30+5 {
			t.Errorf("score after a burst: %d, want 40", got)
		}
		nextWindow()
		issue(limit+1, ac, photo) // a burst in the next window counts again
		if got := score(ac); got != 40+30+5 {
			t.Errorf("score after a second burst: %d, want 75", got)
		}
		if n := bursts(); n != 2 {
			t.Errorf("%d key_burst records by the detector, want 2", n)
		}
	})
	t.Run("only the grantee's calls count", func(t *testing.T) {
		_, ac, photo := open()
		before := bursts()
		nextWindow()
		for _, c := range []*client.Client{stranger.c, pat.c, patB.c} {
			for range limit + 1 {
				if _, err := c.IssueKey(ctx, ac, photo); client.Code(err) != core.CodeNotFound && client.Code(err) != core.CodeForbidden {
					t.Fatalf("issue-key by another party: %v, want not_found or forbidden", err)
				}
			}
		}
		issue(limit, ac, photo)
		if got := score(ac); got != 5 {
			t.Errorf("score after others' calls and %d of the grantee's: %d, want 5 (no burst)", limit, got)
		}
		if n := bursts(); n != before {
			t.Errorf("others' calls raised %d key_burst signals", n-before)
		}
	})
	t.Run("a burst on a suspect access revokes", func(t *testing.T) {
		sh, ac, photo := open()
		if r, err := report(t, pro.c, ac, "screen_recording", "copy_attempt"); err != nil || r.Score != 90 {
			t.Fatalf("screen recording and copy: %+v %v, want 90", r, err)
		}
		nextWindow()
		issue(limit, ac, photo)
		_, err := pro.c.IssueKey(ctx, ac, photo)
		wantCode(t, "the key past the limit", err, core.CodeSessionRevoked)
		if got, _ := pat.c.GetShare(ctx, sh); got.Status != "revoked" {
			t.Errorf("share status %q, want revoked", got.Status)
		}
		if got := notificationTypes(t, pro); !strings.HasPrefix(got, "session_revoked") {
			t.Errorf("grantee's notifications = %s, want session_revoked first", got)
		}
	})
}
