package loadtest

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Invariant is the result of one check over the whole run.
type Invariant struct {
	Name       string
	Checked    int // items checked: sessions, keys, requests, patients
	Violations int
	Examples   []string // up to 10
}

// OK reports whether nothing violated the invariant.
func (i Invariant) OK() bool { return i.Violations == 0 }

func (i *Invariant) violate(format string, args ...any) {
	i.Violations++
	if len(i.Examples) < maxExamples {
		i.Examples = append(i.Examples, fmt.Sprintf(format, args...))
	}
}

// Report is what a run did and found.
type Report struct {
	Config Config
	RunID  string

	Started               time.Time
	Setup, Viewing, Check time.Duration
	LoadRequests          int  // requests of the setup and viewing phases
	CapHit                bool // the duration cap stopped the load
	Interrupted           bool // the caller's context ended the run
	BudgetRefused         int64

	PatientsReady, Photos            int
	Sessions, PlannedSessions        int
	ViewersWithSessions              int
	KeysIssued, Views                int
	Revoked                          int // revokes that answered 200
	RevokedInSession                 int // of which planned inside their session's views
	BurstSessions                    int
	DoubleClaims, DoubleClaimWinners int
	NoAnswer                         int // requests without an answer while the run was not stopping

	ActivityPlanned, ActivityEvents int            // events planned; events in reports sent
	ActivityReports                 int            // reports sent
	ActivityActions                 map[string]int // answers 200 by action
	RevokedByActivity               int            // sessions an activity answer called revoked, their patient's revoke never tried
	DetectorRevoked                 int            // sessions that read revoked, their patient's revoke never tried

	Ops        []OpStats
	Invariants []Invariant
}

// Status5xx counts the 5xx answers of the run.
func (r *Report) Status5xx() int {
	n := 0
	for _, o := range r.Ops {
		n += o.Status5xx
	}
	return n
}

// Violations counts the violations of every invariant.
func (r *Report) Violations() int {
	n := 0
	for _, i := range r.Invariants {
		n += i.Violations
	}
	return n
}

// OK reports whether every invariant held and no request got a 5xx.
func (r *Report) OK() bool { return r.Violations() == 0 && r.Status5xx() == 0 }

// Summary is one line: the verdict and its counts.
func (r *Report) Summary() string {
	var failed []string
	for _, i := range r.Invariants {
		if !i.OK() {
			failed = append(failed, i.Name)
		}
	}
	verdict := "PASS"
	if !r.OK() {
		verdict = "FAIL"
	}
	s := fmt.Sprintf("%s: %d of %d invariants held, %d violation(s), %d 5xx answer(s)",
		verdict, len(r.Invariants)-len(failed), len(r.Invariants), r.Violations(), r.Status5xx())
	if len(failed) > 0 {
		s += "; failed: " + strings.Join(failed, "; ")
	}
	return s
}

// report gathers the figures and evaluates the invariants.
func (e *engine) report() *Report {
	r := &Report{Config: e.cfg, RunID: e.runID, Ops: e.st.snapshot(), BudgetRefused: e.tr.refused.Load()}
	r.Config.Mint, r.Config.Progress = nil, nil
	r.PlannedSessions = e.cfg.Patients * e.cfg.SessionsPerPatient
	viewers := map[int]bool{}
	for _, p := range e.patients {
		r.Photos += len(p.photos)
		if len(p.photos) > 0 && len(p.sessions) == e.cfg.SessionsPerPatient {
			r.PatientsReady++
		}
	}
	r.ActivityPlanned = e.activityPlanned
	r.ActivityEvents = int(e.activitySent.Load())
	r.ActivityReports = int(e.reportsSent.Load())
	r.ActivityActions = map[string]int{}
	for _, s := range e.sessions {
		for _, a := range s.reports {
			r.ActivityActions[a.action]++
		}
		if !s.revokeTried {
			if !s.revokedAnswerAt.IsZero() {
				r.RevokedByActivity++
			}
			if s.final != nil && s.final.Status == "revoked" {
				r.DetectorRevoked++
			}
		}
		r.Sessions++
		viewers[s.viewer] = true
		r.KeysIssued += s.issued
		r.Views += s.views
		if !s.revokeReturned.IsZero() {
			r.Revoked++
			if s.plan == revokeInSession {
				r.RevokedInSession++
			}
		}
		if s.burst {
			r.BurstSessions++
		}
	}
	r.ViewersWithSessions = len(viewers)
	for _, k := range e.keys {
		if k.double {
			r.DoubleClaims++
			if k.claims == 1 {
				r.DoubleClaimWinners++
			}
		}
	}
	r.NoAnswer = e.noAnswer
	r.Invariants = e.invariants(r.Ops)
	return r
}

