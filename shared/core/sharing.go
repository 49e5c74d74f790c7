package core

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
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

// ShareInput is a patient's request to share photos with one professional.
type ShareInput struct {
	ProfessionalID   string
	PhotoIDs         []string
	Angles           []Angle
	ExpiresIn        time.Duration
	MaxViews         int
	AccessWindow     time.Duration // 0: DefaultAccessWindow
	MaxDevices       int           // 0: 1
	ScreenshotPolicy ScreenshotPolicy
	Purpose          string
	IdempotencyKey   string
}

func (in ShareInput) validate() error {
	switch {
	case !ValidExternalID(in.ProfessionalID):
		return ErrInvalid("professional_id is malformed")
	case ReservedID(in.ProfessionalID):
		return ErrInvalid("professional_id is reserved for the service")
	case len(in.PhotoIDs) > 0 && len(in.Angles) > 0:
		return ErrInvalid("give photo_ids or angles, not both")
	case len(in.PhotoIDs) == 0 && len(in.Angles) == 0:
		return ErrInvalid("give photo_ids or angles")
	case len(in.PhotoIDs) > MaxSharePhotos:
		return ErrInvalid("at most %d photo_ids", MaxSharePhotos)
	case in.ExpiresIn < MinShareExpiry || in.ExpiresIn > MaxShareExpiry:
		return ErrInvalid("expires_in must be between %d and %d seconds", int(MinShareExpiry.Seconds()), int(MaxShareExpiry.Seconds()))
	case in.MaxViews < 1 || in.MaxViews > MaxShareViews:
		return ErrInvalid("max_views must be between 1 and %d", MaxShareViews)
	case in.AccessWindow != 0 && (in.AccessWindow < MinAccessWindow || in.AccessWindow > MaxAccessWindow):
		return ErrInvalid("access_window must be between %d and %d seconds", int(MinAccessWindow.Seconds()), int(MaxAccessWindow.Seconds()))
	case in.MaxDevices < 0 || in.MaxDevices > MaxShareDevices:
		return ErrInvalid("max_devices must be between 1 and %d", MaxShareDevices)
	case !slices.Contains([]ScreenshotPolicy{ScreenshotAllow, ScreenshotWarn, ScreenshotRevoke}, in.ScreenshotPolicy):
		return ErrInvalid("screenshot_policy must be allow, warn or revoke")
	case len([]rune(in.Purpose)) > MaxPurposeChars || strings.IndexFunc(in.Purpose, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return ErrInvalid("purpose must be at most %d printable characters", MaxPurposeChars)
	case len(in.IdempotencyKey) > MaxIdempotencyKey || (in.IdempotencyKey != "" && !ValidExternalID(in.IdempotencyKey)):
		return ErrInvalid("Idempotency-Key must be 1-%d characters of letters, digits and ._:@-", MaxIdempotencyKey)
	}
	for i, id := range in.PhotoIDs {
		if !ValidID("ph", id) {
			return ErrInvalid("photo_ids[%d] is malformed", i)
		}
		if slices.Contains(in.PhotoIDs[:i], id) {
			return ErrInvalid("photo_ids[%d] is listed twice", i)
		}
	}
	for i, a := range in.Angles {
		if !a.Valid() {
			return ErrInvalid("angles[%d] must be one of %v", i, Angles)
		}
	}
	return nil
}

// requestHash identifies a create request for idempotency: the same key with
// another body is a conflict. Stored shares keep it for a day, so a retry may
// cross a deploy: the encoding of the fields below is frozen
// (TestRequestHashIsFrozen), and a field added to ShareInput must carry
// `json:",omitempty"` so that a request that leaves it out hashes as before
// (TestNewShareInputFieldsOmitEmpty).
func (in ShareInput) requestHash() []byte {
	in.IdempotencyKey = ""
	b, _ := json.Marshal(in)
	sum := sha256.Sum256(b)
	return sum[:]
}

// newShare is the share that in creates, as id, for patientID, of photos,
// at now: what the input leaves out takes its default here.
func (in ShareInput) newShare(id, patientID string, photos []SharedPhoto, now time.Time) Share {
	window := in.AccessWindow
	if window == 0 {
		window = DefaultAccessWindow
	}
	devices := in.MaxDevices
	if devices == 0 {
		devices = 1
	}
	sh := Share{
		ID: id, PatientID: patientID, ProfessionalID: in.ProfessionalID, Photos: photos,
		Purpose: in.Purpose, ScreenshotPolicy: in.ScreenshotPolicy, MaxViews: in.MaxViews,
		AccessWindow: window, MaxDevices: devices, Status: ShareActive,
		CreatedAt: now, ExpiresAt: now.Add(in.ExpiresIn),
		IdempotencyKey: in.IdempotencyKey,
	}
	if in.IdempotencyKey != "" {
		sh.RequestHash = in.requestHash()
	}
	return sh
}

// StatusAt is the share's status at now: an active share past its expiry is
// expired (ARCHITECTURE §2.2).
func (s Share) StatusAt(now time.Time) ShareStatus {
	if s.Status == ShareActive && !now.Before(s.ExpiresAt) {
		return ShareExpired
	}
	return s.Status
}

// The refusal rules of a share and its keys. Each says whether a
// professional may still do something at now and, if not, the one precise
// error: the service asks them before it writes, and both stores ask them
// again, of the item as stored, when the write's condition fails
// (ReturnValuesOnConditionCheckFailure ALL_OLD in DynamoDB; the item read in
// the transaction in bbolt). So the three places answer with the same kind,
// code and message; the store contract suite pins the codes. The messages
// name no id: they are what the caller reads.

// RefuseUse is why professionalID may not use the share at now, or nil:
// KindNotFound when it is not granted to them, whatever its state (the
// caller learns nothing of someone else's share); then KindGone
// session_revoked, which wins over expiry; then session_expired, at and
// after ExpiresAt (StatusAt).
func (s Share) RefuseUse(professionalID string, now time.Time) error {
	if s.ProfessionalID != professionalID {
		return ErrNotFound("share not found")
	}
	switch s.StatusAt(now) {
	case ShareRevoked:
		return ErrGone(CodeSessionRevoked, "the session was revoked")
	case ShareExpired:
		return ErrGone(CodeSessionExpired, "the session has expired")
	}
	return nil
}

// RefuseView is why professionalID may not spend a view of the share at
// now, or nil: RefuseUse's reason, then KindGone views_exhausted when no
// view is left.
func (s Share) RefuseView(professionalID string, now time.Time) error {
	if err := s.RefuseUse(professionalID, now); err != nil {
		return err
	}
	if s.ViewsUsed >= s.MaxViews {
		return ErrGone(CodeViewsExhausted, "the session has no views left")
	}
	return nil
}

// RefuseDevice is why professionalID may not open an access to the share
// at now on device (a DeviceKeyFingerprint), or nil: RefuseUse's reason,
// then KindForbidden device_mismatch when the device is not one the share
// is bound to and the share has no room to bind another (MaxDevices).
func (s Share) RefuseDevice(professionalID, device string, now time.Time) error {
	if err := s.RefuseUse(professionalID, now); err != nil {
		return err
	}
	if !slices.Contains(s.Devices, device) && len(s.Devices) >= s.MaxDevices {
		return &Error{Kind: KindForbidden, Code: CodeDeviceMismatch, Message: "the session is bound to another device"}
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

// RefuseClaim is why professionalID may not claim the key at now as a key
// of share shareID (the share the caller read it under), or nil:
// KindNotFound when it is someone else's or of another share; then KindGone
// key_used when it was claimed; then key_expired, at and after ExpiresAt.
// The key's share has its own say (Share.RefuseUse), asked after this.
func (k EphemeralKey) RefuseClaim(professionalID, shareID string, now time.Time) error {
	switch {
	case k.ProfessionalID != professionalID || k.ShareID != shareID:
		return ErrNotFound("key not found")
	case k.Status != KeyIssued:
		return ErrGone(CodeKeyUsed, "the key was already used")
	case !now.Before(k.ExpiresAt):
		return ErrGone(CodeKeyExpired, "the key has expired")
	}
	return nil
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
