package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/medshare/medshare/shared/core"
)

type shareBody struct {
	ProfessionalID   string   `json:"professional_id"`
	PhotoIDs         []string `json:"photo_ids"`
	Angles           []string `json:"angles"`
	ExpiresIn        *int64   `json:"expires_in"`
	MaxViews         *int     `json:"max_views"`
	AccessWindow     int64    `json:"access_window"`
	MaxDevices       int      `json:"max_devices"`
	ScreenshotPolicy string   `json:"screenshot_policy"`
	Purpose          string   `json:"purpose"`
}

type sharedPhotoView struct {
	PhotoID     string `json:"photo_id"`
	Angle       string `json:"angle"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      []byte `json:"sha256"`
}

type shareView struct {
	ShareID          string            `json:"share_id"`
	Status           string            `json:"status"`
	PatientID        string            `json:"patient_id"`
	ProfessionalID   string            `json:"professional_id"`
	PhotoIDs         []string          `json:"photo_ids"`
	Photos           []sharedPhotoView `json:"photos"`
	Purpose          string            `json:"purpose"`
	ScreenshotPolicy string            `json:"screenshot_policy"`
	MaxViews         int               `json:"max_views"`
	ViewsUsed        int               `json:"views_used"`
	AccessWindow     int64             `json:"access_window"`
	MaxDevices       int               `json:"max_devices"`
	CreatedAt        time.Time         `json:"created_at"`
	ExpiresAt        time.Time         `json:"expires_at"`
	RevokedAt        *time.Time        `json:"revoked_at,omitempty"`
}

func viewSharedPhotos(ps []core.SharedPhoto) ([]string, []sharedPhotoView) {
	ids := make([]string, 0, len(ps))
	views := make([]sharedPhotoView, 0, len(ps))
	for _, p := range ps {
		ids = append(ids, p.PhotoID)
		views = append(views, sharedPhotoView{p.PhotoID, string(p.Angle), p.ContentType, p.Size, p.SHA256})
	}
	return ids, views
}

func viewShare(s core.Share) shareView {
	ids, photos := viewSharedPhotos(s.Photos)
	v := shareView{
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

func (h *Handler) createShare(ctx context.Context, r request) (int, any, error) {
	var b shareBody
	if err := decodeJSON(r.ev, &b); err != nil {
		return 0, nil, err
	}
	if b.ExpiresIn == nil || b.MaxViews == nil {
		return 0, nil, core.ErrInvalid("expires_in and max_views are required")
	}
	in := core.ShareInput{
		ProfessionalID: b.ProfessionalID, PhotoIDs: b.PhotoIDs,
		ExpiresIn: seconds(*b.ExpiresIn), MaxViews: *b.MaxViews, AccessWindow: seconds(b.AccessWindow),
		MaxDevices: b.MaxDevices, ScreenshotPolicy: core.ScreenshotPolicy(b.ScreenshotPolicy), Purpose: b.Purpose,
		IdempotencyKey: header(r.ev, "idempotency-key"),
	}
	if in.ScreenshotPolicy == "" {
		in.ScreenshotPolicy = core.ScreenshotWarn
	}
	for _, a := range b.Angles {
		in.Angles = append(in.Angles, core.Angle(a))
	}
	s, _, err := h.svc.CreateShare(ctx, r.caller, in)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, viewShare(s), nil
}

// seconds converts a count of seconds from the wire, saturating instead of
// overflowing so that range checks see a huge value, not a wrapped one.
func seconds(n int64) time.Duration {
	const max = int64(1<<63-1) / int64(time.Second)
	if n > max || n < -max {
		return time.Duration(1<<63 - 1)
	}
	return time.Duration(n) * time.Second
}

func (h *Handler) listShares(ctx context.Context, r request) (int, any, error) {
	page, err := pageParam(r.ev)
	if err != nil {
		return 0, nil, err
	}
	shares, next, err := h.svc.ListShares(ctx, r.caller, page)
	if err != nil {
		return 0, nil, err
	}
	out := listView[shareView]{Items: make([]shareView, 0, len(shares)), NextCursor: next}
	for _, s := range shares {
		out.Items = append(out.Items, viewShare(s))
	}
	return http.StatusOK, out, nil
}

func (h *Handler) getShare(ctx context.Context, r request) (int, any, error) {
	s, err := h.svc.GetShare(ctx, r.caller, r.ev.PathParameters["share_id"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, viewShare(s), nil
}

func (h *Handler) revokeShare(ctx context.Context, r request) (int, any, error) {
	var b struct {
		Reason string `json:"reason"`
	}
	if r.ev.Body != "" {
		if err := decodeJSON(r.ev, &b); err != nil {
			return 0, nil, err
		}
	}
	s, err := h.svc.RevokeShare(ctx, r.caller, r.ev.PathParameters["share_id"], b.Reason)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct {
		ShareID string `json:"share_id"`
		Status  string `json:"status"`
	}{s.ID, string(s.Status)}, nil
}

func (h *Handler) openAccess(ctx context.Context, r request) (int, any, error) {
	var b struct {
		KEM               *uint16 `json:"kem"`
		DevicePublicKey   []byte  `json:"device_public_key"`
		DeviceFingerprint string  `json:"device_fingerprint"`
	}
	if err := decodeJSON(r.ev, &b); err != nil {
		return 0, nil, err
	}
	if b.KEM == nil {
		return 0, nil, core.ErrInvalid("kem is required")
	}
	a, err := h.svc.OpenAccess(ctx, r.caller, r.ev.PathParameters["share_id"], core.DeviceInput{KEM: *b.KEM, PublicKey: b.DevicePublicKey, Fingerprint: b.DeviceFingerprint})
	if err != nil {
		return 0, nil, err
	}
	_, photos := viewSharedPhotos(a.Photos)
	return http.StatusCreated, struct {
		AccessID  string            `json:"access_id"`
		ShareID   string            `json:"share_id"`
		ExpiresAt time.Time         `json:"expires_at"`
		Photos    []sharedPhotoView `json:"photos"`
	}{a.ID, a.ShareID, a.ExpiresAt.UTC(), photos}, nil
}

func (h *Handler) issueKey(ctx context.Context, r request) (int, any, error) {
	k, err := h.svc.IssueKey(ctx, r.caller, r.ev.PathParameters["access_id"], r.ev.PathParameters["photo_id"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, struct {
		KeyID     string    `json:"key_id"`
		PhotoID   string    `json:"photo_id"`
		SealedKey []byte    `json:"sealed_key"`
		KEM       uint16    `json:"kem"`
		KDF       uint16    `json:"kdf"`
		AEAD      uint16    `json:"aead"`
		ExpiresAt time.Time `json:"expires_at"`
	}{k.Key.ID, k.Key.PhotoID, k.SealedKey, k.KEM, core.KDFHKDFSHA256, core.AEADAES256GCM, k.Key.ExpiresAt.UTC()}, nil
}

func (h *Handler) claimKey(ctx context.Context, r request) (int, any, error) {
	u, err := h.svc.ClaimKey(ctx, r.caller, r.ev.PathParameters["key_id"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, signedURLView{u.URL, u.ExpiresAt.UTC()}, nil
}

type notificationView struct {
	NotificationID string            `json:"notification_id"`
	Type           string            `json:"type"`
	CreatedAt      time.Time         `json:"created_at"`
	Read           bool              `json:"read"`
	ShareID        string            `json:"share_id,omitempty"`
	Data           map[string]string `json:"data,omitempty"`
}

func viewNotification(it core.InboxItem) notificationView {
	return notificationView{it.ID, it.Type, it.CreatedAt.UTC(), it.Read, it.ShareID, it.Data}
}

func (h *Handler) listNotifications(ctx context.Context, r request) (int, any, error) {
	page, err := pageParam(r.ev)
	if err != nil {
		return 0, nil, err
	}
	items, next, err := h.svc.Inbox(ctx, r.caller, page)
	if err != nil {
		return 0, nil, err
	}
	out := listView[notificationView]{Items: make([]notificationView, 0, len(items)), NextCursor: next}
	for _, it := range items {
		out.Items = append(out.Items, viewNotification(it))
	}
	return http.StatusOK, out, nil
}

func (h *Handler) markNotificationRead(ctx context.Context, r request) (int, any, error) {
	it, err := h.svc.MarkRead(ctx, r.caller, r.ev.PathParameters["notification_id"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, viewNotification(it), nil
}

type activityBody struct {
	Events []struct {
		Type    string    `json:"type"`
		At      time.Time `json:"at"`
		Details string    `json:"details"`
	} `json:"events"`
}

func (h *Handler) reportActivity(ctx context.Context, r request) (int, any, error) {
	var b activityBody
	if err := decodeJSON(r.ev, &b); err != nil {
		return 0, nil, err
	}
	events := make([]core.ActivityEvent, 0, len(b.Events))
	for _, e := range b.Events {
		events = append(events, core.ActivityEvent{Type: e.Type, At: e.At, Details: e.Details})
	}
	res, err := h.svc.ReportActivity(ctx, r.caller, r.ev.PathParameters["access_id"], events)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct {
		Action string `json:"action"`
		Score  int    `json:"score"`
	}{res.Action, res.Score}, nil
}
