package core

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// DeviceInput is the device a grantee opens an access on.
type DeviceInput struct {
	KEM         uint16
	PublicKey   []byte
	Fingerprint string
}

// OpenAccess opens a time-boxed access to a share on the grantee's device. The
// first access binds the share to the device (up to the share's MaxDevices);
// another device is refused with device_mismatch and the refusal is audited.
// A device is its public key (DeviceKeyFingerprint); the client's
// device_fingerprint is checked for shape only.
func (s *Service) OpenAccess(ctx context.Context, c Caller, shareID string, in DeviceInput) (Access, error) {
	if err := s.requireRole(c, RoleProfessional); err != nil {
		return Access{}, err
	}
	if err := ValidateDeviceKey(in.KEM, in.PublicKey); err != nil {
		return Access{}, err
	}
	if in.Fingerprint == "" || len(in.Fingerprint) > MaxFingerprintChars || strings.IndexFunc(in.Fingerprint, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return Access{}, ErrInvalid("device_fingerprint must be 1-%d printable characters", MaxFingerprintChars)
	}
	sh, err := s.visibleShare(ctx, c, shareID)
	if err != nil {
		return Access{}, err
	}
	if sh.ProfessionalID != c.ID {
		return Access{}, ErrNotFound("share not found")
	}
	// Each access notifies the patient and goes into their chain. Counted
	// only now that the caller is the grantee: a stranger's 404 must not
	// turn into a 429 that tells them the share exists.
	if err := s.limit(ctx, s.cfg.Limits.AccessesOpened, "accesses opened on this session", "open", c.ID, sh.ID); err != nil {
		return Access{}, err
	}
	now := s.now()
	seen := view{share: sh.ID, device: DeviceKeyFingerprint(in.KEM, in.PublicKey)}
	if gone := sh.RefuseUse(c.ID, now); gone != nil {
		return Access{}, s.denyView(ctx, c, sh.PatientID, AuditAccessOpen, "share", sh.ID, seen, gone)
	}
	expires := now.Add(sh.AccessWindow)
	if sh.ExpiresAt.Before(expires) {
		expires = sh.ExpiresAt
	}
	a := Access{
		ID: NewID("ac"), ShareID: sh.ID, PatientID: sh.PatientID, ProfessionalID: c.ID,
		// The binding uses the key's own fingerprint, not the client's label:
		// another key under a bound label is another device.
		KEM: in.KEM, DevicePublicKey: in.PublicKey, DeviceFingerprint: DeviceKeyFingerprint(in.KEM, in.PublicKey),
		SourceIP: c.SourceIP, UserAgent: truncate(c.UserAgent, 256),
		CreatedAt: now, ExpiresAt: expires, ShareExpiresAt: sh.ExpiresAt, Photos: sh.Photos,
	}
	n := s.notification(sh.PatientID, NoteSessionAccess, sh.ID, map[string]string{"access_id": a.ID})
	_, err = s.audit.chained(ctx, seen.on(s.auditRecord(c, sh.PatientID, AuditAccessOpen, "access", a.ID, nil)), func(rec AuditRecord) error {
		return s.store.OpenAccess(ctx, a, now, rec, n)
	})
	if CodeOf(err) == CodeDeviceMismatch {
		return Access{}, s.refuseDevice(ctx, c, sh, seen, err)
	}
	if k := KindOf(err); k == KindGone || k == KindForbidden {
		return Access{}, s.denyView(ctx, c, sh.PatientID, AuditAccessOpen, "share", sh.ID, seen, err)
	}
	if err != nil {
		return Access{}, notFoundAs(fmt.Errorf("open access to share %s: %w", sh.ID, err), "share")
	}
	s.publish(ctx, n)
	return a, nil
}

// deny appends a denied attempt to the patient's chain (up to the
// denied-record limit: recordDenial) and returns the reason.
func (s *Service) deny(ctx context.Context, c Caller, patientID string, action AuditAction, resType, resID string, reason error) error {
	if err := s.recordDenial(ctx, c, patientID, action, resType, resID, reason); err != nil {
		return err
	}
	return reason
}

// view is what the audit record of a view names besides its resource (the
// fields of AuditVersion2): the photo viewed, the sharing session it was
// viewed through, and the device, by its key's fingerprint. Empty parts
// stay empty.
type view struct{ photo, share, device string }

