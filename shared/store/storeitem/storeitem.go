// Package storeitem is the one stored shape of each entity that both
// stores keep: the embedded store (boltstore) writes it as JSON, the
// DynamoDB store (dynamostore) as an item's attributes, under the same
// names. Each shape is one struct with both tag sets and a codec to and
// from its core entity (PhotoOf and Photo.Entity, and so on), which copies
// the fields named alike (codec.go) and sets the others; a store adds
// only what is its own: the keys (package storekeys) and, in DynamoDB, the
// index and TTL attributes and the condition helpers.
//
// The names and encodings are fixed by what is stored already: the
// DynamoDB item layout (ARCHITECTURE §5; dynamostore's TestItemShapes and
// testdata/items.golden) and the bbolt files written before this package
// (boltstore's TestGoldenFiles). Where the two stores wrote a field
// differently before, the shape reads both: times, stored by bbolt through
// encoding/json's RFC 3339 with trailing zeros cut, and by DynamoDB as
// fixed-width strings, are fixed-width strings now in both (ParseTime reads
// either); a share's devices, a list in bbolt and a map of bound times in
// DynamoDB, are the map in both (Devices reads a list). The dynamodbav tags
// keep DynamoDB's omitempty where it had them, the json tags bbolt's.
//
// The package imports neither bbolt nor the AWS SDK, like storekeys.
package storeitem

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"time"

	"github.com/medshare/medshare/shared/core"
)

// TimeLayout formats every stored time: RFC 3339 in UTC with nine
// fractional digits, fixed width, so that a time round-trips to the
// nanosecond (the zero time included) and stored times compare as strings
// as they compare as times, which DynamoDB's conditions rely on.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// FormatTime is t as stored.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// ParseTime reads a stored time, in UTC: the fixed-width form, or any RFC
// 3339 form (bbolt files written before this package cut trailing zeros).
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// nonNil makes a nil byte slice empty, so that DynamoDB stores it as an
// empty B (which a condition can compare) rather than leaving it out.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Photo is a core.Photo as stored.
type Photo struct {
	OwnerID         string `json:"owner_id" dynamodbav:"owner_id"`
	ID              string `json:"photo_id" dynamodbav:"photo_id"`
	Angle           string `json:"angle" dynamodbav:"angle"`
	ContentType     string `json:"content_type" dynamodbav:"content_type"`
	Size            int64  `json:"size" dynamodbav:"size"`
	SHA256          []byte `json:"sha256" dynamodbav:"sha256"`
	WrappedKeyID    string `json:"wrapped_key_id" dynamodbav:"wrapped_key_id"`
	WrappedKey      []byte `json:"wrapped_key" dynamodbav:"wrapped_key,omitempty"`
	Metadata        []byte `json:"metadata" dynamodbav:"metadata,omitempty"`
	Status          string `json:"status" dynamodbav:"status"`
	CreatedAt       string `json:"created_at" dynamodbav:"created_at"`
	UploadExpiresAt string `json:"upload_expires_at" dynamodbav:"upload_expires_at"`
	UpdatedAt       string `json:"updated_at" dynamodbav:"updated_at"`
}

// PhotoOf is p as stored.
func PhotoOf(p core.Photo) Photo {
	r := shapeOf(Photo{WrappedKeyID: p.WrappedKey.KeyID, WrappedKey: p.WrappedKey.Ciphertext}, p)
	r.SHA256 = nonNil(p.SHA256)
	return r
}

// Entity is the photo r stores; an error when a time does not parse.
func (r Photo) Entity() (core.Photo, error) {
	return entityOf(core.Photo{WrappedKey: core.WrappedKey{KeyID: r.WrappedKeyID, Ciphertext: r.WrappedKey}}, r)
}

