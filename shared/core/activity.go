package core

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Suspicious activity (ARCHITECTURE §2.9). Every access has a suspicion score. The
// grantee's own client reports events on its device, the patient can report
// an access they did not expect, and the server's detectors add signals of
// their own. Nobody else can move a score: a stranger cannot push a session
// towards revocation.
//
// Weights, and what the share's screenshot policy does with a screenshot:
//
//	screenshot          40 (policy allow: recorded, 0; warn: 40 and the patient is warned; revoke: revoked at once)
//	screen_recording    60
//	copy_attempt        30
//	app_backgrounded     5
//	unexpected_access  100 (the patient's report: revoked at once)
//	ip_change           30 (detector: a key asked for from another IP than the access was opened from; once per IP per access)
//	outside_window      20 (detector: a key asked for after the access expired)
//	failed_claim        15 (detector: a claim of a used or expired key)
//	key_burst           30 (detector: more issue-key calls on one access in a minute than BurstLimit; once per minute)
//
// At WarnScore the patient is warned (a suspicious_activity notification); at
// RevokeScore the session is revoked by the detector, both parties are
// notified and the audit trail says why.
const (
	WarnScore      = 50
	RevokeScore    = 100
	MaxActivity    = 100
	DetectorID     = "medshare-detector"
	RoleSystem     = Role("system")
	maxDetailChars = 200
)

// Activity event types a client may report.
const (
	EventScreenshot       = "screenshot"
	EventScreenRecording  = "screen_recording"
	EventCopyAttempt      = "copy_attempt"
	EventAppBackgrounded  = "app_backgrounded"
	EventUnexpectedAccess = "unexpected_access"
	SignalIPChange        = "ip_change"
	SignalOutsideWindow   = "outside_window"
	SignalFailedClaim     = "failed_claim"
	SignalKeyBurst        = "key_burst"
)

// BurstWindow is the window of the burst detector: issue-key calls on one
// access are counted per window (whole minutes of the Unix clock).
const BurstWindow = time.Minute

// BurstLimit is how many issue-key calls on access a may make in one
// BurstWindow before it is a burst: twice its photos (a viewer who opens each
// photo and reopens it), and never fewer than 10.
func BurstLimit(a Access) int { return max(10, 2*len(a.Photos)) }

var weights = map[string]int{
	EventScreenshot: 40, EventScreenRecording: 60, EventCopyAttempt: 30, EventAppBackgrounded: 5,
	EventUnexpectedAccess: RevokeScore, SignalIPChange: 30, SignalOutsideWindow: 20, SignalFailedClaim: 15,
	SignalKeyBurst: 30,
}

// grantee events; the patient may only report EventUnexpectedAccess.
var granteeEvents = []string{EventScreenshot, EventScreenRecording, EventCopyAttempt, EventAppBackgrounded}

// ActivityEvent is one event a client reports.
type ActivityEvent struct {
	Type    string
	At      time.Time
	Details string // checked, never stored or logged
}

// Activity actions: what a report led to.
const (
	ActionNone    = "none"
	ActionWarned  = "warned"
	ActionRevoked = "revoked"
)

// ActivityResult tells the client what its report did.
type ActivityResult struct {
	Action string
	Score  int
}

