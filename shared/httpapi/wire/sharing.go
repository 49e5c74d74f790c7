package wire

import (
	"time"

	"github.com/medshare/medshare/shared/core"
)

// ShareRequest is the body of create-session. ExpiresIn and MaxViews are
// required (neither may be 0).
type ShareRequest struct {
	ProfessionalID   string   `json:"professional_id"`
	PhotoIDs         []string `json:"photo_ids,omitempty"`
	Angles           []string `json:"angles,omitempty"`
	ExpiresIn        int64    `json:"expires_in"`
	MaxViews         int      `json:"max_views"`
	AccessWindow     int64    `json:"access_window,omitempty"`
	MaxDevices       int      `json:"max_devices,omitempty"`
	ScreenshotPolicy string   `json:"screenshot_policy,omitempty"`
	Purpose          string   `json:"purpose,omitempty"`
}

// Input is the core input r asks for, with the request's idempotency key;
// an absent screenshot policy is warn.
func (r ShareRequest) Input(idempotencyKey string) core.ShareInput {
	in := core.ShareInput{
		ProfessionalID: r.ProfessionalID, PhotoIDs: r.PhotoIDs,
		ExpiresIn: Seconds(r.ExpiresIn), MaxViews: r.MaxViews, AccessWindow: Seconds(r.AccessWindow),
		MaxDevices: r.MaxDevices, ScreenshotPolicy: core.ScreenshotPolicy(r.ScreenshotPolicy), Purpose: r.Purpose,
		IdempotencyKey: idempotencyKey,
	}
	if in.ScreenshotPolicy == "" {
		in.ScreenshotPolicy = core.ScreenshotWarn
	}
	for _, a := range r.Angles {
		in.Angles = append(in.Angles, core.Angle(a))
	}
	return in
}

// Seconds converts a count of seconds from the wire, saturating instead of
// overflowing so that range checks see a huge value, not a wrapped one.
func Seconds(n int64) time.Duration {
	const max = int64(1<<63-1) / int64(time.Second)
	if n > max || n < -max {
		return time.Duration(1<<63 - 1)
	}
	return time.Duration(n) * time.Second
}

// SharedPhoto is a photo of a share or an access.
type SharedPhoto struct {
	PhotoID     string `json:"photo_id"`
	Angle       string `json:"angle"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      []byte `json:"sha256"`
}

// SharedPhotosOf is the ids of ps and ps on the wire, in order.
func SharedPhotosOf(ps []core.SharedPhoto) ([]string, []SharedPhoto) {
	ids := make([]string, 0, len(ps))
	views := make([]SharedPhoto, 0, len(ps))
	for _, p := range ps {
		ids = append(ids, p.PhotoID)
		views = append(views, SharedPhoto{p.PhotoID, string(p.Angle), p.ContentType, p.Size, p.SHA256})
	}
	return ids, views
}

// Share is a share as both its parties see it.
type Share struct {
	ShareID          string        `json:"share_id"`
	Status           string        `json:"status"`
	PatientID        string        `json:"patient_id"`
	ProfessionalID   string        `json:"professional_id"`
	PhotoIDs         []string      `json:"photo_ids"`
	Photos           []SharedPhoto `json:"photos"`
	Purpose          string        `json:"purpose"`
	ScreenshotPolicy string        `json:"screenshot_policy"`
	MaxViews         int           `json:"max_views"`
	ViewsUsed        int           `json:"views_used"`
	AccessWindow     int64         `json:"access_window"`
	MaxDevices       int           `json:"max_devices"`
	CreatedAt        time.Time     `json:"created_at"`
	ExpiresAt        time.Time     `json:"expires_at"`
	RevokedAt        *time.Time    `json:"revoked_at,omitempty"`
}

// ShareOf is s on the wire.
func ShareOf(s core.Share) Share {
	ids, photos := SharedPhotosOf(s.Photos)
	v := Share{
		ShareID: s.ID, Status: string(s.Status), PatientID: s.PatientID, ProfessionalID: s.ProfessionalID,
		PhotoIDs: ids, Photos: photos, Purpose: s.Purpose, ScreenshotPolicy: string(s.ScreenshotPolicy),
		MaxViews: s.MaxViews, ViewsUsed: s.ViewsUsed, AccessWindow: int64(s.AccessWindow / time.Second),
		MaxDevices: s.MaxDevices, CreatedAt: s.CreatedAt.UTC(), ExpiresAt: s.ExpiresAt.UTC(),
	}
	if !s.RevokedAt.IsZero() {
		t := s.RevokedAt.UTC()
		v.RevokedAt = &t
	}
	return v
}

// Access is an access a professional opened on a share.
type Access struct {
	AccessID  string        `json:"access_id"`
	ShareID   string        `json:"share_id"`
	ExpiresAt time.Time     `json:"expires_at"`
	Photos    []SharedPhoto `json:"photos"`
}

// AccessOf is a on the wire.
func AccessOf(a core.Access) Access {
	_, photos := SharedPhotosOf(a.Photos)
	return Access{a.ID, a.ShareID, a.ExpiresAt.UTC(), photos}
}

// IssuedKey is a photo's data key sealed to the device of an access.
type IssuedKey struct {
	KeyID     string    `json:"key_id"`
	PhotoID   string    `json:"photo_id"`
	SealedKey []byte    `json:"sealed_key"`
	KEM       uint16    `json:"kem"`
	KDF       uint16    `json:"kdf"`
	AEAD      uint16    `json:"aead"`
	ExpiresAt time.Time `json:"expires_at"`
}

// IssuedKeyOf is k on the wire.
func IssuedKeyOf(k core.IssuedKey) IssuedKey {
	return IssuedKey{k.Key.ID, k.Key.PhotoID, k.SealedKey, k.KEM, core.KDFHKDFSHA256, core.AEADAES256GCM, k.Key.ExpiresAt.UTC()}
}
