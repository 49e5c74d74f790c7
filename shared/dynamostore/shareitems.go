package dynamostore

import (
	"cmp"
	"slices"
	"time"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/storekeys"
)

// The item shapes of the sharing sessions (core.ShareStore), in the style of
// items.go. An item's own expiry is a fixed-width time string, which
// conditions compare to the nanosecond: share_expires_at on a share (and on
// the accesses and keys that snapshot it), access_expires_at,
// key_expires_at, claim_expires_at. The attribute time_at is IndexTime's
// sort key (N, seconds) and is set only for that index.

type sharedPhotoItem struct {
	PhotoID     string `dynamodbav:"photo_id"`
	Angle       string `dynamodbav:"angle"`
	ContentType string `dynamodbav:"content_type"`
	Size        int64  `dynamodbav:"size"`
	SHA256      []byte `dynamodbav:"sha256,omitempty"`
	// No wrapped key: the photo's item is the only one that holds it
	// (core.SharedPhoto).
}

func sharedPhotoItemsOf(ps []core.SharedPhoto) []sharedPhotoItem {
	out := make([]sharedPhotoItem, 0, len(ps))
	for _, p := range ps {
		out = append(out, sharedPhotoItem{
			PhotoID: p.PhotoID, Angle: string(p.Angle), ContentType: p.ContentType, Size: p.Size,
			SHA256: p.SHA256,
		})
	}
	return out
}

func sharedPhotos(items []sharedPhotoItem) []core.SharedPhoto {
	if len(items) == 0 {
		return nil
	}
	out := make([]core.SharedPhoto, 0, len(items))
	for _, r := range items {
		out = append(out, core.SharedPhoto{
			PhotoID: r.PhotoID, Angle: core.Angle(r.Angle), ContentType: r.ContentType, Size: r.Size,
			SHA256: r.SHA256,
		})
	}
	return out
}

// shareItem is a share. Devices is a map from each bound fingerprint to the
// time it was bound, not a list: OpenAccess binds a device with one update
// whatever the share holds (SET devices.#fp = if_not_exists(...)), under
// one condition (attribute_exists(devices.#fp) OR size(devices) <
// max_devices), where a list would need to know whether the fingerprint is
// already in it. The map is present (maybe empty) on every share, since an
// update cannot set a key in a map that does not exist. The fingerprints
// come back ordered by the time they were bound, then by fingerprint.
type shareItem struct {
	PK               string            `dynamodbav:"pk"`
	SK               string            `dynamodbav:"sk"`
	ID               string            `dynamodbav:"share_id"`
	PatientID        string            `dynamodbav:"patient_id"`
	ProfessionalID   string            `dynamodbav:"professional_id"`
	Photos           []sharedPhotoItem `dynamodbav:"photos,omitempty"`
	Purpose          string            `dynamodbav:"purpose"`
	ScreenshotPolicy string            `dynamodbav:"screenshot_policy"`
	MaxViews         int               `dynamodbav:"max_views"`
	ViewsUsed        int               `dynamodbav:"views_used"`
	AccessWindowNS   int64             `dynamodbav:"access_window_ns"`
	MaxDevices       int               `dynamodbav:"max_devices"`
	Devices          map[string]string `dynamodbav:"devices"`
	Status           string            `dynamodbav:"status"`
	CreatedAt        string            `dynamodbav:"created_at"`
	ExpiresAt        string            `dynamodbav:"share_expires_at"`
	RevokedAt        string            `dynamodbav:"revoked_at"`
	RevokedBy        string            `dynamodbav:"revoked_by"`
	RevokeReason     string            `dynamodbav:"revoke_reason"`
	IdempotencyKey   string            `dynamodbav:"idempotency_key,omitempty"`
	RequestHash      []byte            `dynamodbav:"request_hash,omitempty"`
	// The share's entries in IndexSharesByPatient (gsi1) and
	// IndexSharesByGrantee (gsi2).
	GSI1PK string `dynamodbav:"gsi1pk"`
	GSI1SK string `dynamodbav:"gsi1sk"`
	GSI2PK string `dynamodbav:"gsi2pk"`
	GSI2SK string `dynamodbav:"gsi2sk"`
	expiring
}

// shareExpiry is the expiring attributes of a share: in IndexTime (due at
// its expiry) while ACTIVE, TTL ShareTTLGrace after its expiry whatever its
// status (RevokeShare and ExpireShare remove the index attributes and keep
// the TTL).
func shareExpiry(status core.ShareStatus, expiresAt time.Time) expiring {
	e := expiring{TTL: epochCeil(expiresAt.Add(ShareTTLGrace))}
	if status == core.ShareActive {
		e.timeIndexed = dueAt(core.DueShare, expiresAt)
	}
	return e
}