// Appointment is a core.Appointment as stored.
type Appointment struct {
	ID              string   `json:"appointment_id" dynamodbav:"appointment_id"`
	ClinicID        string   `json:"clinic_id" dynamodbav:"clinic_id"`
	PatientID       string   `json:"patient_id" dynamodbav:"patient_id"`
	ProfessionalIDs []string `json:"professional_ids" dynamodbav:"professional_ids"`
	StartsAt        string   `json:"starts_at" dynamodbav:"starts_at"`
	EndsAt          string   `json:"ends_at" dynamodbav:"ends_at"`
	ImageCount      int      `json:"image_count" dynamodbav:"image_count"`
	CreatedAt       string   `json:"created_at" dynamodbav:"created_at"`
	UpdatedAt       string   `json:"updated_at" dynamodbav:"updated_at"`
}

// AppointmentOf is a as stored.
func AppointmentOf(a core.Appointment) Appointment { return shapeOf(Appointment{}, a) }

// Entity is the appointment r stores.
func (r Appointment) Entity() (core.Appointment, error) { return entityOf(core.Appointment{}, r) }

// ChatImage is a core.ChatImage as stored, with the participants who may
// see it.
type ChatImage struct {
	ID              string   `json:"image_id" dynamodbav:"image_id"`
	AppointmentID   string   `json:"appointment_id" dynamodbav:"appointment_id"`
	ClinicID        string   `json:"clinic_id" dynamodbav:"clinic_id"`
	PatientID       string   `json:"patient_id" dynamodbav:"patient_id"`
	UploaderID      string   `json:"uploader_id" dynamodbav:"uploader_id"`
	Participants    []string `json:"participants" dynamodbav:"participants"`
	ContentType     string   `json:"content_type" dynamodbav:"content_type"`
	Size            int64    `json:"size" dynamodbav:"size"`
	SHA256          []byte   `json:"sha256" dynamodbav:"sha256"`
	Status          string   `json:"status" dynamodbav:"status"`
	CreatedAt       string   `json:"created_at" dynamodbav:"created_at"`
	UploadExpiresAt string   `json:"upload_expires_at" dynamodbav:"upload_expires_at"`
	UpdatedAt       string   `json:"updated_at" dynamodbav:"updated_at"`
	// LegacyURL is set on an image of the legacy chat (core.ChatImage).
	LegacyURL string `json:"legacy_url,omitempty" dynamodbav:"legacy_url,omitempty"`
}

// ChatImageOf is c as stored.
func ChatImageOf(c core.ChatImage) ChatImage {
	r := shapeOf(ChatImage{}, c)
	r.SHA256 = nonNil(c.SHA256)
	return r
}

// Entity is the chat image r stores.
func (r ChatImage) Entity() (core.ChatImage, error) { return entityOf(core.ChatImage{}, r) }

// AuditRecord is a core.AuditRecord as stored. Version, PhotoID, ShareID
// and Device are left out when empty, so that a version 1 record is stored
// exactly as before versions existed.
type AuditRecord struct {
	Version      int    `json:"v,omitempty" dynamodbav:"v,omitempty"`
	PatientID    string `json:"patient_id" dynamodbav:"patient_id"`
	Seq          uint64 `json:"seq" dynamodbav:"seq"`
	At           string `json:"at" dynamodbav:"at"`
	ActorID      string `json:"actor_id" dynamodbav:"actor_id"`
	ActorRole    string `json:"actor_role" dynamodbav:"actor_role"`
	Action       string `json:"action" dynamodbav:"action"`
	ResourceType string `json:"resource_type" dynamodbav:"resource_type"`
	ResourceID   string `json:"resource_id" dynamodbav:"resource_id"`
	Outcome      string `json:"outcome" dynamodbav:"outcome"`
	Reason       string `json:"reason" dynamodbav:"reason"`
	SourceIP     string `json:"source_ip" dynamodbav:"source_ip"`
	UserAgent    string `json:"user_agent" dynamodbav:"user_agent"`
	RequestID    string `json:"request_id" dynamodbav:"request_id"`
	PhotoID      string `json:"photo_id,omitempty" dynamodbav:"photo_id,omitempty"`
	ShareID      string `json:"share_id,omitempty" dynamodbav:"share_id,omitempty"`
	Device       string `json:"device,omitempty" dynamodbav:"device,omitempty"`
	PrevHash     []byte `json:"prev_hash" dynamodbav:"prev_hash,omitempty"`
	Hash         []byte `json:"hash" dynamodbav:"hash,omitempty"`
}

