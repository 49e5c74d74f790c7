package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Limits of a share (issue 4).
const (
	MinShareExpiry      = time.Minute
	MaxShareExpiry      = 30 * 24 * time.Hour
	MaxShareViews       = 1000
	MinAccessWindow     = time.Minute
	MaxAccessWindow     = 24 * time.Hour
	DefaultAccessWindow = 15 * time.Minute
	MaxShareDevices     = 5
	MaxSharePhotos      = 50
	MaxPurposeChars     = 200
	MaxIdempotencyKey   = 128
	MaxFingerprintChars = 256
	IdempotencyTTL      = 24 * time.Hour
)

// selectPhotos resolves the input's photo ids or angles to the patient's READY
// photos, reading the patient's photos page by page.
func (s *Service) selectPhotos(ctx context.Context, owner string, in ShareInput) ([]SharedPhoto, error) {
	var out []SharedPhoto
	found := map[string]bool{}
	page := Page{Limit: MaxPageLimit}
	for {
		photos, next, err := s.store.ListPhotos(ctx, owner, page)
		if err != nil {
			return nil, fmt.Errorf("list photos of %s: %w", owner, err)
		}
		for _, p := range photos {
			if p.Status != StatusReady {
				continue
			}
			if slices.Contains(in.PhotoIDs, p.ID) || slices.Contains(in.Angles, p.Angle) {
				found[p.ID] = true
				out = append(out, SharedPhoto{PhotoID: p.ID, Angle: p.Angle, ContentType: p.ContentType, Size: p.Size, SHA256: p.SHA256})
			}
		}
		if next == "" {
			break
		}
		page.Cursor = next
	}
	for i, id := range in.PhotoIDs {
		if !found[id] {
			return nil, ErrInvalid("photo_ids[%d] is not one of your ready photos", i)
		}
	}
	if len(out) == 0 {
		return nil, ErrInvalid("none of your ready photos has those angles")
	}
	if len(out) > MaxSharePhotos {
		return nil, ErrInvalid("the angles select %d photos; at most %d can be shared at once", len(out), MaxSharePhotos)
	}
	return out, nil
}

func (s *Service) notification(recipient, typ, shareID string, data map[string]string) Notification {
	return Notification{ID: NewSortableID("nt", s.now()), RecipientID: recipient, Type: typ, ShareID: shareID, CreatedAt: s.now(), Data: data}
}

func (s *Service) auditRecord(c Caller, patientID string, action AuditAction, resType, resID string, outcome error) AuditRecord {
	rec := AuditRecord{
		PatientID: patientID, At: s.now(), ActorID: c.ID, ActorRole: c.Role, Action: action,
		ResourceType: resType, ResourceID: resID, Outcome: OutcomeSuccess,
		SourceIP: truncate(c.SourceIP, 64), UserAgent: truncate(c.UserAgent, 256), RequestID: truncate(c.RequestID, 128),
	}
	if outcome != nil {
		rec.Outcome = OutcomeDenied
		if k := KindOf(outcome); k == KindInternal || k == KindUnavailable {
			rec.Outcome = OutcomeFailed
		}
		rec.Reason = CodeOf(outcome)
	}
	return rec
}

// CreateShare creates a sharing session of the caller's READY photos for one
// professional. With an idempotency key, the same key and body return the
// same session (replayed=true); the same key with another body is a conflict.
// A patient creates at most Limits.SharesCreated sessions per RateWindow.
func (s *Service) CreateShare(ctx context.Context, c Caller, in ShareInput) (sh Share, replayed bool, err error) {
	if err := s.requireRole(c, RolePatient); err != nil {
		return Share{}, false, err
	}
	if err := in.validate(); err != nil {
		return Share{}, false, err
	}
	if in.ProfessionalID == c.ID {
		return Share{}, false, ErrInvalid("you cannot share with yourself")
	}
	// Each session notifies its professional: a patient cannot flood
	// anyone's inbox. Replays of an idempotency key count too.
	if err := s.limit(ctx, s.cfg.Limits.SharesCreated, "sessions created", "share", c.ID); err != nil {
		return Share{}, false, err
	}
	photos, err := s.selectPhotos(ctx, c.ID, in)
	if err != nil {
		return Share{}, false, err
	}
	sh = in.newShare(NewID("sh"), c.ID, photos, s.now())
	n := s.notification(in.ProfessionalID, NoteSessionCreated, sh.ID, nil)
	_, err = s.audit.chained(ctx, view{share: sh.ID}.on(s.auditRecord(c, c.ID, AuditShareCreate, "share", sh.ID, nil)), func(rec AuditRecord) error {
		return s.store.CreateShare(ctx, sh, rec, n)
	})
	var replay *IdempotencyReplayError
	if errors.As(err, &replay) {
		if !bytes.Equal(replay.RequestHash, sh.RequestHash) {
			return Share{}, false, ErrConflict("the Idempotency-Key was used with another request")
		}
		prev, err := s.store.GetShare(ctx, replay.ShareID)
		if err != nil {
			return Share{}, false, fmt.Errorf("replay share %s: %w", replay.ShareID, err)
		}
		prev.Status = prev.StatusAt(s.now())
		return prev, true, nil
	}
	if err != nil {
		return Share{}, false, fmt.Errorf("create share: %w", err)
	}
	s.publish(ctx, n)
	return sh, false, nil
}