func shareItemOf(s core.Share) shareItem {
	k := storekeys.ShareKey(s.ID)
	byPatient := storekeys.SharesByPatientKey(s.PatientID, s.CreatedAt, s.ID)
	byGrantee := storekeys.SharesByGranteeKey(s.ProfessionalID, s.CreatedAt, s.ID)
	devices := make(map[string]string, len(s.Devices))
	for _, fp := range s.Devices {
		devices[fp] = formatTime(s.CreatedAt)
	}
	return shareItem{
		PK:               k.PK,
		SK:               k.SK,
		ID:               s.ID,
		PatientID:        s.PatientID,
		ProfessionalID:   s.ProfessionalID,
		Photos:           sharedPhotoItemsOf(s.Photos),
		Purpose:          s.Purpose,
		ScreenshotPolicy: string(s.ScreenshotPolicy),
		MaxViews:         s.MaxViews,
		ViewsUsed:        s.ViewsUsed,
		AccessWindowNS:   int64(s.AccessWindow),
		MaxDevices:       s.MaxDevices,
		Devices:          devices,
		Status:           string(s.Status),
		CreatedAt:        formatTime(s.CreatedAt),
		ExpiresAt:        formatTime(s.ExpiresAt),
		RevokedAt:        formatTime(s.RevokedAt),
		RevokedBy:        s.RevokedBy,
		RevokeReason:     s.RevokeReason,
		IdempotencyKey:   s.IdempotencyKey,
		RequestHash:      s.RequestHash,
		GSI1PK:           byPatient.PK,
		GSI1SK:           byPatient.SK,
		GSI2PK:           byGrantee.PK,
		GSI2SK:           byGrantee.SK,
		expiring:         shareExpiry(s.Status, s.ExpiresAt),
	}
}

func (r shareItem) share() (core.Share, error) {
	s := core.Share{
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
		Devices:          boundDevices(r.Devices),
		Status:           core.ShareStatus(r.Status),
		RevokedBy:        r.RevokedBy,
		RevokeReason:     r.RevokeReason,
		IdempotencyKey:   r.IdempotencyKey,
		RequestHash:      r.RequestHash,
	}
	err := parseTimes(timeField{r.CreatedAt, &s.CreatedAt}, timeField{r.ExpiresAt, &s.ExpiresAt}, timeField{r.RevokedAt, &s.RevokedAt})
	return s, err
}

// boundDevices lists the fingerprints of a share's devices map in the order
// they were bound (the times are fixed-width strings, which sort as times),
// then by fingerprint.
func boundDevices(m map[string]string) []string {
	if len(m) == 0 {
		return nil
	}
	fps := make([]string, 0, len(m))
	for fp := range m {
		fps = append(fps, fp)
	}
	slices.SortFunc(fps, func(a, b string) int {
		return cmp.Or(cmp.Compare(m[a], m[b]), cmp.Compare(a, b))
	})
	return fps
}

// idempotencyItem is a patient's claim of an idempotency key, for
// core.IdempotencyTTL: an item whose claim has expired counts as absent (the
// next CreateShare with the key overwrites it), and TTL deletes it then.
type idempotencyItem struct {
	PK             string `dynamodbav:"pk"`
	SK             string `dynamodbav:"sk"`
	PatientID      string `dynamodbav:"patient_id"`
	IdempotencyKey string `dynamodbav:"idempotency_key"`
	ShareID        string `dynamodbav:"share_id"`
	RequestHash    []byte `dynamodbav:"request_hash,omitempty"`
	CreatedAt      string `dynamodbav:"created_at"`
	ExpiresAt      string `dynamodbav:"claim_expires_at"`
	TTL            int64  `dynamodbav:"ttl"`
}

func idempotencyItemOf(s core.Share) idempotencyItem {
	k := storekeys.IdempotencyKey(s.PatientID, s.IdempotencyKey)
	expires := s.CreatedAt.Add(core.IdempotencyTTL)
	return idempotencyItem{
		PK:             k.PK,
		SK:             k.SK,
		PatientID:      s.PatientID,
		IdempotencyKey: s.IdempotencyKey,
		ShareID:        s.ID,
		RequestHash:    s.RequestHash,
		CreatedAt:      formatTime(s.CreatedAt),
		ExpiresAt:      formatTime(expires),
		TTL:            epochCeil(expires),
	}
}

