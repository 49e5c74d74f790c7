package loadtest

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/testenv"
)

// TestRunSmall runs the whole engine against the embedded runtime behind a
// real loopback listener: 20 patients × 2 sessions, 40 viewers, revocations,
// double claims, bursts and 240 activity events (6 a session on average, so
// that the detector warns and revokes some sessions by itself). Every
// invariant must hold and no answer may be a 5xx.
func TestRunSmall(t *testing.T) {
	env := testenv.Start(t, core.Config{})
	cfg := Defaults()
	cfg.BaseURL = env.URL
	cfg.Mint = env.RT.Auth.Mint
	cfg.Patients, cfg.SessionsPerPatient, cfg.Viewers, cfg.ViewsPerSession = 20, 2, 40, 3
	cfg.RevokeFraction, cfg.DoubleClaimFraction, cfg.BurstFraction = 0.25, 0.2, 0.2
	cfg.ActivityReports = 240
	cfg.Concurrency = 16
	cfg.Duration = 60 * time.Second
	cfg.PhotoBytes = 4 << 10
	cfg.Seed = 42

	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	var out bytes.Buffer
	rep.WriteText(&out)
	t.Logf("report:\n%s", out.String())

	if !rep.OK() {
		t.Fatalf("the run failed: %s", rep.Summary())
	}
	if rep.CapHit || rep.Interrupted {
		t.Fatalf("the run did not finish within its cap (cap hit %v, interrupted %v)", rep.CapHit, rep.Interrupted)
	}
	if rep.Sessions != 40 || rep.PatientsReady != 20 {
		t.Errorf("sessions = %d, patients ready = %d; want 40 and 20", rep.Sessions, rep.PatientsReady)
	}
	if rep.Revoked != 10 {
		t.Errorf("revoked = %d, want 10 (25%% of 40)", rep.Revoked)
	}
	// Every session nobody revoked gives max_views views; revoked ones give
	// fewer, but some of them still give some.
	if lo := 3 * (40 - rep.Revoked - rep.DetectorRevoked); rep.Views < lo || rep.Views > 40*3 || rep.KeysIssued < rep.Views {
		t.Errorf("views = %d, keys issued = %d; want %d-120 views and at least as many keys", rep.Views, rep.KeysIssued, lo)
	}
	// Sessions refused before their open lose their activity; the rest is
	// reported, even after a revocation.
	if rep.ActivityPlanned != 240 || rep.ActivityEvents < 200 || rep.ActivityEvents > 240 || rep.ActivityReports < rep.ActivityEvents/5 {
		t.Errorf("activity: %d/%d events in %d reports; want 200-240 of 240 in batches of at most 5",
			rep.ActivityEvents, rep.ActivityPlanned, rep.ActivityReports)
	}
	for _, a := range []string{"none", "warned", "revoked"} {
		if rep.ActivityActions[a] == 0 {
			t.Errorf("no activity answer %q: %v", a, rep.ActivityActions)
		}
	}
	if rep.RevokedByActivity == 0 || rep.DetectorRevoked < rep.RevokedByActivity {
		t.Errorf("detector revocations = %d, told by an activity answer = %d; the plan should provoke some",
			rep.DetectorRevoked, rep.RevokedByActivity)
	}
	if rep.DoubleClaims == 0 || rep.BurstSessions == 0 {
		t.Errorf("double claims = %d, burst sessions = %d: the plan should provoke both", rep.DoubleClaims, rep.BurstSessions)
	}
	for _, i := range rep.Invariants {
		if i.Checked == 0 {
			t.Errorf("invariant %q checked nothing", i.Name)
		}
	}
	ops := map[string]OpStats{}
	for _, o := range rep.Ops {
		ops[o.Op] = o
	}
	for _, op := range []string{"upload-presign", "blob-put", "finalize-upload", "create-session", "open-access", "issue-key", "signed-url", "blob-get", "report-activity", "revoke-session", "get-session", "verify-audit"} {
		if o := ops[op]; o.Requests == 0 || o.P50 <= 0 || o.P99 < o.P50 || o.PerSecond <= 0 {
			t.Errorf("%s: %+v, want requests with latencies and a rate", op, o)
		}
	}
	if got := ops["issue-key"].Errors["410 views_exhausted"]; got == 0 {
		t.Errorf("issue-key: no 410 views_exhausted; every unrevoked session should end with one")
	}
	if o := ops["report-activity"]; o.OK != o.Requests || o.Requests != rep.ActivityReports {
		t.Errorf("report-activity: %d requests, %d ok; want all %d reports answered 200", o.Requests, o.OK, rep.ActivityReports)
	}
	for _, want := range []string{"operation", "issue-key", "report-activity", "activity: ", "invariants:", "PASS"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestCheckURL(t *testing.T) {
	for _, c := range []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8080", true},
		{"http://127.8.9.10:80/", true},
		{"https://localhost:8443", true},
		{"http://LOCALHOST:8080", true},
		{"http://[::1]:8080", true},
		{"http://[::ffff:127.0.0.1]:8080", true},
		{"http://example.com", false},
		{"http://localhost.example.com:8080", false},
		{"http://127.0.0.1.nip.io:8080", false},
		{"http://10.0.0.1:8080", false},
		{"http://0.0.0.0:8080", false},
		{"http://[::]:8080", false},
		{"http://2130706433/", false}, // 127.0.0.1 as a number: not a literal we accept
		{"http://127.1/", false},
		{"ftp://127.0.0.1/", false},
		{"http://user@127.0.0.1/", false},
		{"127.0.0.1:8080", false},
		{"", false},
	} {
		t.Run(c.url, func(t *testing.T) {
			err := CheckURL(c.url)
			if (err == nil) != c.ok {
				t.Fatalf("CheckURL(%q) = %v, want ok=%v", c.url, err, c.ok)
			}
		})
	}
}

// TestTransportStaysOnLoopback: the server hands out URLs (uploads,
// downloads) and could redirect; the transport refuses any that leaves
// loopback, before any connection, and a refused request costs nothing.
func TestTransportStaysOnLoopback(t *testing.T) {
	tr := newTransport(2, time.Second, 10, newStats())
	hc := &http.Client{Transport: tr}
	for _, u := range []string{"http://192.0.2.1/blobs/x", "http://example.com/", "http://[2001:db8::1]/"} {
		_, err := hc.Get(u)
		if !errors.Is(err, ErrNotLoopback) {
			t.Errorf("GET %s: %v, want ErrNotLoopback", u, err)
		}
	}
	if got := tr.budget.Load(); got != 10 {
		t.Errorf("budget = %d after refused requests, want 10", got)
	}
	if err := dialLoopbackOnly("tcp", "192.0.2.1:80", nil); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("dial control let 192.0.2.1 through: %v", err)
	}
	if err := dialLoopbackOnly("tcp", "[::1]:80", nil); err != nil {
		t.Errorf("dial control refused ::1: %v", err)
	}
}

