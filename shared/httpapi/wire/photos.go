package wire

import (
	"time"

	"github.com/medshare/medshare/shared/core"
)

// Upload is how a client sends an object's ciphertext: one request, these
// headers exactly, before ExpiresAt.
type Upload struct {
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	ExpiresAt time.Time         `json:"expires_at"`
}

// UploadOf is u on the wire.
func UploadOf(u core.Upload) Upload {
	return Upload{Method: u.Method, URL: u.URL, Headers: u.Headers, ExpiresAt: u.ExpiresAt.UTC()}
}

// Photo is a patient's photo as its owner lists it.
type Photo struct {
	PhotoID     string    `json:"photo_id"`
	Status      string    `json:"status"`
	Angle       string    `json:"angle"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      []byte    `json:"sha256"`
	Metadata    []byte    `json:"metadata,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// PhotoOf is p on the wire.
func PhotoOf(p core.Photo) Photo {
	return Photo{
		PhotoID: p.ID, Status: string(p.Status), Angle: string(p.Angle), ContentType: p.ContentType,
		Size: p.Size, SHA256: p.SHA256, Metadata: p.Metadata, CreatedAt: p.CreatedAt.UTC(),
	}
}

// OwnerKey is a patient's own photo key sealed to one of their devices,
// with a signed URL of the ciphertext.
type OwnerKey struct {
	PhotoID   string    `json:"photo_id"`
	SealedKey []byte    `json:"sealed_key"`
	KEM       uint16    `json:"kem"`
	KDF       uint16    `json:"kdf"`
	AEAD      uint16    `json:"aead"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

// OwnerKeyOf is k on the wire.
func OwnerKeyOf(k core.OwnerKey) OwnerKey {
	return OwnerKey{k.PhotoID, k.SealedKey, k.KEM, core.KDFHKDFSHA256, core.AEADAES256GCM, k.URL.URL, k.URL.ExpiresAt.UTC()}
}