// accessItem is an access with its snapshot of the share. It is not in
// IndexTime: nothing but its TTL has to happen when it expires.
type accessItem struct {
	PK                string            `dynamodbav:"pk"`
	SK                string            `dynamodbav:"sk"`
	ID                string            `dynamodbav:"access_id"`
	ShareID           string            `dynamodbav:"share_id"`
	PatientID         string            `dynamodbav:"patient_id"`
	ProfessionalID    string            `dynamodbav:"professional_id"`
	KEM               uint16            `dynamodbav:"kem"`
	DevicePublicKey   []byte            `dynamodbav:"device_public_key,omitempty"`
	DeviceFingerprint string            `dynamodbav:"device_fingerprint"`
	SourceIP          string            `dynamodbav:"source_ip"`
	UserAgent         string            `dynamodbav:"user_agent"`
	CreatedAt         string            `dynamodbav:"created_at"`
	ExpiresAt         string            `dynamodbav:"access_expires_at"`
	ShareExpiresAt    string            `dynamodbav:"share_expires_at"`
	Photos            []sharedPhotoItem `dynamodbav:"photos,omitempty"`
	// Score is the suspicion score (AddSuspicion). OpenAccess stores 0; an
	// access stored before there were scores has none, which reads 0.
	Score int   `dynamodbav:"score"`
	TTL   int64 `dynamodbav:"ttl"`
	// The string set flags (attrFlags) holds the signal keys AddSuspicion
	// has counted; only AddSuspicion writes or reads it (ADD and contains),
	// so it is not decoded here. An access without it has none.
}

func accessItemOf(a core.Access) accessItem {
	k := storekeys.AccessKey(a.ID)
	return accessItem{
		PK:                k.PK,
		SK:                k.SK,
		ID:                a.ID,
		ShareID:           a.ShareID,
		PatientID:         a.PatientID,
		ProfessionalID:    a.ProfessionalID,
		KEM:               a.KEM,
		DevicePublicKey:   a.DevicePublicKey,
		DeviceFingerprint: a.DeviceFingerprint,
		SourceIP:          a.SourceIP,
		UserAgent:         a.UserAgent,
		CreatedAt:         formatTime(a.CreatedAt),
		ExpiresAt:         formatTime(a.ExpiresAt),
		ShareExpiresAt:    formatTime(a.ShareExpiresAt),
		Photos:            sharedPhotoItemsOf(a.Photos),
		Score:             a.Score,
		TTL:               epochCeil(a.ExpiresAt.Add(GrantTTLGrace)),
	}
}

func (r accessItem) access() (core.Access, error) {
	a := core.Access{
		ID:                r.ID,
		ShareID:           r.ShareID,
		PatientID:         r.PatientID,
		ProfessionalID:    r.ProfessionalID,
		KEM:               r.KEM,
		DevicePublicKey:   r.DevicePublicKey,
		DeviceFingerprint: r.DeviceFingerprint,
		SourceIP:          r.SourceIP,
		UserAgent:         r.UserAgent,
		Photos:            sharedPhotos(r.Photos),
		Score:             r.Score,
	}
	err := parseTimes(timeField{r.CreatedAt, &a.CreatedAt}, timeField{r.ExpiresAt, &a.ExpiresAt}, timeField{r.ShareExpiresAt, &a.ShareExpiresAt})
	return a, err
}

// ephemeralKeyItem is an ephemeral key. It stays in IndexTime (due at its
// expiry), issued or used, until the cleanup job or TTL deletes it.
type ephemeralKeyItem struct {
	PK             string `dynamodbav:"pk"`
	SK             string `dynamodbav:"sk"`
	ID             string `dynamodbav:"key_id"`
	AccessID       string `dynamodbav:"access_id"`
	ShareID        string `dynamodbav:"share_id"`
	PhotoID        string `dynamodbav:"photo_id"`
	PatientID      string `dynamodbav:"patient_id"`
	ProfessionalID string `dynamodbav:"professional_id"`
	ObjectKey      string `dynamodbav:"object_key"`
	Status         string `dynamodbav:"status"`
	CreatedAt      string `dynamodbav:"created_at"`
	ExpiresAt      string `dynamodbav:"key_expires_at"`
	ShareExpiresAt string `dynamodbav:"share_expires_at"`
	UsedAt         string `dynamodbav:"used_at"`
	expiring
}

func ephemeralKeyItemOf(k core.EphemeralKey) ephemeralKeyItem {
	key := storekeys.EphemeralKeyKey(k.ID)
	return ephemeralKeyItem{
		PK:             key.PK,
		SK:             key.SK,
		ID:             k.ID,
		AccessID:       k.AccessID,
		ShareID:        k.ShareID,
		PhotoID:        k.PhotoID,
		PatientID:      k.PatientID,
		ProfessionalID: k.ProfessionalID,
		ObjectKey:      k.ObjectKey,
		Status:         string(k.Status),
		CreatedAt:      formatTime(k.CreatedAt),
		ExpiresAt:      formatTime(k.ExpiresAt),
		ShareExpiresAt: formatTime(k.ShareExpiresAt),
		UsedAt:         formatTime(k.UsedAt),
		expiring: expiring{
			timeIndexed: dueAt(core.DueKey, k.ExpiresAt),
			TTL:         epochCeil(k.ExpiresAt.Add(GrantTTLGrace)),
		},
	}
}