func TestRunRefuses(t *testing.T) {
	mint := func(string, core.Role, time.Duration) (string, error) { return "t", nil }
	for _, c := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"remote url", func(c *Config) { c.BaseURL = "http://192.0.2.1:8080" }, "loopback"},
		{"no minter", func(c *Config) { c.Mint = nil }, "minter"},
		{"no viewers", func(c *Config) { c.Viewers = 0 }, "viewers"},
		{"fraction", func(c *Config) { c.RevokeFraction = 1.5 }, "revoke-fraction"},
		{"no cap", func(c *Config) { c.Duration = 0 }, "duration"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := Defaults()
			cfg.Mint = mint
			c.edit(&cfg)
			_, err := Run(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Run: %v, want an error about %s", err, c.want)
			}
		})
	}
}

// TestBudget: the plan's budget bounds the requests; past it the transport
// refuses, so even a misbehaving engine stops.
func TestBudget(t *testing.T) {
	cfg := Config{Patients: 10, SessionsPerPatient: 2, ViewsPerSession: 3}
	// 2 + 10×(6+2) + 20×(1+4+6+3) + 20 + 20+10
	if got, want := cfg.budget(), int64(2+80+280+20+30); got != want {
		t.Errorf("budget = %d, want %d", got, want)
	}
	env := testenv.Start(t, core.Config{})
	tr := newTransport(2, 5*time.Second, 3, newStats())
	cl := &client.Client{BaseURL: env.URL, HTTP: &http.Client{Transport: tr}}
	var errs []error
	for range 5 {
		errs = append(errs, cl.Do(context.Background(), "GET", "/health", nil, nil, nil))
	}
	for i, err := range errs {
		if want := i >= 3; errors.Is(err, ErrBudget) != want {
			t.Errorf("request %d: %v, want budget refusal %v", i, err, want)
		}
	}
	if tr.refused.Load() != 2 {
		t.Errorf("refused = %d, want 2", tr.refused.Load())
	}
}

