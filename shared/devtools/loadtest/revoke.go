package loadtest

import (
	"context"
	"slices"
	"time"
)

// Revocations: while the viewers run, patients revoke a fraction of the
// sessions, half at a random point of the run and half in the middle of
// their own session's views.

func (e *engine) revokeAtRandomPoints(ctx context.Context, viewersDone <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	var plan []*session
	for _, s := range e.sessions {
		if s.plan == revokeAtRandom {
			plan = append(plan, s)
		}
	}
	slices.SortFunc(plan, func(a, b *session) int { return int(a.threshold - b.threshold) })
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for len(plan) > 0 {
		select {
		case <-ctx.Done():
			return
		case <-viewersDone:
			// The run issued fewer keys than planned (revoked sessions
			// lose views): revoke the rest now, so the fraction holds.
			for _, s := range plan {
				e.revokeAsync(ctx, s)
			}
			return
		case <-t.C:
		}
		n := e.issuedKeys.Load()
		for len(plan) > 0 && plan[0].threshold <= n {
			e.revokeAsync(ctx, plan[0])
			plan = plan[1:]
		}
	}
}

func (e *engine) revokeAsync(ctx context.Context, s *session) {
	e.revokeWG.Go(func() { e.revoke(ctx, s) })
}

func (e *engine) revoke(ctx context.Context, s *session) {
	s.mu.Lock()
	tried := s.revokeTried
	s.revokeTried = true
	s.mu.Unlock()
	if tried || e.stopped() {
		return
	}
	rctx, tr := withTrace(ctx)
	err := s.patient.cl.RevokeShare(rctx, s.id)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err == nil:
		s.revokeReturned = tr.end
		e.revoked.Add(1)
	case tr.unknown():
		s.revokeUnknown = true
	}
	if err != nil {
		e.failed("revoke session "+s.id, tr, err)
	}
}