// AuditRecordOf is a as stored.
func AuditRecordOf(a core.AuditRecord) AuditRecord { return shapeOf(AuditRecord{}, a) }

// Entity is the record r stores.
func (r AuditRecord) Entity() (core.AuditRecord, error) { return entityOf(core.AuditRecord{}, r) }

// ChainHead is the head of an audit chain as stored: its last link.
type ChainHead struct {
	Seq  uint64 `json:"seq" dynamodbav:"seq"`
	Hash []byte `json:"hash" dynamodbav:"hash,omitempty"`
}

// Entity is the head r stores.
func (r ChainHead) Entity() (core.ChainHead, error) {
	return core.ChainHead{Seq: r.Seq, Hash: r.Hash}, nil
}

// HeadOf is the head that rec makes once appended.
func HeadOf(rec core.AuditRecord) ChainHead { return ChainHead{Seq: rec.Seq, Hash: rec.Hash} }

// SharedPhoto is what a share or access keeps of a photo. No wrapped key:
// the photo's item is the only one that holds it (core.SharedPhoto).
type SharedPhoto struct {
	PhotoID     string `json:"photo_id" dynamodbav:"photo_id"`
	Angle       string `json:"angle" dynamodbav:"angle"`
	ContentType string `json:"content_type" dynamodbav:"content_type"`
	Size        int64  `json:"size" dynamodbav:"size"`
	SHA256      []byte `json:"sha256" dynamodbav:"sha256,omitempty"`
}

func sharedPhotosOf(ps []core.SharedPhoto) []SharedPhoto {
	out := make([]SharedPhoto, 0, len(ps))
	for _, p := range ps {
		out = append(out, SharedPhoto{PhotoID: p.PhotoID, Angle: string(p.Angle), ContentType: p.ContentType, Size: p.Size, SHA256: p.SHA256})
	}
	return out
}

func sharedPhotos(rs []SharedPhoto) []core.SharedPhoto {
	if len(rs) == 0 {
		return nil
	}
	out := make([]core.SharedPhoto, 0, len(rs))
	for _, r := range rs {
		out = append(out, core.SharedPhoto{PhotoID: r.PhotoID, Angle: core.Angle(r.Angle), ContentType: r.ContentType, Size: r.Size, SHA256: r.SHA256})
	}
	return out
}

// Devices are the devices bound to a share: each fingerprint and the time
// it was bound (a stored time). A map, not a list: DynamoDB binds a device
// with one update whatever the share holds (SET devices.#fp =
// if_not_exists(...)) under one condition (attribute_exists(devices.#fp)
// OR size(devices) < max_devices), where a list would need to know whether
// the fingerprint is in it already. bbolt files written before this package
// hold a list of fingerprints, without times; it reads as the map with
// empty times.
type Devices map[string]string

// UnmarshalJSON reads the map, or the list of fingerprints that earlier
// bbolt files hold.
func (d *Devices) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("[")) {
		var fps []string
		if err := json.Unmarshal(b, &fps); err != nil {
			return err
		}
		*d = make(Devices, len(fps))
		for _, fp := range fps {
			(*d)[fp] = ""
		}
		return nil
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*d = m
	return nil
}

// Bind records that fp was bound at `at`, unless it was bound before.
func (d *Devices) Bind(fp string, at time.Time) {
	if *d == nil {
		*d = Devices{}
	}
	if _, ok := (*d)[fp]; !ok {
		(*d)[fp] = FormatTime(at)
	}
}