// on returns rec naming the view.
func (v view) on(rec AuditRecord) AuditRecord {
	rec.PhotoID, rec.ShareID, rec.Device = v.photo, v.share, v.device
	return rec
}

// refuseDevice records the refusal of a device that is not one the share is
// bound to (reason is the store's device_mismatch) and returns the reason.
// The refusal is a denied attempt like any other: counted once under the
// denied-record limit (countDenial), and past it marked or not recorded. A
// refusal that is recorded with its reason notifies the patient
// (NoteDeviceMismatch), in the same write as its record, when it is the
// first of that device on that share; later refusals of the same device are
// recorded only, so that a client retrying in a loop does not flood the
// patient's inbox. "First" is counted with Counter.Tally until the share
// expires, best effort: when it cannot be counted the patient is notified. Both the notifications and the device counters are
// therefore bounded by the denied-record limit: at most that many per
// grantee, patient and window, however many device keys the grantee makes
// up (each open is also under the accesses-opened limit).
func (s *Service) refuseDevice(ctx context.Context, c Caller, sh Share, v view, reason error) error {
	d := s.countDenial(ctx, c, sh.PatientID)
	if d == denialDropped {
		return reason
	}
	record := reason
	if d == denialMarked {
		record = deniedRecordsLimited()
	}
	rec := v.on(s.auditRecord(c, sh.PatientID, AuditAccessOpen, "share", sh.ID, record))
	if d == denialMarked || !s.firstRefusal(ctx, sh, v.device) {
		if err := s.appendRecord(ctx, rec); err != nil {
			return err
		}
		return reason
	}
	n := s.notification(sh.PatientID, NoteDeviceMismatch, sh.ID, map[string]string{"professional_id": c.ID, "device": v.device})
	if _, err := s.audit.chained(ctx, rec, func(linked AuditRecord) error {
		return s.store.AppendAudit(ctx, linked, n)
	}); err != nil {
		return auditFailure(err)
	}
	s.publish(ctx, n)
	return reason
}

// firstRefusal counts a refusal of device on share sh and reports whether it
// is the first.
func (s *Service) firstRefusal(ctx context.Context, sh Share, device string) bool {
	n, err := s.store.Tally(ctx, "device:"+sh.ID+":"+device, sh.ExpiresAt)
	return err != nil || n == 1
}

// denyView is deny for an attempt at a view: its record names the view, and
// it is under the denied-record limit as every denial is.
func (s *Service) denyView(ctx context.Context, c Caller, patientID string, action AuditAction, resType, resID string, v view, reason error) error {
	if err := s.recordDeniedView(ctx, c, patientID, action, resType, resID, v, reason); err != nil {
		return err
	}
	return reason
}

// IssuedKey is a photo's data key sealed to the access's device.
type IssuedKey struct {
	Key       EphemeralKey
	KEM       uint16
	SealedKey []byte
}

