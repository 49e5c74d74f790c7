package loadtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/core"
)

// Setup: every patient uploads its photos and creates its sessions; then
// the plan of revocations and activity reports is drawn.

func (e *engine) patientID(i int) string { return fmt.Sprintf("lt-%s-pat-%d", e.runID, i) }
func (e *engine) viewerID(v int) string  { return fmt.Sprintf("lt-%s-pro-%d", e.runID, v) }

var angles = []string{"VERTEX", "HAIRLINE", "TEMPLES", "CROWN", "FRONT", "BACK", "LEFT", "RIGHT", "OTHER"}

// setup: every patient uploads 1-2 photos and creates its sessions, with
// Concurrency patients at a time.
func (e *engine) setup(ctx context.Context) error {
	e.patients = make([]*patient, e.cfg.Patients)
	for i := range e.patients {
		cl, err := e.client(e.patientID(i), core.RolePatient)
		if err != nil {
			return err
		}
		e.patients[i] = &patient{idx: i, id: e.patientID(i), cl: cl}
	}
	work := make(chan *patient)
	var wg sync.WaitGroup
	for range min(e.cfg.Concurrency, len(e.patients)) {
		wg.Go(func() {
			for p := range work {
				e.setupPatient(ctx, p)
			}
		})
	}
	for _, p := range e.patients {
		if e.stopped() || ctx.Err() != nil {
			break
		}
		work <- p
	}
	close(work)
	wg.Wait()
	for _, p := range e.patients {
		e.sessions = append(e.sessions, p.sessions...)
	}
	return nil
}

func (e *engine) setupPatient(ctx context.Context, p *patient) {
	p.started = true
	rng := e.rng(1, uint64(p.idx))
	for range 1 + rng.IntN(2) {
		if e.stopped() {
			return
		}
		plain := make([]byte, e.cfg.PhotoBytes/2+rng.IntN(e.cfg.PhotoBytes+1))
		rand.Read(plain)
		id, err := p.cl.UploadPhoto(ctx, angles[rng.IntN(len(angles))], "image/jpeg", plain, nil)
		if err != nil {
			if !e.stopped() {
				e.problem("patient %s: upload a photo: %v", p.id, err)
			}
			continue
		}
		p.photos = append(p.photos, photo{id: id, plain: plain})
	}
	if len(p.photos) == 0 {
		return
	}
	ids := make([]string, len(p.photos))
	for i, ph := range p.photos {
		ids[i] = ph.id
	}
	for j := range e.cfg.SessionsPerPatient {
		if e.stopped() {
			return
		}
		g := p.idx*e.cfg.SessionsPerPatient + j
		v := g % e.cfg.Viewers
		cctx, tr := withTrace(ctx)
		sh, err := p.cl.CreateShare(cctx, client.ShareRequest{
			ProfessionalID: e.viewerID(v), PhotoIDs: ids, ExpiresIn: 3600,
			MaxViews: e.cfg.ViewsPerSession, ScreenshotPolicy: "warn", Purpose: "load test",
		}, rand.Text())
		if err != nil {
			e.failed("patient "+p.id+": create a session", tr, err)
			continue
		}
		p.sessions = append(p.sessions, &session{
			idx: g, id: sh.ShareID, patient: p, viewer: v, photos: p.photos, maxViews: e.cfg.ViewsPerSession, lastScore: -1,
		})
	}
}

// planRevocations picks the sessions to revoke, half at a random point of
// the run and half within their own views, and the burst sessions.
func (e *engine) planRevocations() {
	rng := e.rng(2, 0)
	n := int(float64(len(e.sessions))*e.cfg.RevokeFraction + 0.5)
	// Keys the run should issue if nothing is revoked; random points fall in
	// the first 80% of that, so that most revocations land while viewers run.
	expected := int64(len(e.sessions)) * int64(e.cfg.ViewsPerSession) * 8 / 10
	for i, idx := range rng.Perm(len(e.sessions))[:n] {
		s := e.sessions[idx]
		if i%2 == 0 {
			s.plan = revokeInSession
			s.revokeAfter = rng.IntN(s.maxViews)
		} else {
			s.plan = revokeAtRandom
			s.threshold = rng.Int64N(max(1, expected))
		}
	}
	for _, s := range e.sessions {
		s.burst = rng.Float64() < e.cfg.BurstFraction
	}
}

// planActivity spreads the plan's activity events at random over the
// sessions, cuts each session's share into reports of 1-5 events and places
// each report after one of the session's views (or right after its open).
// Events are 80% app_backgrounded, 10% copy_attempt, 10% screenshot.
func (e *engine) planActivity() {
	if len(e.sessions) == 0 || e.cfg.ActivityReports == 0 {
		return
	}
	rng := e.rng(4, 0)
	counts := make([]int, len(e.sessions))
	for range e.cfg.ActivityReports {
		counts[rng.IntN(len(counts))]++
	}
	for i, s := range e.sessions {
		for n := counts[i]; n > 0; {
			k := 1 + rng.IntN(min(5, n))
			b := batch{slot: rng.IntN(s.maxViews + 1)}
			for range k {
				ev := evAppBackgrounded
				switch r := rng.Float64(); {
				case r < 0.1:
					ev = evScreenshot
					b.screenshot = true
				case r < 0.2:
					ev = evCopyAttempt
				}
				b.events = append(b.events, ev)
				b.delta += eventWeights[ev]
			}
			s.batches = append(s.batches, b)
			n -= k
		}
		slices.SortStableFunc(s.batches, func(a, b batch) int { return a.slot - b.slot })
		e.activityPlanned += counts[i]
	}
}