// Bound lists the fingerprints in the order they were bound (the stored
// times sort as times), then by fingerprint.
func (d Devices) Bound() []string {
	if len(d) == 0 {
		return nil
	}
	fps := make([]string, 0, len(d))
	for fp := range d {
		fps = append(fps, fp)
	}
	slices.SortFunc(fps, func(a, b string) int { return cmp.Or(cmp.Compare(d[a], d[b]), cmp.Compare(a, b)) })
	return fps
}

// Share is a core.Share as stored. Its Devices are present (maybe empty)
// on every share: DynamoDB cannot set a key in a map that does not exist.
type Share struct {
	ID               string        `json:"share_id" dynamodbav:"share_id"`
	PatientID        string        `json:"patient_id" dynamodbav:"patient_id"`
	ProfessionalID   string        `json:"professional_id" dynamodbav:"professional_id"`
	Photos           []SharedPhoto `json:"photos" dynamodbav:"photos,omitempty"`
	Purpose          string        `json:"purpose" dynamodbav:"purpose"`
	ScreenshotPolicy string        `json:"screenshot_policy" dynamodbav:"screenshot_policy"`
	MaxViews         int           `json:"max_views" dynamodbav:"max_views"`
	ViewsUsed        int           `json:"views_used" dynamodbav:"views_used"`
	AccessWindowNS   int64         `json:"access_window_ns" dynamodbav:"access_window_ns"`
	MaxDevices       int           `json:"max_devices" dynamodbav:"max_devices"`
	Devices          Devices       `json:"devices" dynamodbav:"devices"`
	Status           string        `json:"status" dynamodbav:"status"`
	CreatedAt        string        `json:"created_at" dynamodbav:"created_at"`
	ExpiresAt        string        `json:"share_expires_at" dynamodbav:"share_expires_at"`
	RevokedAt        string        `json:"revoked_at" dynamodbav:"revoked_at"`
	RevokedBy        string        `json:"revoked_by" dynamodbav:"revoked_by"`
	RevokeReason     string        `json:"revoke_reason" dynamodbav:"revoke_reason"`
	IdempotencyKey   string        `json:"idempotency_key" dynamodbav:"idempotency_key,omitempty"`
	RequestHash      []byte        `json:"request_hash" dynamodbav:"request_hash,omitempty"`
}

// ShareOf is s as stored; its devices were bound when it was created.
func ShareOf(s core.Share) Share {
	devices := make(Devices, len(s.Devices))
	for _, fp := range s.Devices {
		devices.Bind(fp, s.CreatedAt)
	}
	return shapeOf(Share{Photos: sharedPhotosOf(s.Photos), AccessWindowNS: int64(s.AccessWindow), Devices: devices}, s)
}

// Entity is the share r stores, its devices in the order they were bound.
func (r Share) Entity() (core.Share, error) {
	return entityOf(core.Share{Photos: sharedPhotos(r.Photos), AccessWindow: time.Duration(r.AccessWindowNS), Devices: r.Devices.Bound()}, r)
}

// IdempotencyClaim is a patient's claim of an idempotency key: the share
// it created, until ExpiresAt (core.IdempotencyTTL after the share's
// creation). A claim past its expiry counts as absent.
type IdempotencyClaim struct {
	PatientID      string `json:"patient_id" dynamodbav:"patient_id"`
	IdempotencyKey string `json:"idempotency_key" dynamodbav:"idempotency_key"`
	ShareID        string `json:"share_id" dynamodbav:"share_id"`
	RequestHash    []byte `json:"request_hash" dynamodbav:"request_hash,omitempty"`
	CreatedAt      string `json:"created_at" dynamodbav:"created_at"`
	ExpiresAt      string `json:"claim_expires_at" dynamodbav:"claim_expires_at"`
}

