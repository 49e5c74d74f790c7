package loadtest

import (
	"context"
	"math"
	mrand "math/rand/v2"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/core"
)

// Viewing: every professional opens an access to each session granted to
// it and views, claims and downloads, reporting activity between views.

// reportActivity sends the session's reports placed up to slot upTo, one
// after another, and records their answers.
func (e *engine) reportActivity(ctx context.Context, cl *client.Client, s *session, accessID string, upTo int) {
	type event struct {
		Type    string    `json:"type"`
		At      time.Time `json:"at"`
		Details string    `json:"details,omitempty"`
	}
	path := "/v1/access/" + url.PathEscape(accessID) + "/activity"
	for {
		if e.stopped() || ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		if s.nextBatch >= len(s.batches) || s.batches[s.nextBatch].slot > upTo {
			s.mu.Unlock()
			return
		}
		b := s.batches[s.nextBatch]
		s.nextBatch++
		s.mu.Unlock()

		body := struct {
			Events []event `json:"events"`
		}{}
		now := time.Now().UTC()
		for i, ev := range b.events {
			body.Events = append(body.Events, event{Type: ev, At: now.Add(time.Duration(i-len(b.events)) * time.Millisecond), Details: "load test " + e.runID})
		}
		var ans struct {
			Action string `json:"action"`
			Score  int    `json:"score"`
		}
		actx, tr := withTrace(ctx)
		err := cl.Do(actx, "POST", path, nil, body, &ans)
		if tr.sent {
			e.reportsSent.Add(1)
			e.activitySent.Add(int64(len(b.events)))
		}
		s.mu.Lock()
		switch {
		case err == nil:
			s.reportedDelta += b.delta
			lo := s.reportedDelta + failedClaimWeight*s.failedClaims
			s.reports = append(s.reports, activityReport{
				delta: b.delta, screenshot: b.screenshot,
				lo: lo, hi: lo + s.unknownDelta + failedClaimWeight*s.unknownClaims + s.burstSlack(),
				prev: s.lastScore, score: ans.Score, action: ans.Action, end: tr.end,
			})
			s.lastScore = ans.Score
			if ans.Action == actionRevoked && s.revokedAnswerAt.IsZero() {
				s.revokedAnswerAt = tr.end
			}
		case tr.status < 400 || tr.status >= 500:
			// No answer, a 5xx or an unreadable 2xx: it may have counted.
			s.unknownDelta += b.delta
		}
		s.mu.Unlock()
		if err != nil {
			e.failed("report activity on "+s.id, tr, err)
		}
	}
}

// view runs every viewer at once, and the revocations beside them.
func (e *engine) view(ctx context.Context) error {
	byViewer := make([][]*session, e.cfg.Viewers)
	for _, s := range e.sessions {
		byViewer[s.viewer] = append(byViewer[s.viewer], s)
	}
	pros := make([]*client.Client, e.cfg.Viewers)
	for v := range byViewer {
		if len(byViewer[v]) == 0 {
			continue
		}
		cl, err := e.client(e.viewerID(v), core.RoleProfessional)
		if err != nil {
			return err
		}
		pros[v] = cl
	}

	viewersDone := make(chan struct{})
	revokerDone := make(chan struct{})
	go e.revokeAtRandomPoints(ctx, viewersDone, revokerDone)

	var wg sync.WaitGroup
	for v, list := range byViewer {
		if len(list) == 0 {
			continue
		}
		wg.Go(func() { e.runViewer(ctx, v, pros[v], list) })
	}
	wg.Wait()
	// A session whose views ended before its planned revoke (the detector
	// revoked it first) is revoked now, so that the fraction holds.
	for _, s := range e.sessions {
		if s.plan == revokeInSession {
			e.revokeAsync(ctx, s)
		}
	}
	close(viewersDone)
	<-revokerDone
	e.revokeWG.Wait()
	return nil
}

func (e *engine) runViewer(ctx context.Context, v int, cl *client.Client, sessions []*session) {
	dev, err := client.NewDevice(KEMs[v%len(KEMs)])
	if err != nil {
		e.problem("viewer %d: make a device: %v", v, err)
		return
	}
	rng := e.rng(3, uint64(v))
	for _, s := range sessions {
		if e.stopped() || ctx.Err() != nil {
			return
		}
		e.viewSession(ctx, rng, cl, dev, s)
	}
}

// grantee answers that a correct server may give a viewer in this plan.
var (
	openRefusals  = []string{core.CodeSessionRevoked}
	issueRefusals = []string{core.CodeViewsExhausted, core.CodeSessionRevoked}
	claimRefusals = []string{core.CodeSessionRevoked}
)

func (e *engine) viewSession(ctx context.Context, rng *mrand.Rand, cl *client.Client, dev *client.Device, s *session) {
	if s.plan == revokeInSession && s.revokeAfter == 0 {
		e.revokeAsync(ctx, s) // races with the open
	}
	octx, tr := withTrace(ctx)
	acc, err := cl.OpenAccess(octx, s.id, dev)
	if err != nil {
		s.noteRefusal(tr)
		e.failed("open access to "+s.id, tr, err, openRefusals...)
		return
	}
	s.addSuccess("open-access", acc.AccessID, tr.start)
	// Whatever ends the views, the client still reports what it saw.
	defer e.reportActivity(ctx, cl, s, acc.AccessID, math.MaxInt)
	e.reportActivity(ctx, cl, s, acc.AccessID, 0)
	if s.burst {
		e.burst(ctx, rng, cl, dev, s, acc.AccessID)
		return
	}
	// max_views keys, then one more that must be refused.
	for i := 0; i <= s.maxViews; i++ {
		if e.stopped() || ctx.Err() != nil {
			return
		}
		ph := s.photos[i%len(s.photos)]
		k, ok := e.issue(ctx, cl, s, acc.AccessID, ph)
		if !ok {
			return
		}
		if !e.claimAndView(ctx, rng, cl, dev, s, acc.AccessID, ph, k) {
			return
		}
		e.reportActivity(ctx, cl, s, acc.AccessID, i+1)
	}
	e.problem("session %s: key %d of max_views %d was granted", s.id, s.maxViews+1, s.maxViews)
}

