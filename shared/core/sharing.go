package core

import (
	"context"
	"fmt"
	"time"
)

// ShareStatus is the state of a sharing session. EXPIRED is also derived at
// read time: an ACTIVE share past ExpiresAt is expired wherever it is read.
type ShareStatus string

// Share states.
const (
	ShareActive  ShareStatus = "active"
	ShareRevoked ShareStatus = "revoked"
	ShareExpired ShareStatus = "expired"
)

// ScreenshotPolicy says what a screenshot reported during an access does.
type ScreenshotPolicy string

// Screenshot policies.
const (
	ScreenshotAllow  ScreenshotPolicy = "allow"
	ScreenshotWarn   ScreenshotPolicy = "warn"
	ScreenshotRevoke ScreenshotPolicy = "revoke"
)

// SharedPhoto is what a share keeps of each photo: what lists and signed URLs
// need. It holds no copy of the photo's wrapped data key: the photo's record
// is the only stored item that holds it, so that deleting the record
// crypto-shreds the photo (issue-key reads the key from the record).
type SharedPhoto struct {
	PhotoID     string
	Angle       Angle
	ContentType string
	Size        int64
	SHA256      []byte
}

// ObjectKey is where the photo's ciphertext lives.
func (p SharedPhoto) ObjectKey(owner string) string { return PhotoObjectKey(owner, p.PhotoID) }

// Share is a patient's sharing session with one named professional.
type Share struct {
	ID               string
	PatientID        string
	ProfessionalID   string
	Photos           []SharedPhoto
	Purpose          string
	ScreenshotPolicy ScreenshotPolicy
	MaxViews         int
	ViewsUsed        int
	AccessWindow     time.Duration
	MaxDevices       int
	Devices          []string // fingerprints bound so far, at most MaxDevices
	Status           ShareStatus
	CreatedAt        time.Time
	ExpiresAt        time.Time
	RevokedAt        time.Time
	RevokedBy        string
	RevokeReason     string
	IdempotencyKey   string
	RequestHash      []byte
}

// StatusAt is the share's status at now: an active share past its expiry is
// expired (ARCHITECTURE §2.2).
func (s Share) StatusAt(now time.Time) ShareStatus {
	if s.Status == ShareActive && !now.Before(s.ExpiresAt) {
		return ShareExpired
	}
	return s.Status
}

// goneError is the precise reason a grantee can no longer use a share at now,
// or nil.
func (s Share) goneError(now time.Time) error {
	switch s.StatusAt(now) {
	case ShareRevoked:
		return ErrGone(CodeSessionRevoked, "the session was revoked")
	case ShareExpired:
		return ErrGone(CodeSessionExpired, "the session has expired")
	}
	return nil
}

// Access is one opening of a share on one device. It keeps a snapshot of the
// share's immutable parts, so that issuing a key reads one item; the share's
// mutable state (status, views) is checked by the write that consumes a view.
type Access struct {
	ID                string
	ShareID           string
	PatientID         string
	ProfessionalID    string
	KEM               uint16
	DevicePublicKey   []byte
	DeviceFingerprint string
	SourceIP          string
	UserAgent         string
	CreatedAt         time.Time
	ExpiresAt         time.Time // min(created + access window, share expiry)
	ShareExpiresAt    time.Time
	Photos            []SharedPhoto
	// Score is the access's suspicion score (activity.go): what its
	// grantee's client, its patient and the server's detectors reported.
	Score int
}

// KeyStatus is the state of an ephemeral key.
type KeyStatus string

// Key states: a key is claimed once, ISSUED → USED.
const (
	KeyIssued KeyStatus = "issued"
	KeyUsed   KeyStatus = "used"
)

// MaxKeyTTL is the longest an ephemeral key lives (ARCHITECTURE §2.4).
const MaxKeyTTL = 60 * time.Second

// EphemeralKey is one view of one photo: the data key sealed to the access's
// device, claimable once, within MaxKeyTTL.
type EphemeralKey struct {
	ID             string
	AccessID       string
	ShareID        string
	PhotoID        string
	PatientID      string
	ProfessionalID string
	ObjectKey      string
	Status         KeyStatus
	CreatedAt      time.Time
	ExpiresAt      time.Time
	ShareExpiresAt time.Time
	UsedAt         time.Time
}

// Notification types.
const (
	NoteSessionCreated = "session_created"
	NoteSessionRevoked = "session_revoked"
	NoteSessionAccess  = "session_accessed"
	NotePhotoViewed    = "photo_viewed"
	NoteSessionExpired = "session_expired"
	NoteSuspicious     = "suspicious_activity"
	// NoteDeviceMismatch tells a patient that a device other than the ones
	// their session is bound to was refused on it (once per device and
	// session).
	NoteDeviceMismatch = "device_mismatch"
)

// InboxItem is a notification as a recipient's inbox keeps it.
type InboxItem struct {
	Notification
	Read      bool
	Published bool // handed to the notifier; false until the relay succeeds
}

// IdempotencyReplayError is returned by CreateShare when the patient already
// used the idempotency key; it names the share created then and the hash of
// the request that created it.
type IdempotencyReplayError struct {
	ShareID     string
	RequestHash []byte
}

func (e *IdempotencyReplayError) Error() string {
	return fmt.Sprintf("idempotency key already used for share %s", e.ShareID)
}