// TestInvariantsCatchViolations feeds the checker a run in which the server
// misbehaved every way the invariants describe, so that a silent checker
// cannot pass for a correct server.
func TestInvariantsCatchViolations(t *testing.T) {
	now := time.Now()
	p := &patient{id: "p1", started: true, verify: &verification{Valid: false, Records: 7, FirstBadSeq: 4, Problem: "hash mismatch"}}
	p2 := &patient{id: "p2", started: true, checkErr: errors.New("timeout")}
	over := &session{id: "sh_over", patient: p, maxViews: 3, issued: 4, final: &client.Share{ViewsUsed: 4, MaxViews: 3, Status: "active"}}
	drift := &session{id: "sh_drift", patient: p, maxViews: 3, issued: 1, final: &client.Share{ViewsUsed: 2, MaxViews: 3, Status: "active"}}
	late := &session{
		id: "sh_late", patient: p, maxViews: 3, issued: 2, revokeReturned: now,
		final: &client.Share{ViewsUsed: 2, MaxViews: 3, Status: "active"},
		successes: []success{
			{"issue-key", "ek_early", now.Add(-time.Millisecond)}, // before the revoke returned: allowed
			{"signed-url", "ek_late", now.Add(time.Millisecond)},  // after: a violation
		},
	}
	unread := &session{id: "sh_unread", patient: p, maxViews: 3, checkErr: errors.New("404")}
	unsure := &session{id: "sh_unsure", patient: p, maxViews: 3, issued: 1, issueUnknown: 1, final: &client.Share{ViewsUsed: 2, MaxViews: 3}}
	// Activity: an access whose answers go wrong every way, a session an
	// activity answer called revoked that reads active and was granted a key
	// after, one refused session_revoked that reads active.
	noisy := &session{
		id: "sh_noisy", patient: p, maxViews: 3, revokedAnswerAt: now,
		final:     &client.Share{MaxViews: 3, Status: "active"},
		successes: []success{{"issue-key", "ek_after_auto", now.Add(time.Millisecond)}}, // after the answer: a violation
		reports: []activityReport{
			{delta: 5, lo: 5, hi: 5, prev: -1, score: 5, action: "none"},                        // right
			{delta: 40, screenshot: true, lo: 45, hi: 45, prev: 5, score: 30, action: "warned"}, // score below the weights
			{delta: 5, lo: 20, hi: 80, prev: 60, score: 50, action: "warned"},                   // within bounds, but went down
			{delta: 30, lo: 110, hi: 110, prev: 50, score: 110, action: "warned"},               // >= 100 and not revoked
			{delta: 5, lo: 115, hi: 115, prev: 110, score: 115, action: "revoked", end: now},    // right
		},
	}
	quiet := &session{id: "sh_quiet", patient: p, maxViews: 3, final: &client.Share{MaxViews: 3, Status: "active"},
		reports: []activityReport{{delta: 5, lo: 5, hi: 5, prev: -1, score: 5, action: "revoked"}}} // revoked at 5, no patient revoke
	byPatient := &session{id: "sh_by_patient", patient: p, maxViews: 3, revokeTried: true, final: &client.Share{MaxViews: 3, Status: "revoked"},
		reports: []activityReport{{delta: 5, lo: 5, hi: 5, prev: -1, score: 5, action: "revoked"}}} // the patient revoked it: right
	refused := &session{id: "sh_refused", patient: p, maxViews: 3, revokedRefusals: 2, final: &client.Share{MaxViews: 3, Status: "active"}}
	e := &engine{
		sessions: []*session{over, drift, late, unread, unsure, noisy, quiet, byPatient, refused},
		patients: []*patient{p, p2},
		keys: map[string]*keyRecord{
			"ek_twice": {session: drift, claims: 2, double: true},
			"ek_once":  {session: drift, claims: 1},
		},
		nViewFails: 1, viewFails: []string{"photo differs"},
		nProblems: 1, problems: []string{"claim: 404 not_found"},
	}
	ops := []OpStats{{Op: "issue-key", Requests: 10, Status5xx: 1, Errors: map[string]int{"500 internal": 1}}}
	want := map[string]int{
		"views_used <= max_views":        2, // over, unread
		"keys issued per session":        3, // over (> max), drift (1 ≠ 2), unread
		"no key claimed twice":           1,
		"no open, issue or claim":        2, // late, noisy
		"a revoked session reads":        1,
		"every claimed key":              1,
		"every patient's audit":          2,
		"every activity answer's score":  2, // noisy: below the weights, went down
		"every activity answer's action": 2, // noisy: 110 warned; quiet: revoked at 5
		"a session the server called":    2, // noisy, refused
		"no 5xx":                         1,
		"no unexpected answer":           1,
	}
	got := e.invariants(ops)
	if len(got) != len(want) {
		t.Fatalf("%d invariants, want %d", len(got), len(want))
	}
	for _, inv := range got {
		found := false
		for prefix, n := range want {
			if strings.HasPrefix(inv.Name, prefix) {
				found = true
				if inv.Violations != n {
					t.Errorf("%s: %d violations, want %d; examples %q", inv.Name, inv.Violations, n, inv.Examples)
				}
			}
		}
		if !found {
			t.Errorf("unexpected invariant %q", inv.Name)
		}
	}
}