// burst asks for max_views+1 keys at once, then claims each granted one.
func (e *engine) burst(ctx context.Context, rng *mrand.Rand, cl *client.Client, dev *client.Device, s *session, accessID string) {
	type result struct {
		k  client.IssuedKey
		ph photo
		ok bool
	}
	res := make([]result, s.maxViews+1)
	var wg sync.WaitGroup
	for i := range res {
		ph := s.photos[i%len(s.photos)]
		wg.Go(func() {
			k, ok := e.issue(ctx, cl, s, accessID, ph)
			res[i] = result{k, ph, ok}
		})
	}
	wg.Wait()
	viewed := 0
	for _, r := range res {
		if r.ok && !e.stopped() {
			if !e.claimAndView(ctx, rng, cl, dev, s, accessID, r.ph, r.k) {
				return
			}
			viewed++
			e.reportActivity(ctx, cl, s, accessID, viewed)
		}
	}
}

func (e *engine) issue(ctx context.Context, cl *client.Client, s *session, accessID string, ph photo) (client.IssuedKey, bool) {
	ictx, tr := withTrace(ctx)
	k, err := cl.IssueKey(ictx, accessID, ph.id)
	if err != nil {
		if tr.unknown() {
			s.mu.Lock()
			s.issueUnknown++
			s.mu.Unlock()
		}
		s.noteRefusal(tr)
		e.failed("issue a key of "+s.id, tr, err, issueRefusals...)
		return k, false
	}
	e.mu.Lock()
	e.keys[k.KeyID] = &keyRecord{session: s}
	e.mu.Unlock()
	s.mu.Lock()
	s.issued++
	s.successes = append(s.successes, success{"issue-key", k.KeyID, tr.start})
	n := s.issued
	s.mu.Unlock()
	e.issuedKeys.Add(1)
	if s.plan == revokeInSession && n == s.revokeAfter {
		e.revokeAsync(ctx, s) // races with the claim and the next keys
	}
	return k, true
}

// claimAndView claims a key (sometimes twice at once), downloads the
// ciphertext, opens the key on the device and compares the photo with the
// original. It reports whether the session may go on.
func (e *engine) claimAndView(ctx context.Context, rng *mrand.Rand, cl *client.Client, dev *client.Device, s *session, accessID string, ph photo, k client.IssuedKey) bool {
	double := rng.Float64() < e.cfg.DoubleClaimFraction
	var u client.SignedURL
	var granted bool
	var refusal string
	if double {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				got, ok, code := e.claim(ctx, cl, s, k.KeyID, true)
				mu.Lock()
				defer mu.Unlock()
				if ok {
					u, granted = got, true
				} else if code == core.CodeSessionRevoked {
					refusal = code
				}
			})
		}
		wg.Wait()
	} else {
		u, granted, refusal = e.claim(ctx, cl, s, k.KeyID, false)
	}
	if !granted {
		return refusal != core.CodeSessionRevoked && !e.stopped()
	}
	fctx, tr := withTrace(ctx)
	ct, err := cl.Fetch(fctx, u.URL)
	if err != nil {
		if tr.status != 0 {
			e.viewFailed("key %s of %s: the claimed URL answered %d", k.KeyID, s.id, tr.status)
		} else {
			e.failed("download the photo of key "+k.KeyID, tr, err)
		}
		return !e.stopped()
	}
	key, err := dev.OpenKey(k, accessID)
	if err != nil {
		e.viewFailed("key %s of %s: %v", k.KeyID, s.id, err)
		return true
	}
	plain, err := client.DecryptPhoto(ct, key)
	clear(key)
	switch {
	case err != nil:
		e.viewFailed("key %s of %s: %v", k.KeyID, s.id, err)
	case !slices.Equal(plain, ph.plain):
		e.viewFailed("key %s of %s: photo %s decrypted to other bytes than uploaded", k.KeyID, s.id, ph.id)
	default:
		s.mu.Lock()
		s.views++
		s.mu.Unlock()
		e.views.Add(1)
	}
	return true
}

func (e *engine) claim(ctx context.Context, cl *client.Client, s *session, keyID string, double bool) (client.SignedURL, bool, string) {
	cctx, tr := withTrace(ctx)
	u, err := cl.ClaimKey(cctx, keyID)
	e.mu.Lock()
	kr := e.keys[keyID]
	kr.attempts++
	kr.double = kr.double || double
	if err == nil {
		kr.claims++
	}
	e.mu.Unlock()
	if err != nil {
		s.mu.Lock()
		switch {
		case tr.code == core.CodeKeyUsed || tr.code == core.CodeKeyExpired:
			s.failedClaims++
		case tr.status == 0 || tr.status >= 500:
			s.unknownClaims++
		}
		s.mu.Unlock()
		s.noteRefusal(tr)
		refusals := claimRefusals
		if double {
			refusals = append(slices.Clone(refusals), core.CodeKeyUsed)
		}
		e.failed("claim key "+keyID, tr, err, refusals...)
		return u, false, tr.code
	}
	s.addSuccess("signed-url", keyID, tr.start)
	return u, true, ""
}

// viewFailed records a claimed key that did not give back the original.
func (e *engine) viewFailed(format string, args ...any) {
	e.note(&e.nViewFails, &e.viewFails, format, args...)
}