func (r ephemeralKeyItem) key() (core.EphemeralKey, error) {
	k := core.EphemeralKey{
		ID:             r.ID,
		AccessID:       r.AccessID,
		ShareID:        r.ShareID,
		PhotoID:        r.PhotoID,
		PatientID:      r.PatientID,
		ProfessionalID: r.ProfessionalID,
		ObjectKey:      r.ObjectKey,
		Status:         core.KeyStatus(r.Status),
	}
	err := parseTimes(timeField{r.CreatedAt, &k.CreatedAt}, timeField{r.ExpiresAt, &k.ExpiresAt},
		timeField{r.ShareExpiresAt, &k.ShareExpiresAt}, timeField{r.UsedAt, &k.UsedAt})
	return k, err
}

// inboxItem is a notification in its recipient's inbox. Until the
// notification is published it is in IndexTime, due at its creation (the
// cleanup job hands it to the notifier again); MarkPublished removes it.
type inboxItem struct {
	PK          string            `dynamodbav:"pk"`
	SK          string            `dynamodbav:"sk"`
	ID          string            `dynamodbav:"notification_id"`
	RecipientID string            `dynamodbav:"recipient_id"`
	Type        string            `dynamodbav:"type"`
	ShareID     string            `dynamodbav:"share_id"`
	CreatedAt   string            `dynamodbav:"created_at"`
	Data        map[string]string `dynamodbav:"data,omitempty"`
	Read        bool              `dynamodbav:"read"`
	Published   bool              `dynamodbav:"published"`
	timeIndexed
}

// inboxItemOf is the new, unread and unpublished inbox item of n.
func inboxItemOf(n core.Notification) inboxItem {
	k := storekeys.InboxKey(n.RecipientID, n.ID)
	return inboxItem{
		PK:          k.PK,
		SK:          k.SK,
		ID:          n.ID,
		RecipientID: n.RecipientID,
		Type:        n.Type,
		ShareID:     n.ShareID,
		CreatedAt:   formatTime(n.CreatedAt),
		Data:        n.Data,
		timeIndexed: dueAt(core.DueNotification, n.CreatedAt),
	}
}

func (r inboxItem) entry() (core.InboxItem, error) {
	it := core.InboxItem{
		Notification: core.Notification{
			ID:          r.ID,
			RecipientID: r.RecipientID,
			Type:        r.Type,
			ShareID:     r.ShareID,
			Data:        r.Data,
		},
		Read:      r.Read,
		Published: r.Published,
	}
	err := parseTimes(timeField{r.CreatedAt, &it.CreatedAt})
	return it, err
}

// Attribute names of the sharing items used in expressions.
const (
	attrProfessionalID = "professional_id"
	attrShareID        = "share_id"
	attrShareExpiresAt = "share_expires_at"
	attrKeyExpiresAt   = "key_expires_at"
	attrClaimExpiresAt = "claim_expires_at"
	attrMaxViews       = "max_views"
	attrViewsUsed      = "views_used"
	attrMaxDevices     = "max_devices"
	attrDevices        = "devices"
	attrRevokedAt      = "revoked_at"
	attrRevokedBy      = "revoked_by"
	attrRevokeReason   = "revoke_reason"
	attrUsedAt         = "used_at"
	attrRead           = "read"
	attrPublished      = "published"
	attrScore          = "score"
	attrFlags          = "flags" // string set of the signal keys AddSuspicion counted
)

func decodeShare(it item) (core.Share, error) {
	var r shareItem
	if err := unmarshal(it, &r); err != nil {
		return core.Share{}, err
	}
	s, err := r.share()
	if err != nil {
		return core.Share{}, corrupt(it, err)
	}
	return s, nil
}

func decodeAccess(it item) (core.Access, error) {
	var r accessItem
	if err := unmarshal(it, &r); err != nil {
		return core.Access{}, err
	}
	a, err := r.access()
	if err != nil {
		return core.Access{}, corrupt(it, err)
	}
	return a, nil
}

func decodeEphemeralKey(it item) (core.EphemeralKey, error) {
	var r ephemeralKeyItem
	if err := unmarshal(it, &r); err != nil {
		return core.EphemeralKey{}, err
	}
	k, err := r.key()
	if err != nil {
		return core.EphemeralKey{}, corrupt(it, err)
	}
	return k, nil
}

func decodeInboxItem(it item) (core.InboxItem, error) {
	var r inboxItem
	if err := unmarshal(it, &r); err != nil {
		return core.InboxItem{}, err
	}
	n, err := r.entry()
	if err != nil {
		return core.InboxItem{}, corrupt(it, err)
	}
	return n, nil
}

func decodeIdempotency(it item) (idempotencyItem, error) {
	var r idempotencyItem
	if err := unmarshal(it, &r); err != nil {
		return idempotencyItem{}, err
	}
	return r, nil
}