// ShareStore keeps sharing sessions, accesses, ephemeral keys and inboxes. A
// method that changes security state takes the audit record of that change
// and the notification it causes, and writes all of them atomically (one
// TransactWriteItems in DynamoDB, one bbolt transaction): a state change never
// lands without its audit record. The record must follow its chain's head, as
// for AuditStore.AppendAudit; when the head moved the method writes nothing
// and returns *HeadMismatchError.
type ShareStore interface {
	// CreateShare stores a new ACTIVE share with the grantee's notification and
	// the audit record. With s.IdempotencyKey set it also claims (patient, key)
	// for 24 hours from s.CreatedAt; a key claimed before makes it write nothing and return
	// *IdempotencyReplayError. KindConflict when the id exists.
	CreateShare(ctx context.Context, s Share, n Notification, rec AuditRecord) error

	// GetShare returns the share or KindNotFound.
	GetShare(ctx context.Context, id string) (Share, error)

	// ListShares returns one page of the shares of a patient (role patient) or
	// granted to a professional (role professional), newest first.
	ListShares(ctx context.Context, party string, role Role, page Page) ([]Share, string, error)

	// RevokeShare moves patientID's share to REVOKED at `at`, recording the
	// reason and rec.ActorID as RevokedBy, with the grantee's notification and the
	// audit record, and reports whether this call revoked it. A share that is
	// already revoked is left unchanged: nothing is written (no notification, no
	// record) and revoked is false. KindNotFound when there is no such share of
	// that patient.
	RevokeShare(ctx context.Context, id, patientID string, at time.Time, reason string, n Notification, rec AuditRecord) (revoked bool, err error)

	// OpenAccess stores a new access on condition that its share is ACTIVE, not
	// expired at now, granted to a.ProfessionalID, and that the device is bound
	// to the share or the share has room to bind it (then it binds it), with
	// the patient's notification and the audit record. Errors: KindNotFound
	// (no share for that grantee), KindGone
	// with session_revoked or session_expired, KindForbidden with
	// device_mismatch.
	OpenAccess(ctx context.Context, a Access, now time.Time, n Notification, rec AuditRecord) error

	// GetAccess returns the access (with its share snapshot) or KindNotFound.
	GetAccess(ctx context.Context, id string) (Access, error)

	// IssueKey consumes one view and records the ISSUED key, on condition that
	// the share is ACTIVE, not expired at now, granted to k.ProfessionalID and
	// has views left, and that the photo (k.PatientID, k.PhotoID) still exists
	// (a deleted photo's key is never released again), with the patient's
	// notification and the audit record. Errors: KindGone with
	// session_revoked, session_expired or views_exhausted; KindNotFound (no
	// such share for that grantee, or the photo was deleted).
	IssueKey(ctx context.Context, k EphemeralKey, now time.Time, n Notification, rec AuditRecord) error

	// GetKey returns the key or KindNotFound.
	GetKey(ctx context.Context, id string) (EphemeralKey, error)

	// ClaimKey moves key k (as read by GetKey: its id and share id are what
	// count) ISSUED → USED, once, on condition that it belongs to
	// professionalID, has not expired at now, and that its share is ACTIVE and
	// not expired at now, with the audit record. It returns the key as stored
	// after the claim. Errors: KindGone with key_used, key_expired,
	// session_revoked or session_expired; KindNotFound.
	ClaimKey(ctx context.Context, k EphemeralKey, professionalID string, now time.Time, rec AuditRecord) (EphemeralKey, error)

	// ListInbox returns one page of recipient's notifications, newest first.
	ListInbox(ctx context.Context, recipient string, page Page) ([]InboxItem, string, error)

	// MarkRead marks one of recipient's notifications read; KindNotFound when
	// it is not theirs.
	MarkRead(ctx context.Context, recipient, id string) (InboxItem, error)

	// MarkPublished records that the notifier accepted the notification.
	MarkPublished(ctx context.Context, recipient, id string) error

	// AddSuspicion moves the access's suspicion score from prev to next on
	// condition that it is still prev, with the audit record and, when n is
	// not nil, the notification, atomically. When the score moved it writes
	// nothing and returns *ScoreMovedError with the current score.
	// KindNotFound when there is no such access.
	//
	// When flag is not empty, the write also requires that the access has
	// not been flagged with it before and records it on the access, in the
	// same atomic write: each distinct signal key counts once per access.
	// When the access was flagged with it before, nothing is written and the
	// error is ErrAlreadyFlagged (compare with errors.Is); this check comes
	// before the score check.
	AddSuspicion(ctx context.Context, accessID string, prev, next int, flag string, n *Notification, rec AuditRecord) error

	// AppendAuditNotify appends rec to its chain and stores n in its
	// recipient's inbox (unread, unpublished, as the state-changing methods
	// store theirs), atomically: a refused request whose record the patient
	// must also hear about (a device refused on a bound session). The record
	// must follow its chain's head, as for AuditStore.AppendAudit; when the
	// head moved it writes nothing and returns *HeadMismatchError.
	// KindConflict when the notification id exists, and nothing is written.
	AppendAuditNotify(ctx context.Context, rec AuditRecord, n Notification) error
}

// ErrAlreadyFlagged is returned by AddSuspicion when the access was flagged
// with the given flag before: the signal was already counted. Compare with
// errors.Is.
var ErrAlreadyFlagged = &Error{Kind: KindConflict, Code: CodeConflict, Message: "signal already counted"}

// ScoreMovedError is returned by AddSuspicion when the access's score is no
// longer the one the caller read; Current is the score now.
type ScoreMovedError struct {
	AccessID string
	Current  int
}

func (e *ScoreMovedError) Error() string {
	return fmt.Sprintf("suspicion score of access %s moved to %d", e.AccessID, e.Current)
}