// ClaimOf is the claim of s's idempotency key.
func ClaimOf(s core.Share) IdempotencyClaim {
	return IdempotencyClaim{
		PatientID:      s.PatientID,
		IdempotencyKey: s.IdempotencyKey,
		ShareID:        s.ID,
		RequestHash:    s.RequestHash,
		CreatedAt:      FormatTime(s.CreatedAt),
		ExpiresAt:      FormatTime(ClaimExpiry(s)),
	}
}

// ClaimExpiry is when the claim of s's idempotency key expires.
func ClaimExpiry(s core.Share) time.Time { return s.CreatedAt.Add(core.IdempotencyTTL) }

// Live reports whether the claim still holds its key at now: before its
// expiry. An error when its expiry does not parse.
func (r IdempotencyClaim) Live(now time.Time) (bool, error) {
	expires, err := ParseTime(r.ExpiresAt)
	return err == nil && now.Before(expires), err
}

// Replay is the answer to a CreateShare that the claim refuses.
func (r IdempotencyClaim) Replay() *core.IdempotencyReplayError {
	return &core.IdempotencyReplayError{ShareID: r.ShareID, RequestHash: r.RequestHash}
}

// Access is a core.Access as stored, with the signal keys AddSuspicion
// has counted on it (Flags; none on an access stored before flags
// existed, and a score of 0 on one stored before scores). In DynamoDB the
// flags are a string set, which only AddSuspicion writes (ADD).
type Access struct {
	ID                string        `json:"access_id" dynamodbav:"access_id"`
	ShareID           string        `json:"share_id" dynamodbav:"share_id"`
	PatientID         string        `json:"patient_id" dynamodbav:"patient_id"`
	ProfessionalID    string        `json:"professional_id" dynamodbav:"professional_id"`
	KEM               uint16        `json:"kem" dynamodbav:"kem"`
	DevicePublicKey   []byte        `json:"device_public_key" dynamodbav:"device_public_key,omitempty"`
	DeviceFingerprint string        `json:"device_fingerprint" dynamodbav:"device_fingerprint"`
	SourceIP          string        `json:"source_ip" dynamodbav:"source_ip"`
	UserAgent         string        `json:"user_agent" dynamodbav:"user_agent"`
	CreatedAt         string        `json:"created_at" dynamodbav:"created_at"`
	ExpiresAt         string        `json:"access_expires_at" dynamodbav:"access_expires_at"`
	ShareExpiresAt    string        `json:"share_expires_at" dynamodbav:"share_expires_at"`
	Photos            []SharedPhoto `json:"photos" dynamodbav:"photos,omitempty"`
	Score             int           `json:"score" dynamodbav:"score"`
	Flags             []string      `json:"flags,omitempty" dynamodbav:"flags,omitempty,stringset"`
}

// AccessOf is a new access as stored: at a's score, with no flags.
func AccessOf(a core.Access) Access { return shapeOf(Access{Photos: sharedPhotosOf(a.Photos)}, a) }

// Entity is the access r stores.
func (r Access) Entity() (core.Access, error) {
	return entityOf(core.Access{Photos: sharedPhotos(r.Photos)}, r)
}

// EphemeralKey is a core.EphemeralKey as stored.
type EphemeralKey struct {
	ID             string `json:"key_id" dynamodbav:"key_id"`
	AccessID       string `json:"access_id" dynamodbav:"access_id"`
	ShareID        string `json:"share_id" dynamodbav:"share_id"`
	PhotoID        string `json:"photo_id" dynamodbav:"photo_id"`
	PatientID      string `json:"patient_id" dynamodbav:"patient_id"`
	ProfessionalID string `json:"professional_id" dynamodbav:"professional_id"`
	ObjectKey      string `json:"object_key" dynamodbav:"object_key"`
	Status         string `json:"status" dynamodbav:"status"`
	CreatedAt      string `json:"created_at" dynamodbav:"created_at"`
	ExpiresAt      string `json:"key_expires_at" dynamodbav:"key_expires_at"`
	ShareExpiresAt string `json:"share_expires_at" dynamodbav:"share_expires_at"`
	UsedAt         string `json:"used_at" dynamodbav:"used_at"`
}

