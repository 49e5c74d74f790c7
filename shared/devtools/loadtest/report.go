package loadtest

import (
	"fmt"
	"io"
	"slices"
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