// IssueKey consumes exactly one view of the share and returns the photo's data
// key sealed with HPKE to the access's device, bound to the key, photo and
// access ids. Only the sealed key leaves the server.
func (s *Service) IssueKey(ctx context.Context, c Caller, accessID, photoID string) (IssuedKey, error) {
	if err := s.requireRole(c, RoleProfessional); err != nil {
		return IssuedKey{}, err
	}
	if !ValidID("ac", accessID) {
		return IssuedKey{}, ErrInvalid("access_id is malformed")
	}
	if !ValidID("ph", photoID) {
		return IssuedKey{}, ErrInvalid("photo_id is malformed")
	}
	a, err := s.store.GetAccess(ctx, accessID)
	if err != nil {
		return IssuedKey{}, notFoundAs(fmt.Errorf("get access %s: %w", accessID, err), "access")
	}
	if a.ProfessionalID != c.ID {
		return IssuedKey{}, ErrNotFound("access not found")
	}
	photo, ok := photoOf(a.Photos, photoID)
	if !ok {
		return IssuedKey{}, ErrNotFound("photo not found in this share")
	}
	now := s.now()
	seen := view{photo: photoID, share: a.ShareID, device: a.DeviceFingerprint}
	if s.burst(ctx, c, a, now) {
		return IssuedKey{}, s.denyView(ctx, c, a.PatientID, AuditKeyIssue, "access", a.ID, seen, ErrGone(CodeSessionRevoked, "the session was revoked"))
	}
	if !now.Before(a.ExpiresAt) {
		gone := ErrGone(CodeSessionExpired, "the access has expired; open a new one")
		if revoked, _ := s.detect(ctx, c, a, SignalOutsideWindow, ""); revoked {
			gone = ErrGone(CodeSessionRevoked, "the session was revoked")
		}
		return IssuedKey{}, s.denyView(ctx, c, a.PatientID, AuditKeyIssue, "access", a.ID, seen, gone)
	}
	if c.SourceIP != "" && a.SourceIP != "" && c.SourceIP != a.SourceIP {
		if revoked, _ := s.detect(ctx, c, a, SignalIPChange, "ip:"+c.SourceIP); revoked {
			return IssuedKey{}, s.denyView(ctx, c, a.PatientID, AuditKeyIssue, "access", a.ID, seen, ErrGone(CodeSessionRevoked, "the session was revoked"))
		}
	}
	// The wrapped key lives in the photo's record only (DECISIONS, "Deleting
	// a photo crypto-shreds it"): a deleted photo has none left to unwrap.
	// The store's IssueKey checks again that the record exists, in the write
	// that spends the view, for a delete that lands in between.
	p, err := s.store.GetPhoto(ctx, a.PatientID, photoID)
	if KindOf(err) == KindNotFound || (err == nil && p.Status != StatusReady) {
		return IssuedKey{}, ErrNotFound("photo not found in this share")
	}
	if err != nil {
		return IssuedKey{}, fmt.Errorf("get photo %s of access %s: %w", photoID, a.ID, err)
	}
	dataKey, err := s.keys.Unwrap(ctx, p.WrappedKey, p.EncryptionContext())
	if err != nil {
		return IssuedKey{}, fmt.Errorf("unwrap key of photo %s: %w", photoID, err)
	}
	defer clear(dataKey)
	ttl := MaxKeyTTL
	if rem := a.ExpiresAt.Sub(now); rem < ttl {
		ttl = rem
	}
	k := EphemeralKey{
		ID: NewID("ek"), AccessID: a.ID, ShareID: a.ShareID, PhotoID: photoID, PatientID: a.PatientID,
		ProfessionalID: c.ID, ObjectKey: photo.ObjectKey(a.PatientID), Status: KeyIssued,
		CreatedAt: now, ExpiresAt: now.Add(ttl), ShareExpiresAt: a.ShareExpiresAt,
	}
	sealed, err := SealKey(a.KEM, a.DevicePublicKey, dataKey, SealInfo(k.ID, photoID, a.ID))
	if err != nil {
		return IssuedKey{}, fmt.Errorf("seal key %s: %w", k.ID, err)
	}
	n := s.notification(a.PatientID, NotePhotoViewed, a.ShareID, map[string]string{"photo_id": photoID, "access_id": a.ID})
	_, err = s.audit.chained(ctx, seen.on(s.auditRecord(c, a.PatientID, AuditKeyIssue, "key", k.ID, nil)), func(rec AuditRecord) error {
		return s.store.IssueKey(ctx, k, now, rec, n)
	})
	if KindOf(err) == KindGone {
		return IssuedKey{}, s.denyView(ctx, c, a.PatientID, AuditKeyIssue, "access", a.ID, seen, err)
	}
	if err != nil {
		return IssuedKey{}, notFoundAs(fmt.Errorf("issue key for access %s: %w", a.ID, err), "access")
	}
	s.publish(ctx, n)
	return IssuedKey{Key: k, KEM: a.KEM, SealedKey: sealed}, nil
}

func photoOf(photos []SharedPhoto, id string) (SharedPhoto, bool) {
	for _, p := range photos {
		if p.PhotoID == id {
			return p, true
		}
	}
	return SharedPhoto{}, false
}

// MaxPhotoURLTTL caps a photo's signed URL.
const MaxPhotoURLTTL = 60 * time.Second