// ReportActivity records a batch of events on an access, from its grantee's
// client or its patient, scores them, and warns or revokes as the score and
// the share's screenshot policy say.
func (s *Service) ReportActivity(ctx context.Context, c Caller, accessID string, events []ActivityEvent) (ActivityResult, error) {
	if err := s.requireRole(c, RoleProfessional, RolePatient); err != nil {
		return ActivityResult{}, err
	}
	if !ValidID("ac", accessID) {
		return ActivityResult{}, ErrInvalid("access_id is malformed")
	}
	if len(events) == 0 || len(events) > MaxActivity {
		return ActivityResult{}, ErrInvalid("events must hold 1 to %d events", MaxActivity)
	}
	now := s.now()
	allowed := granteeEvents
	if c.Role == RolePatient {
		allowed = []string{EventUnexpectedAccess}
	}
	for i, e := range events {
		switch {
		case !slices.Contains(allowed, e.Type):
			return ActivityResult{}, ErrInvalid("events[%d].type must be one of %v", i, allowed)
		case e.At.Before(now.Add(-MaxShareExpiry)) || e.At.After(now.Add(5*time.Minute)):
			return ActivityResult{}, ErrInvalid("events[%d].at must be an RFC 3339 time within the last 30 days, not in the future", i)
		case len([]rune(e.Details)) > maxDetailChars || strings.IndexFunc(e.Details, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
			return ActivityResult{}, ErrInvalid("events[%d].details must be at most %d printable characters", i, maxDetailChars)
		}
	}
	a, err := s.store.GetAccess(ctx, accessID)
	if err != nil {
		return ActivityResult{}, notFoundAs(fmt.Errorf("get access %s: %w", accessID, err), "access")
	}
	if !(c.Role == RoleProfessional && a.ProfessionalID == c.ID) && !(c.Role == RolePatient && a.PatientID == c.ID) {
		return ActivityResult{}, ErrNotFound("access not found")
	}
	// Each report goes into the patient's chain. Counted per reporter, so
	// that a grantee who spends their reports cannot stop the patient's
	// unexpected_access from revoking.
	if err := s.limit(ctx, s.cfg.Limits.ActivityReports, "activity reports on this access", "report", c.ID, a.ID); err != nil {
		return ActivityResult{}, err
	}
	sh, err := s.store.GetShare(ctx, a.ShareID)
	if err != nil {
		return ActivityResult{}, fmt.Errorf("get share %s: %w", a.ShareID, err)
	}
	if sh.StatusAt(now) == ShareRevoked {
		// Nothing left to protect: no score, no record, no notification.
		return ActivityResult{Action: ActionRevoked, Score: a.Score}, nil
	}

	delta, revokeNow := 0, false
	var types []string
	for _, e := range events {
		if !slices.Contains(types, e.Type) {
			types = append(types, e.Type)
		}
		switch {
		case e.Type == EventScreenshot && sh.ScreenshotPolicy == ScreenshotAllow:
		case e.Type == EventScreenshot && sh.ScreenshotPolicy == ScreenshotRevoke, e.Type == EventUnexpectedAccess:
			revokeNow = true
			delta += weights[e.Type]
		default:
			delta += weights[e.Type]
		}
	}
	slices.Sort(types)
	warn := slices.Contains(types, EventScreenshot) && sh.ScreenshotPolicy == ScreenshotWarn
	score, revoked, err := s.suspect(ctx, c, a, sh, strings.Join(types, ","), "", delta, warn, revokeNow)
	if err != nil {
		return ActivityResult{}, err
	}
	switch {
	case revoked || sh.StatusAt(now) == ShareRevoked:
		return ActivityResult{Action: ActionRevoked, Score: score}, nil
	case warn || (delta > 0 && score >= WarnScore):
		return ActivityResult{Action: ActionWarned, Score: score}, nil
	}
	return ActivityResult{Action: ActionNone, Score: score}, nil
}

// suspect adds delta to the access's score with an audit record by actor
// (reason names the events or signal), notifies the patient when warn is set
// or the score reaches WarnScore, and revokes the share when revokeNow is set
// or the score reaches RevokeScore. It reports the score and whether the
// share is revoked now.
//
// When flag is not empty the signal counts once per access: if the access
// was flagged with it before, suspect adds nothing (no score, no record, no
// notification, no revocation) and reports the current score, not revoked
// and no error. An empty flag counts every time.
func (s *Service) suspect(ctx context.Context, actor Caller, a Access, sh Share, reason, flag string, delta int, warn, revokeNow bool) (int, bool, error) {
	// Within a process, signals on one access are applied one at a time from
	// a fresh read of the score, so a burst of them (99 failed claims at
	// once) does not spin on the optimistic condition; across processes the
	// condition keeps the sum exact.
	mu := &s.suspicion[fnv32(a.ID)%uint32(len(s.suspicion))]
	mu.Lock()
	defer mu.Unlock()
	if fresh, err := s.store.GetAccess(ctx, a.ID); err == nil {
		a = fresh
	}
	prev := a.Score
	var next int
	var notes []Notification
	for attempt := 0; ; attempt++ {
		next = prev + delta
		notes = nil
		if warn || revokeNow || (prev < WarnScore && next >= WarnScore) {
			notes = []Notification{s.notification(a.PatientID, NoteSuspicious, a.ShareID,
				map[string]string{"access_id": a.ID, "score": strconv.Itoa(next), "events": reason})}
		}
		rec := view{share: a.ShareID, device: a.DeviceFingerprint}.on(s.auditRecord(actor, a.PatientID, AuditActivityReport, "access", a.ID, nil))
		rec.Reason = truncate(reason, 128)
		_, err := s.audit.chained(ctx, rec, func(linked AuditRecord) error {
			return s.store.AddSuspicion(ctx, a.ID, prev, next, flag, linked, notes...)
		})
		if flag != "" && errors.Is(err, ErrAlreadyFlagged) {
			return prev, false, nil // counted before: nothing to add
		}
		var moved *ScoreMovedError
		if errors.As(err, &moved) && attempt < maxAppendAttempts {
			prev = moved.Current
			continue
		}
		if err != nil {
			return 0, false, notFoundAs(fmt.Errorf("score access %s: %w", a.ID, err), "access")
		}
		break
	}
	for _, n := range notes {
		s.publish(ctx, n)
	}
	if !(revokeNow || next >= RevokeScore) || sh.Status == ShareRevoked {
		return next, false, nil
	}
	revoked, err := s.autoRevoke(ctx, sh, "auto-revoked: "+reason)
	return next, revoked, err
}

// autoRevoke revokes a share as the server's detector, notifying the grantee.
// It reports whether the share is revoked now, by this call or by another
// that came first.
func (s *Service) autoRevoke(ctx context.Context, sh Share, reason string) (bool, error) {
	detector := Caller{ID: DetectorID, Role: RoleSystem, RequestID: "detector"}
	n := s.notification(sh.ProfessionalID, NoteSessionRevoked, sh.ID, map[string]string{"reason": "suspicious_activity"})
	var revoked bool
	rec := view{share: sh.ID}.on(s.auditRecord(detector, sh.PatientID, AuditShareRevoke, "share", sh.ID, nil))
	rec.Reason = "auto_revoked"
	_, err := s.audit.chained(ctx, rec, func(linked AuditRecord) error {
		var err error
		revoked, err = s.store.RevokeShare(ctx, sh.ID, sh.PatientID, s.now(), truncate(reason, MaxPurposeChars), linked, n)
		if err == nil && !revoked {
			return errAlreadyRevoked
		}
		return err
	})
	if errors.Is(err, errAlreadyRevoked) {
		return true, nil // revoked meanwhile (by its patient): revoked all the same
	}
	if err != nil {
		return false, fmt.Errorf("auto-revoke share %s: %w", sh.ID, err)
	}
	s.publish(ctx, n)
	return true, nil
}

// detect adds a server-side signal to an access and reports whether the share
// is revoked now. Detection is best effort: callers ignore its errors, so a
// failure to score never turns a good answer into an error. A non-empty flag
// makes the signal count once per access (see suspect); "" counts every time.
func (s *Service) detect(ctx context.Context, c Caller, a Access, signal, flag string) (bool, error) {
	sh, err := s.store.GetShare(ctx, a.ShareID)
	if err != nil {
		return false, err
	}
	if sh.StatusAt(s.now()) == ShareRevoked {
		return true, nil
	}
	// The detector's record names the request that raised the signal.
	detector := Caller{ID: DetectorID, Role: RoleSystem, SourceIP: c.SourceIP, UserAgent: c.UserAgent, RequestID: c.RequestID}
	_, revoked, err := s.suspect(ctx, detector, a, sh, signal, flag, weights[signal], false, false)
	return revoked, err
}

// burst counts one issue-key call on the access in its BurstWindow and, on the
// call that goes past BurstLimit, raises SignalKeyBurst (once per window). It
// reports whether the share is revoked now. Best effort, like every
// detector: a failure to count lets the call through.
func (s *Service) burst(ctx context.Context, c Caller, a Access, now time.Time) bool {
	w := strconv.FormatInt(now.Unix()/int64(BurstWindow/time.Second), 10)
	n, err := s.store.Tally(ctx, "issue:"+a.ID+":"+w, now.Add(2*BurstWindow))
	if err != nil || n != int64(BurstLimit(a))+1 {
		return false
	}
	revoked, _ := s.detect(ctx, c, a, SignalKeyBurst, "burst:"+w)
	return revoked
}

func fnv32(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}
