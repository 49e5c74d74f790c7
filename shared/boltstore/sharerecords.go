package boltstore

import (
	"time"

	"github.com/medshare/medshare/shared/core"
)

// The stored JSON shapes of the sharing items (shares, idempotency claims,
// accesses, ephemeral keys, inbox items), with the attribute names the
// DynamoDB items use. Times are UTC at nanosecond precision.

type sharedPhotoRecord struct {
	PhotoID     string `json:"photo_id"`
	Angle       string `json:"angle"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      []byte `json:"sha256"`
	// No wrapped key: the photo's record is the only one that holds it
	// (core.SharedPhoto; files made before hold copies until migrate
	// removes them).
}

func sharedPhotoRecordsOf(ps []core.SharedPhoto) []sharedPhotoRecord {
	out := make([]sharedPhotoRecord, len(ps))
	for i, p := range ps {
		out[i] = sharedPhotoRecord{
			PhotoID: p.PhotoID, Angle: string(p.Angle), ContentType: p.ContentType, Size: p.Size,
			SHA256: p.SHA256,
		}
	}
	return out
}

func sharedPhotos(rs []sharedPhotoRecord) []core.SharedPhoto {
	out := make([]core.SharedPhoto, len(rs))
	for i, r := range rs {
		out[i] = core.SharedPhoto{
			PhotoID: r.PhotoID, Angle: core.Angle(r.Angle), ContentType: r.ContentType, Size: r.Size,
			SHA256: r.SHA256,
		}
	}
	return out
}

type shareRecord struct {
	ID               string              `json:"share_id"`
	PatientID        string              `json:"patient_id"`
	ProfessionalID   string              `json:"professional_id"`
	Photos           []sharedPhotoRecord `json:"photos"`
	Purpose          string              `json:"purpose"`
	ScreenshotPolicy string              `json:"screenshot_policy"`
	MaxViews         int                 `json:"max_views"`
	ViewsUsed        int                 `json:"views_used"`
	AccessWindowNS   int64               `json:"access_window_ns"`
	MaxDevices       int                 `json:"max_devices"`
	Devices          []string            `json:"devices"`
	Status           string              `json:"status"`
	CreatedAt        time.Time           `json:"created_at"`
	ExpiresAt        time.Time           `json:"share_expires_at"`
	RevokedAt        time.Time           `json:"revoked_at"`
	RevokedBy        string              `json:"revoked_by"`
	RevokeReason     string              `json:"revoke_reason"`
	IdempotencyKey   string              `json:"idempotency_key"`
	RequestHash      []byte              `json:"request_hash"`
}

func shareRecordOf(s core.Share) shareRecord {
	return shareRecord{
		ID:               s.ID,
		PatientID:        s.PatientID,
		ProfessionalID:   s.ProfessionalID,
		Photos:           sharedPhotoRecordsOf(s.Photos),
		Purpose:          s.Purpose,
		ScreenshotPolicy: string(s.ScreenshotPolicy),
		MaxViews:         s.MaxViews,
		ViewsUsed:        s.ViewsUsed,
		AccessWindowNS:   int64(s.AccessWindow),
		MaxDevices:       s.MaxDevices,
		Devices:          s.Devices,
		Status:           string(s.Status),
		CreatedAt:        s.CreatedAt.UTC(),
		ExpiresAt:        s.ExpiresAt.UTC(),
		RevokedAt:        s.RevokedAt.UTC(),
		RevokedBy:        s.RevokedBy,
		RevokeReason:     s.RevokeReason,
		IdempotencyKey:   s.IdempotencyKey,
		RequestHash:      s.RequestHash,
	}
}

func (r shareRecord) share() core.Share {
	return core.Share{
		ID:               r.ID,
		PatientID:        r.PatientID,
		ProfessionalID:   r.ProfessionalID,
		Photos:           sharedPhotos(r.Photos),
		Purpose:          r.Purpose,
		ScreenshotPolicy: core.ScreenshotPolicy(r.ScreenshotPolicy),
		MaxViews:         r.MaxViews,
		ViewsUsed:        r.ViewsUsed,
		AccessWindow:     time.Duration(r.AccessWindowNS),
		MaxDevices:       r.MaxDevices,
		Devices:          r.Devices,
		Status:           core.ShareStatus(r.Status),
		CreatedAt:        r.CreatedAt.UTC(),
		ExpiresAt:        r.ExpiresAt.UTC(),
		RevokedAt:        r.RevokedAt.UTC(),
		RevokedBy:        r.RevokedBy,
		RevokeReason:     r.RevokeReason,
		IdempotencyKey:   r.IdempotencyKey,
		RequestHash:      r.RequestHash,
	}
}

// idemRecord is a patient's claim of an idempotency key: the share it
// created, until ExpiresAt (core.IdempotencyTTL after the share's creation).
type idemRecord struct {
	PatientID      string    `json:"patient_id"`
	IdempotencyKey string    `json:"idempotency_key"`
	ShareID        string    `json:"share_id"`
	RequestHash    []byte    `json:"request_hash"`
	CreatedAt      time.Time `json:"created_at"`
	ExpiresAt      time.Time `json:"claim_expires_at"`
}

type accessRecord struct {
	ID                string              `json:"access_id"`
	ShareID           string              `json:"share_id"`
	PatientID         string              `json:"patient_id"`
	ProfessionalID    string              `json:"professional_id"`
	KEM               uint16              `json:"kem"`
	DevicePublicKey   []byte              `json:"device_public_key"`
	DeviceFingerprint string              `json:"device_fingerprint"`
	SourceIP          string              `json:"source_ip"`
	UserAgent         string              `json:"user_agent"`
	CreatedAt         time.Time           `json:"created_at"`
	ExpiresAt         time.Time           `json:"access_expires_at"`
	ShareExpiresAt    time.Time           `json:"share_expires_at"`
	Photos            []sharedPhotoRecord `json:"photos"`
	// Score is the suspicion score; a record stored before scores existed
	// has none and reads 0.
	Score int `json:"score"`
	// Flags are the signal keys AddSuspicion has counted on this access, each
	// once; a record stored before flags existed has none and reads empty.
	Flags []string `json:"flags,omitempty"`
}

func accessRecordOf(a core.Access) accessRecord {
	return accessRecord{
		ID:                a.ID,
		ShareID:           a.ShareID,
		PatientID:         a.PatientID,
		ProfessionalID:    a.ProfessionalID,
		KEM:               a.KEM,
		DevicePublicKey:   a.DevicePublicKey,
		DeviceFingerprint: a.DeviceFingerprint,
		SourceIP:          a.SourceIP,
		UserAgent:         a.UserAgent,
		CreatedAt:         a.CreatedAt.UTC(),
		ExpiresAt:         a.ExpiresAt.UTC(),
		ShareExpiresAt:    a.ShareExpiresAt.UTC(),
		Photos:            sharedPhotoRecordsOf(a.Photos),
		Score:             a.Score,
	}
}

func (r accessRecord) access() core.Access {
	return core.Access{
		ID:                r.ID,
		ShareID:           r.ShareID,
		PatientID:         r.PatientID,
		ProfessionalID:    r.ProfessionalID,
		KEM:               r.KEM,
		DevicePublicKey:   r.DevicePublicKey,
		DeviceFingerprint: r.DeviceFingerprint,
		SourceIP:          r.SourceIP,
		UserAgent:         r.UserAgent,
		CreatedAt:         r.CreatedAt.UTC(),
		ExpiresAt:         r.ExpiresAt.UTC(),
		ShareExpiresAt:    r.ShareExpiresAt.UTC(),
		Photos:            sharedPhotos(r.Photos),
		Score:             r.Score,
	}
}

type ephemeralKeyRecord struct {
	ID             string    `json:"key_id"`
	AccessID       string    `json:"access_id"`
	ShareID        string    `json:"share_id"`
	PhotoID        string    `json:"photo_id"`
	PatientID      string    `json:"patient_id"`
	ProfessionalID string    `json:"professional_id"`
	ObjectKey      string    `json:"object_key"`
	Status         string    `json:"status"`
	CreatedAt      time.Time `json:"created_at"`
	ExpiresAt      time.Time `json:"key_expires_at"`
	ShareExpiresAt time.Time `json:"share_expires_at"`
	UsedAt         time.Time `json:"used_at"`
}

func ephemeralKeyRecordOf(k core.EphemeralKey) ephemeralKeyRecord {
	return ephemeralKeyRecord{
		ID:             k.ID,
		AccessID:       k.AccessID,
		ShareID:        k.ShareID,
		PhotoID:        k.PhotoID,
		PatientID:      k.PatientID,
		ProfessionalID: k.ProfessionalID,
		ObjectKey:      k.ObjectKey,
		Status:         string(k.Status),
		CreatedAt:      k.CreatedAt.UTC(),
		ExpiresAt:      k.ExpiresAt.UTC(),
		ShareExpiresAt: k.ShareExpiresAt.UTC(),
		UsedAt:         k.UsedAt.UTC(),
	}
}

func (r ephemeralKeyRecord) key() core.EphemeralKey {
	return core.EphemeralKey{
		ID:             r.ID,
		AccessID:       r.AccessID,
		ShareID:        r.ShareID,
		PhotoID:        r.PhotoID,
		PatientID:      r.PatientID,
		ProfessionalID: r.ProfessionalID,
		ObjectKey:      r.ObjectKey,
		Status:         core.KeyStatus(r.Status),
		CreatedAt:      r.CreatedAt.UTC(),
		ExpiresAt:      r.ExpiresAt.UTC(),
		ShareExpiresAt: r.ShareExpiresAt.UTC(),
		UsedAt:         r.UsedAt.UTC(),
	}
}

type inboxRecord struct {
	ID          string            `json:"notification_id"`
	RecipientID string            `json:"recipient_id"`
	Type        string            `json:"type"`
	ShareID     string            `json:"share_id"`
	CreatedAt   time.Time         `json:"created_at"`
	Data        map[string]string `json:"data"`
	Read        bool              `json:"read"`
	Published   bool              `json:"published"`
}

func inboxRecordOf(it core.InboxItem) inboxRecord {
	return inboxRecord{
		ID:          it.ID,
		RecipientID: it.RecipientID,
		Type:        it.Type,
		ShareID:     it.ShareID,
		CreatedAt:   it.CreatedAt.UTC(),
		Data:        it.Data,
		Read:        it.Read,
		Published:   it.Published,
	}
}

func (r inboxRecord) item() core.InboxItem {
	return core.InboxItem{
		Notification: core.Notification{
			ID:          r.ID,
			RecipientID: r.RecipientID,
			Type:        r.Type,
			ShareID:     r.ShareID,
			CreatedAt:   r.CreatedAt.UTC(),
			Data:        r.Data,
		},
		Read:      r.Read,
		Published: r.Published,
	}
}