// ClaimKey claims an issued key, exactly once, and returns a signed GET of the
// photo's ciphertext whose expiry is min(60 s, key remaining, session
// remaining).
func (s *Service) ClaimKey(ctx context.Context, c Caller, keyID string) (SignedURL, error) {
	if err := s.requireRole(c, RoleProfessional); err != nil {
		return SignedURL{}, err
	}
	if !ValidID("ek", keyID) {
		return SignedURL{}, ErrInvalid("key_id is malformed")
	}
	k, err := s.store.GetKey(ctx, keyID)
	if err != nil {
		return SignedURL{}, notFoundAs(fmt.Errorf("get key %s: %w", keyID, err), "key")
	}
	if k.ProfessionalID != c.ID {
		return SignedURL{}, ErrNotFound("key not found")
	}
	now := s.now()
	// A key names its photo and share, not its device: the claim's record
	// is linked to the issue's, which names it, by the key id.
	seen := view{photo: k.PhotoID, share: k.ShareID}
	var claimed EphemeralKey
	_, err = s.audit.chained(ctx, seen.on(s.auditRecord(c, k.PatientID, AuditKeyClaim, "key", k.ID, nil)), func(rec AuditRecord) error {
		var err error
		claimed, err = s.store.ClaimKey(ctx, k, c.ID, now, rec)
		return err
	})
	if KindOf(err) == KindGone {
		if code := CodeOf(err); code == CodeKeyUsed || code == CodeKeyExpired {
			if a, aerr := s.store.GetAccess(ctx, k.AccessID); aerr == nil {
				_, _ = s.detect(ctx, c, a, SignalFailedClaim, "") // best effort; the key's reason is the answer
			}
		}
		return SignedURL{}, s.denyView(ctx, c, k.PatientID, AuditKeyClaim, "key", k.ID, seen, err)
	}
	if err != nil {
		return SignedURL{}, notFoundAs(fmt.Errorf("claim key %s: %w", keyID, err), "key")
	}
	// The URL ends no later than the key, the session and 60 s after the
	// claim (ARCHITECTURE §2.6). Blob stores sign now+ttl rounded down to
	// the second, and read their clock a moment after this one: so the
	// deadline is rounded down to a whole second first, and the ttl counted
	// to it, so that the moment between the two clock reads can never carry
	// the URL's expiry past a deadline that falls just before a whole second.
	deadline := now.Add(MaxPhotoURLTTL)
	for _, end := range []time.Time{claimed.ExpiresAt, claimed.ShareExpiresAt} {
		if end.Before(deadline) {
			deadline = end
		}
	}
	deadline = deadline.Truncate(time.Second)
	ttl := deadline.Sub(s.now())
	if ttl < time.Second {
		return SignedURL{}, ErrGone(CodeKeyExpired, "the key expired while it was being claimed")
	}
	u, err := s.blobs.PresignGet(ctx, claimed.ObjectKey, ttl)
	if err != nil {
		return SignedURL{}, fmt.Errorf("presign photo of key %s: %w", keyID, err)
	}
	return u, nil
}

// Inbox returns one page of the caller's notifications, newest first.
func (s *Service) Inbox(ctx context.Context, c Caller, page Page) ([]InboxItem, string, error) {
	if err := s.requireRole(c, RolePatient, RoleProfessional, RoleClinic); err != nil {
		return nil, "", err
	}
	page, err := pageOf(page)
	if err != nil {
		return nil, "", err
	}
	items, next, err := s.store.ListInbox(ctx, c.ID, page)
	if err != nil {
		return nil, "", fmt.Errorf("inbox of %s: %w", c.ID, err)
	}
	return items, next, nil
}

// MarkRead marks one of the caller's notifications read.
func (s *Service) MarkRead(ctx context.Context, c Caller, id string) (InboxItem, error) {
	if err := s.requireRole(c, RolePatient, RoleProfessional, RoleClinic); err != nil {
		return InboxItem{}, err
	}
	if !ValidID("nt", id) {
		return InboxItem{}, ErrInvalid("notification_id is malformed")
	}
	it, err := s.store.MarkRead(ctx, c.ID, id)
	if err != nil {
		return InboxItem{}, notFoundAs(fmt.Errorf("mark notification %s read: %w", id, err), "notification")
	}
	return it, nil
}
