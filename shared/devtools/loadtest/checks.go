package loadtest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/medshare/medshare/shared/core"
)

// Checks: every session is read as its patient and every chain verified,
// then the invariants are held against what the run did and saw.

// check reads every session as its patient and verifies every patient's
// audit chain, Concurrency at a time, within the time left.
func (e *engine) check(ctx context.Context) {
	work := make(chan func())
	var wg sync.WaitGroup
	for range e.cfg.Concurrency {
		wg.Go(func() {
			for f := range work {
				f()
			}
		})
	}
	for _, s := range e.sessions {
		work <- func() {
			sh, err := s.patient.cl.GetShare(ctx, s.id)
			s.mu.Lock()
			defer s.mu.Unlock()
			if err != nil {
				s.checkErr = err
				return
			}
			s.final = &sh
		}
	}
	for _, p := range e.patients {
		if !p.started {
			continue
		}
		work <- func() {
			var v verification
			if err := p.cl.Do(ctx, "GET", "/v1/audit/verify", nil, nil, &v); err != nil {
				p.checkErr = err
				return
			}
			p.verify = &v
		}
	}
	close(work)
	wg.Wait()
}

// burstSlack is what the burst detector may have added to the session's
// score: an access makes at most max_views+1 issue-key calls, and each
// minute in which more than core.BurstLimit of them fell scores
// keyBurstWeight once. The plan's sessions stay under the limit unless
// --views-per-session is raised to it.
func (s *session) burstSlack() int {
	limit := core.BurstLimit(core.Access{Photos: make([]core.SharedPhoto, len(s.photos))})
	return keyBurstWeight * ((s.maxViews + 1) / (limit + 1))
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
