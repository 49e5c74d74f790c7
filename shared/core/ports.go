package core

import (
	"context"
	"crypto/sha256"
	"errors"
	"mime"
	"strings"
	"time"
	"unicode/utf8"
)

// The ports. Each method is shaped to be one DynamoDB call (a conditional put or
// update, a query, or one TransactWriteItems) in the AWS adapter and one bbolt
// transaction in the embedded adapter. Every method that reports "not found"
// returns an error of KindNotFound, never a zero value with a nil error. Times
// are absolute (time.Time); durations are time.Duration.

// PhotoStore keeps patients' photos.
type PhotoStore interface {
	// CreatePhoto stores a new PENDING photo. It fails with KindConflict when a
	// photo with the same owner and id exists.
	CreatePhoto(ctx context.Context, p Photo) error

	// MarkPhotoReady moves the photo (owner, id) from PENDING to READY if the
	// observed object matches the declared size and SHA-256 and the upload window
	// has not passed at now; it returns the photo as stored afterwards. Atomic:
	// one conditional write. It is idempotent: a READY photo whose size and
	// SHA-256 match is returned unchanged. Errors: KindNotFound when there is no
	// such photo or it was abandoned (past its window while PENDING);
	// KindConflict when the object does not match.
	MarkPhotoReady(ctx context.Context, owner, id string, observed BlobInfo, now time.Time) (Photo, error)

	// GetPhoto returns the photo (owner, id) or KindNotFound.
	GetPhoto(ctx context.Context, owner, id string) (Photo, error)

	// ListPhotos returns owner's photos ordered by id, one page at a time, and
	// the cursor of the next page ("" at the end). A malformed cursor is
	// KindInvalid.
	ListPhotos(ctx context.Context, owner string, page Page) ([]Photo, string, error)

	// DeletePhoto removes the photo (owner, id) and returns it as it was, so that
	// the caller can delete its object. KindNotFound when absent.
	DeletePhoto(ctx context.Context, owner, id string) (Photo, error)
}

// ChatStore keeps appointments and their chat images.
type ChatStore interface {
	// PutAppointment creates the appointment (a.ClinicID, a.ID) or replaces
	// the one that clinic registered with that id, keeping CreatedAt and
	// ImageCount. Appointment ids are scoped to their clinic: another
	// clinic's appointment with the same id is another appointment, which
	// this neither reads nor changes. It reports whether it created it.
	// KindConflict when the appointment has chat images and the participants
	// would change.
	PutAppointment(ctx context.Context, a Appointment) (created bool, err error)

	// GetAppointment returns clinicID's appointment id or KindNotFound.
	GetAppointment(ctx context.Context, clinicID, id string) (Appointment, error)

	// FindAppointments returns every clinic's appointment with id, ordered
	// by clinic id, in one strongly consistent read (a Query of the id's
	// partition); none is an empty list, not an error.
	FindAppointments(ctx context.Context, id string) ([]Appointment, error)

	// CreateChatImage stores a new PENDING chat image and counts it on its
	// appointment (img.ClinicID, img.AppointmentID), atomically, on condition
	// that the appointment's participants are still img.Participants.
	// KindConflict when the participants changed or the id exists;
	// KindNotFound when the appointment is gone.
	CreateChatImage(ctx context.Context, img ChatImage) error

	// GetChatImage returns the image, with the participants who may see it, in
	// one read; KindNotFound when absent.
	GetChatImage(ctx context.Context, id string) (ChatImage, error)

	// MarkChatImageReady is MarkPhotoReady for chat images.
	MarkChatImageReady(ctx context.Context, id string, observed BlobInfo, now time.Time) (ChatImage, error)

	// ListChatImages returns one page of the READY chat images of
	// clinicID's appointment appointmentID, newest first by CreatedAt
	// (ties by id), and the cursor of the next page ("" at the end), as
	// reader (the caller) pages through it: a cursor is bound to the
	// appointment and to reader, and any other (another reader's, another
	// appointment's or another clinic's, another list's, or a malformed
	// one) is KindInvalid. Another clinic's appointment with the same id is
	// another list. PENDING images (staged, or abandoned) are never listed.
	// An appointment with no images, or none at all, is an empty list. One
	// Query (of an index, which may lag a write by a moment) in DynamoDB.
	ListChatImages(ctx context.Context, clinicID, appointmentID, reader string, page Page) ([]ChatImage, string, error)
}

// AuditStore keeps the per-patient hash chains of the audit trail.
type AuditStore interface {
	// AuditHead returns the head of patient's chain; the zero ChainHead when the
	// chain is empty.
	AuditHead(ctx context.Context, patientID string) (ChainHead, error)

	// AppendAudit appends rec to its patient's chain if the chain's head is
	// exactly (rec.Seq-1, rec.PrevHash); atomically, so that concurrent appends
	// never fork the chain. When the head moved it returns *HeadMismatchError
	// carrying the current head and writes nothing.
	AppendAudit(ctx context.Context, rec AuditRecord) error

	// ListAudit returns one page of patient's chain in sequence order
	// (ascending, or newest first when newestFirst), and the next cursor.
	ListAudit(ctx context.Context, patientID string, newestFirst bool, page Page) ([]AuditRecord, string, error)

	// ListAuditByActor returns one page of the records whose actor is actorID
	// and that the actor's history lists (AuditRecord.InActorHistory), newest
	// first, across all chains, and the next cursor. The cursor names no
	// record's patient.
	ListAuditByActor(ctx context.Context, actorID string, page Page) ([]AuditRecord, string, error)
}