// invariants evaluates ARCHITECTURE.md §2 on what the run recorded and what the
// server reported in the check phase.
func (e *engine) invariants(ops []OpStats) []Invariant {
	viewsCap := Invariant{Name: "views_used <= max_views on every session (GET /v1/shares/{id} as the patient)"}
	issued := Invariant{Name: "keys issued per session = views_used <= max_views"}
	claims := Invariant{Name: "no key claimed twice (granted claims per key id <= 1)"}
	afterRevoke := Invariant{Name: "no open, issue or claim granted that started after its session's revoke returned (the patient's revoke, or an activity answer revoked)"}
	revoked := Invariant{Name: "a revoked session reads revoked"}
	score := Invariant{Name: "every activity answer's score is exact and never goes down (the access's reported weights + 15 per claim refused key_used; a revoked session's score stays put)"}
	action := Invariant{Name: "every activity answer's action fits its score (revoked at >= 100 or on a patient-revoked session, else warned at >= 50 or with a screenshot, else none)"}
	serverRevoked := Invariant{Name: "a session the server called revoked (activity answer revoked, 410 session_revoked) reads revoked"}
	photos := Invariant{Name: "every claimed key gives back the original photo (download, open, decrypt, compare)"}
	audit := Invariant{Name: "every patient's audit chain verifies (GET /v1/audit/verify: valid)"}
	no5xx := Invariant{Name: "no 5xx answer"}
	expected := Invariant{Name: "no unexpected answer (anything but 2xx and the refusals the plan provokes)"}

	for _, s := range e.sessions {
		s.mu.Lock()
		viewsCap.Checked++
		issued.Checked++
		if s.final == nil {
			viewsCap.violate("session %s could not be read: %v", s.id, s.checkErr)
			issued.violate("session %s could not be read: %v", s.id, s.checkErr)
		} else {
			used, maxv := s.final.ViewsUsed, s.final.MaxViews
			if used > maxv {
				viewsCap.violate("session %s: views_used %d > max_views %d", s.id, used, maxv)
			}
			if maxv != s.maxViews {
				viewsCap.violate("session %s: max_views %d, created with %d", s.id, maxv, s.maxViews)
			}
			switch {
			case s.issued > s.maxViews:
				issued.violate("session %s: %d keys issued > max_views %d", s.id, s.issued, s.maxViews)
			case s.issueUnknown == 0 && s.issued != used:
				issued.violate("session %s: %d keys issued, views_used %d", s.id, s.issued, used)
			case s.issueUnknown > 0 && (used < s.issued || used > s.issued+s.issueUnknown):
				issued.violate("session %s: %d keys issued and %d unanswered, views_used %d", s.id, s.issued, s.issueUnknown, used)
			}
		}
		if !s.revokeReturned.IsZero() {
			revoked.Checked++
			if s.final != nil && s.final.Status != "revoked" {
				revoked.violate("session %s: revoked at %s, reads %q", s.id, s.revokeReturned.Format(time.RFC3339Nano), s.final.Status)
			} else if s.final == nil {
				revoked.violate("session %s could not be read: %v", s.id, s.checkErr)
			}
		}
		if seen := s.revokeSeen(); !seen.IsZero() {
			afterRevoke.Checked++
			by := "the revoke"
			if seen.Equal(s.revokedAnswerAt) {
				by = "an activity answer said revoked"
			}
			for _, g := range s.successes {
				if g.start.After(seen) {
					afterRevoke.violate("session %s: %s %s granted; its request started %v after %s",
						s.id, g.op, g.id, g.start.Sub(seen), by)
				}
			}
		}
		if !s.revokedAnswerAt.IsZero() || s.revokedRefusals > 0 {
			serverRevoked.Checked++
			why := fmt.Sprintf("%d× 410 session_revoked", s.revokedRefusals)
			if !s.revokedAnswerAt.IsZero() {
				why = "an activity answer said revoked at " + s.revokedAnswerAt.Format(time.RFC3339Nano)
			}
			switch {
			case s.final == nil:
				serverRevoked.violate("session %s could not be read: %v", s.id, s.checkErr)
			case s.final.Status != "revoked":
				serverRevoked.violate("session %s: %s, reads %q", s.id, why, s.final.Status)
			}
		}
		for i, a := range s.reports {
			score.Checked++
			action.Checked++
			switch {
			case a.action == actionRevoked:
				// A revoked session scores nothing more (the server records no
				// signal once there is nothing left to protect): its score
				// stands where it was, never above what was reported.
				if a.score > a.hi || (a.prev >= 0 && a.score < a.prev) {
					score.violate("session %s: report %d (+%d) answered revoked with score %d, want %d at most and at least %d", s.id, i+1, a.delta, a.score, a.hi, a.prev)
				}
			case a.score < a.lo || a.score > a.hi:
				want := strconv.Itoa(a.lo)
				if a.hi != a.lo {
					want = fmt.Sprintf("%d-%d", a.lo, a.hi)
				}
				score.violate("session %s: report %d (+%d) answered score %d, want %s", s.id, i+1, a.delta, a.score, want)
			case a.prev >= 0 && a.score < a.prev+a.delta:
				score.violate("session %s: report %d (+%d) answered score %d after %d", s.id, i+1, a.delta, a.score, a.prev)
			}
			var want []string
			switch {
			case a.score >= revokeScore:
				want = []string{actionRevoked}
			case s.revokeTried:
				// The patient's revoke may have landed before the report.
				want = []string{actionRevoked, actionWarned, actionNone}
				if !a.screenshot && a.score < warnScore {
					want = []string{actionRevoked, actionNone}
				}
			case a.screenshot || a.score >= warnScore:
				want = []string{actionWarned}
			default:
				want = []string{actionNone}
			}
			if !slices.Contains(want, a.action) {
				action.violate("session %s: report %d (+%d, screenshot %v) answered %q with score %d, want %s",
					s.id, i+1, a.delta, a.screenshot, a.action, a.score, strings.Join(want, " or "))
			}
		}
		s.mu.Unlock()
	}

	e.mu.Lock()
	ids := make([]string, 0, len(e.keys))
	for id := range e.keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		k := e.keys[id]
		claims.Checked++
		if k.claims > 1 {
			claims.violate("key %s of session %s: claimed %d times", id, k.session.id, k.claims)
		}
		if k.claims == 1 {
			photos.Checked++
		}
	}
	photos.Violations = e.nViewFails
	photos.Examples = slices.Clone(e.viewFails)
	expected.Violations = e.nProblems
	expected.Examples = slices.Clone(e.problems)
	e.mu.Unlock()

	for _, o := range ops {
		expected.Checked += o.Requests
		no5xx.Checked += o.Requests
		if o.Status5xx > 0 {
			var codes []string
			for k, n := range o.Errors {
				if k >= "500" && k < "600" {
					codes = append(codes, fmt.Sprintf("%s ×%d", k, n))
				}
			}
			slices.Sort(codes)
			no5xx.Violations += o.Status5xx
			no5xx.Examples = append(no5xx.Examples, o.Op+": "+strings.Join(codes, ", "))
		}
	}

	for _, p := range e.patients {
		if !p.started {
			continue
		}
		audit.Checked++
		switch {
		case p.verify == nil:
			audit.violate("patient %s: could not verify: %v", p.id, p.checkErr)
		case !p.verify.Valid:
			audit.violate("patient %s: chain of %d records invalid at seq %d: %s", p.id, p.verify.Records, p.verify.FirstBadSeq, p.verify.Problem)
		}
	}
	return []Invariant{viewsCap, issued, claims, afterRevoke, revoked, photos, audit, score, action, serverRevoked, no5xx, expected}
}

