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

// The ports besides the store (store.go): blobs, the key ring and the
// notifier. As for the store, a method that reports "not found" returns an
// error of KindNotFound, never a zero value with a nil error; times are
// absolute (time.Time), durations time.Duration.

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