// visibleShare loads a share the caller is a party to; anyone else gets the
// same not-found as for an unknown id.
func (s *Service) visibleShare(ctx context.Context, c Caller, id string) (Share, error) {
	if !ValidID("sh", id) {
		return Share{}, ErrInvalid("share_id is malformed")
	}
	sh, err := s.store.GetShare(ctx, id)
	if err != nil {
		return Share{}, notFoundAs(err, "share")
	}
	if sh.PatientID != c.ID && sh.ProfessionalID != c.ID {
		return Share{}, ErrNotFound("share not found")
	}
	return sh, nil
}

// GetShare returns a share to its patient or its grantee, with the status at
// read time.
func (s *Service) GetShare(ctx context.Context, c Caller, id string) (Share, error) {
	if err := s.requireRole(c, RolePatient, RoleProfessional); err != nil {
		return Share{}, err
	}
	sh, err := s.visibleShare(ctx, c, id)
	if err != nil {
		return Share{}, err
	}
	sh.Status = sh.StatusAt(s.now())
	return sh, nil
}

// ListShares lists the caller's shares: a patient's own, or those granted to a
// professional; newest first, with the status at read time.
func (s *Service) ListShares(ctx context.Context, c Caller, page Page) ([]Share, string, error) {
	if err := s.requireRole(c, RolePatient, RoleProfessional); err != nil {
		return nil, "", err
	}
	page, err := pageOf(page)
	if err != nil {
		return nil, "", err
	}
	shares, next, err := s.store.ListShares(ctx, c.ID, c.Role, page)
	if err != nil {
		return nil, "", fmt.Errorf("list shares of %s: %w", c.ID, err)
	}
	now := s.now()
	for i := range shares {
		shares[i].Status = shares[i].StatusAt(now)
	}
	return shares, next, nil
}

// errAlreadyRevoked is what RevokeShare's write returns to auditor.chained
// when the store found the share already revoked and wrote nothing: an error,
// so that chained does not take the record for the chain's new head.
var errAlreadyRevoked = errors.New("share already revoked")

// RevokeShare revokes the caller's share at once: once this returns, no open,
// issue or claim succeeds. It is idempotent and notifies the grantee of the
// revocation that wrote, only.
func (s *Service) RevokeShare(ctx context.Context, c Caller, id, reason string) (Share, error) {
	if err := s.requireRole(c, RolePatient); err != nil {
		return Share{}, err
	}
	if len([]rune(reason)) > MaxPurposeChars || strings.IndexFunc(reason, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return Share{}, ErrInvalid("reason must be at most %d printable characters", MaxPurposeChars)
	}
	sh, err := s.visibleShare(ctx, c, id)
	if err != nil {
		return Share{}, err
	}
	if sh.PatientID != c.ID {
		return Share{}, ErrNotFound("share not found")
	}
	if sh.Status == ShareRevoked {
		return sh, nil
	}
	if reason == "" {
		reason = "revoked by the patient"
	}
	n := s.notification(sh.ProfessionalID, NoteSessionRevoked, sh.ID, nil)
	var at time.Time
	_, err = s.audit.chained(ctx, view{share: sh.ID}.on(s.auditRecord(c, c.ID, AuditShareRevoke, "share", sh.ID, nil)), func(rec AuditRecord) error {
		at = s.now()
		revoked, err := s.store.RevokeShare(ctx, id, c.ID, at, reason, rec, n)
		if err == nil && !revoked {
			return errAlreadyRevoked
		}
		return err
	})
	if errors.Is(err, errAlreadyRevoked) {
		// Revoked by another request since the read above: nothing was
		// written, nothing to publish; answer with that revocation.
		cur, err := s.store.GetShare(ctx, id)
		if err != nil {
			return Share{}, notFoundAs(fmt.Errorf("revoke share %s: %w", id, err), "share")
		}
		return cur, nil
	}
	if err != nil {
		return Share{}, notFoundAs(fmt.Errorf("revoke share %s: %w", id, err), "share")
	}
	s.publish(ctx, n)
	sh.Status, sh.RevokedAt, sh.RevokedBy, sh.RevokeReason = ShareRevoked, at.UTC(), c.ID, reason
	return sh, nil
}

// publish hands a stored notification to the notifier and records that it
// did. A failure is not the caller's: the inbox item stays unpublished and the
// relay retries it, so nothing is lost.
func (s *Service) publish(ctx context.Context, n Notification) {
	if s.notifier == nil {
		return
	}
	if err := s.notifier.Publish(ctx, n); err != nil {
		return
	}
	_ = s.store.MarkPublished(ctx, n.RecipientID, n.ID)
}