// TestRunStopsAtCap: a plan far too big for its duration stops by itself at
// the cap, says so, and does not pass checks it had no time to make.
func TestRunStopsAtCap(t *testing.T) {
	env := testenv.Start(t, core.Config{})
	cfg := Defaults()
	cfg.BaseURL, cfg.Mint = env.URL, env.RT.Auth.Mint
	cfg.Patients, cfg.Viewers, cfg.Concurrency, cfg.PhotoBytes = 400, 400, 8, 1024
	cfg.Duration = 1500 * time.Millisecond
	// No assertion on how long Run took (a busy machine makes any bound
	// flaky): a cap that did not stop the run shows as CapHit false and as
	// every session created.
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !rep.CapHit {
		t.Errorf("CapHit = false; the plan cannot finish in %v", cfg.Duration)
	}
	if rep.Sessions >= 400*5 {
		t.Errorf("%d sessions: the cap did not stop the setup", rep.Sessions)
	}
	if rep.Status5xx() != 0 {
		t.Errorf("%d 5xx answers", rep.Status5xx())
	}
	var out bytes.Buffer
	rep.WriteText(&out)
	t.Logf("report:\n%s", out.String())
	if !strings.Contains(out.String(), "stopped by the duration cap") {
		t.Errorf("the report does not say the cap stopped the run:\n%s", out.String())
	}
}