// Store is every store port together, plus a health check.
type Store interface {
	PhotoStore
	ChatStore
	AuditStore
	// Ping checks that the store answers.
	Ping(ctx context.Context) error
}

// The limits every Blobs implementation enforces, S3's: one PUT writes at
// most MaxBlobSize bytes, and a presigned URL is valid for MinURLTTL to
// MaxURLTTL.
const (
	MaxBlobSize = 5 << 30
	MinURLTTL   = time.Second
	MaxURLTTL   = 7 * 24 * time.Hour
)

// CheckURLTTL refuses (KindInvalid) a URL validity outside [MinURLTTL,
// MaxURLTTL]; op names the operation in the message.
func CheckURLTTL(op string, ttl time.Duration) error {
	if ttl < MinURLTTL || ttl > MaxURLTTL {
		return ErrInvalid("%s: ttl must be between %s and %s", op, MinURLTTL, MaxURLTTL)
	}
	return nil
}

// CheckPresignPut checks the arguments of Blobs.PresignPut other than the
// key, whose rules are the implementation's: the ttl, a size from 0 to
// MaxBlobSize (KindTooLarge above), a 32-byte SHA-256, and a content type of
// printable ASCII that parses as a media type.
func CheckPresignPut(op, key string, size int64, sum []byte, contentType string, ttl time.Duration) error {
	if err := CheckURLTTL(op, ttl); err != nil {
		return err
	}
	switch {
	case size < 0:
		return ErrInvalid("%s of %s: size must not be negative", op, key)
	case size > MaxBlobSize:
		return ErrTooLarge("%s of %s: size must be at most %d bytes", op, key, int64(MaxBlobSize))
	case len(sum) != sha256.Size:
		return ErrInvalid("%s of %s: sha256 must be 32 bytes", op, key)
	case !validMediaType(contentType):
		return ErrInvalid("%s of %s: content type is malformed", op, key)
	}
	return nil
}

func validMediaType(ct string) bool {
	if ct == "" || len(ct) > 255 || strings.TrimSpace(ct) != ct {
		return false
	}
	for i := 0; i < len(ct); i++ {
		if ct[i] < 0x20 || ct[i] > 0x7e {
			return false
		}
	}
	_, _, err := mime.ParseMediaType(ct)
	return err == nil
}

// Blobs stores objects (ciphertexts, chat images) and hands out short-lived
// presigned URLs for them. Keys hold ids only.
type Blobs interface {
	// PresignPut returns how to upload exactly size bytes whose SHA-256 is sha256
	// to key with the given content type, valid for ttl. The store rejects an
	// upload whose length, digest or content type differ, and keeps nothing of it.
	PresignPut(ctx context.Context, key string, size int64, sha256 []byte, contentType string, ttl time.Duration) (Upload, error)

	// PresignGet returns a URL that reads key for ttl. It does not check that the
	// object exists.
	PresignGet(ctx context.Context, key string, ttl time.Duration) (SignedURL, error)

	// Stat returns the size and SHA-256 of the object at key, or KindNotFound.
	Stat(ctx context.Context, key string) (BlobInfo, error)

	// Delete removes the object at key; deleting an absent object is not an
	// error.
	Delete(ctx context.Context, key string) error

	// Ping checks that the blob store answers.
	Ping(ctx context.Context) error
}

// KeyRing wraps and unwraps data keys (envelope encryption). The encryption
// context is bound to the wrapped key: Unwrap under another context fails.
// Plaintext keys are never stored or logged by an implementation.
type KeyRing interface {
	// Wrap encrypts a data key under the context.
	Wrap(ctx context.Context, plaintext []byte, encCtx map[string]string) (WrappedKey, error)
	// Unwrap decrypts a wrapped key; it fails (KindInternal) when the context or
	// the ciphertext differ from what was wrapped.
	Unwrap(ctx context.Context, w WrappedKey, encCtx map[string]string) ([]byte, error)
	// Ping checks that the key ring answers.
	Ping(ctx context.Context) error
}

// Notification is one message to one recipient's inbox, also published to
// subscribers (SNS in AWS). It carries ids and an event type, never PHI.
type Notification struct {
	ID          string
	RecipientID string
	Type        string // e.g. session_created, session_revoked, suspicious_activity
	ShareID     string // optional
	CreatedAt   time.Time
	Data        map[string]string // ids and codes only
}

// Validate refuses a notification that no notifier should send: one without
// an id, recipient, type or creation time, or with a string that is not UTF-8
// (which SNS would refuse). It is KindInternal: a caller's bug.
func (n Notification) Validate() error {
	var problem string
	switch {
	case n.ID == "":
		problem = "notification has no id"
	case n.RecipientID == "":
		problem = "notification has no recipient"
	case n.Type == "":
		problem = "notification has no type"
	case n.CreatedAt.IsZero():
		problem = "notification has no creation time"
	case !utf8.ValidString(n.ID) || !utf8.ValidString(n.RecipientID) || !utf8.ValidString(n.Type) || !utf8.ValidString(n.ShareID):
		problem = "notification holds a string that is not utf-8"
	}
	for k, v := range n.Data {
		if problem == "" && (!utf8.ValidString(k) || !utf8.ValidString(v)) {
			problem = "notification data holds a string that is not utf-8"
		}
	}
	if problem != "" {
		return ErrInternal(errors.New(problem), "publish notification %q", n.ID)
	}
	return nil
}

// Notifier publishes notifications to subscribers. Publish is at-least-once:
// a nil error means the message was accepted by the transport; an error of
// KindUnavailable means it may not have been and should be retried.
type Notifier interface {
	Publish(ctx context.Context, n Notification) error
}