// EphemeralKeyOf is k as stored.
func EphemeralKeyOf(k core.EphemeralKey) EphemeralKey { return shapeOf(EphemeralKey{}, k) }

// Entity is the key r stores.
func (r EphemeralKey) Entity() (core.EphemeralKey, error) { return entityOf(core.EphemeralKey{}, r) }

// InboxItem is a notification in its recipient's inbox, as stored.
type InboxItem struct {
	ID          string            `json:"notification_id" dynamodbav:"notification_id"`
	RecipientID string            `json:"recipient_id" dynamodbav:"recipient_id"`
	Type        string            `json:"type" dynamodbav:"type"`
	ShareID     string            `json:"share_id" dynamodbav:"share_id"`
	CreatedAt   string            `json:"created_at" dynamodbav:"created_at"`
	Data        map[string]string `json:"data" dynamodbav:"data,omitempty"`
	Read        bool              `json:"read" dynamodbav:"read"`
	Published   bool              `json:"published" dynamodbav:"published"`
}

// InboxItemOf is it as stored.
func InboxItemOf(it core.InboxItem) InboxItem { return shapeOf(InboxItem{}, it) }

// Entity is the inbox item r stores.
func (r InboxItem) Entity() (core.InboxItem, error) { return entityOf(core.InboxItem{}, r) }

// Watermark is the cleanup job's watermark of one kind of due item. Its
// time is "watermark" in bbolt and "at" in DynamoDB, as each store named
// it first; in DynamoDB only SetJobWatermark's update writes it.
type Watermark struct {
	Kind string `json:"kind" dynamodbav:"kind"`
	At   string `json:"watermark" dynamodbav:"at"`
}

// WatermarkOf is the watermark of kind at t.
func WatermarkOf(kind core.DueKind, t time.Time) Watermark {
	return Watermark{Kind: string(kind), At: FormatTime(t)}
}

// Time is the watermark's time: zero when none is stored.
func (r Watermark) Time() (time.Time, error) {
	if r.At == "" {
		return time.Time{}, nil
	}
	t, err := ParseTime(r.At)
	if err != nil || t.IsZero() {
		return time.Time{}, err
	}
	return t, nil
}

// DailyReport is a core.DailyReport as stored. Day is 00:00 UTC of the day
// it reports.
type DailyReport struct {
	Day               string `json:"day" dynamodbav:"day"`
	GeneratedAt       string `json:"generated_at" dynamodbav:"generated_at"`
	SharesCreated     int64  `json:"sessions_created" dynamodbav:"sessions_created"`
	SharesRevoked     int64  `json:"sessions_revoked" dynamodbav:"sessions_revoked"`
	SharesAutoRevoked int64  `json:"sessions_auto_revoked" dynamodbav:"sessions_auto_revoked"`
	SharesExpired     int64  `json:"sessions_expired" dynamodbav:"sessions_expired"`
	Views             int64  `json:"views" dynamodbav:"views"`
	SuspiciousEvents  int64  `json:"suspicious_events" dynamodbav:"suspicious_events"`
	ChatImageFetches  int64  `json:"chat_image_fetches" dynamodbav:"chat_image_fetches"`
}

// DayOf is 00:00 UTC of the UTC day that contains t: the day that a report
// or an audit count of t names.
func DayOf(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

// DailyReportOf is r as stored.
func DailyReportOf(r core.DailyReport) DailyReport {
	out := shapeOf(DailyReport{}, r)
	out.Day = FormatTime(DayOf(r.Day))
	return out
}

// Entity is the report r stores.
func (r DailyReport) Entity() (core.DailyReport, error) { return entityOf(core.DailyReport{}, r) }