// WriteText writes the report as tables.
func (r *Report) WriteText(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "medshare loadtest run %s against %s (seed %d)\n", r.RunID, c.BaseURL, c.Seed)
	fmt.Fprintf(w, "plan: %d patients × %d sessions, %d viewers, max_views %d, revoke %.0f%%, double claims %.0f%%, bursts %.0f%%, %d activity events, concurrency %d, cap %v\n",
		c.Patients, c.SessionsPerPatient, c.Viewers, c.ViewsPerSession, 100*c.RevokeFraction, 100*c.DoubleClaimFraction, 100*c.BurstFraction, c.ActivityReports, c.Concurrency, c.Duration)
	stop := "completed"
	switch {
	case r.Interrupted:
		stop = "interrupted"
	case r.CapHit:
		stop = "stopped by the duration cap"
	}
	load := r.Setup + r.Viewing
	fmt.Fprintf(w, "load: %s; setup %v, viewing %v, check %v; %d requests in %v = %.0f requests/s\n",
		stop, r.Setup.Round(time.Millisecond), r.Viewing.Round(time.Millisecond), r.Check.Round(time.Millisecond),
		r.LoadRequests, load.Round(time.Millisecond), float64(r.LoadRequests)/max(load.Seconds(), 1e-9))
	fmt.Fprintf(w, "setup: %d/%d patients ready, %d photos, %d/%d sessions, %d viewers with sessions\n",
		r.PatientsReady, c.Patients, r.Photos, r.Sessions, r.PlannedSessions, r.ViewersWithSessions)
	fmt.Fprintf(w, "viewing: %d keys issued, %d photos decrypted and compared, %d sessions revoked (%d inside their own views), %d burst sessions, %d double claims (%d with one winner)\n",
		r.KeysIssued, r.Views, r.Revoked, r.RevokedInSession, r.BurstSessions, r.DoubleClaims, r.DoubleClaimWinners)
	fmt.Fprintf(w, "activity: %d/%d events in %d reports (%d none, %d warned, %d revoked); detector revocations: %d sessions read revoked that no patient revoked (%d of them told by an activity answer)\n",
		r.ActivityEvents, r.ActivityPlanned, r.ActivityReports, r.ActivityActions[actionNone], r.ActivityActions[actionWarned], r.ActivityActions[actionRevoked],
		r.DetectorRevoked, r.RevokedByActivity)
	if r.BudgetRefused > 0 {
		fmt.Fprintf(w, "request budget: %d requests refused\n", r.BudgetRefused)
	}
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "operation\trequests\tok\treq/s\tp50\tp99\terrors by code")
	var all OpStats
	for _, o := range r.Ops {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%s\t%s\t%s\n", o.Op, o.Requests, o.OK, o.PerSecond, ms(o.P50), ms(o.P99), errorsText(o.Errors))
		all.Requests += o.Requests
		all.OK += o.OK
	}
	total := r.Setup + r.Viewing + r.Check
	fmt.Fprintf(tw, "all\t%d\t%d\t%.1f\t\t\t%d non-2xx\n", all.Requests, all.OK, float64(all.Requests)/max(total.Seconds(), 1e-9), all.Requests-all.OK)
	tw.Flush()
	fmt.Fprintln(w, "(req/s: an operation's requests over its active window, from its first request to its last answer; all: over the whole run)")
	fmt.Fprintln(w)

	fmt.Fprintln(w, "invariants:")
	for _, i := range r.Invariants {
		verdict := "PASS"
		if !i.OK() {
			verdict = "FAIL"
		}
		fmt.Fprintf(w, "  %s  %s: %d checked, %d violation(s)\n", verdict, i.Name, i.Checked, i.Violations)
		for _, ex := range i.Examples {
			fmt.Fprintf(w, "        %s\n", ex)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, r.Summary())
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

func errorsText(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
