package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/httpapi/wire"
)

// shareBody is create-session's body. expires_in and max_views are
// required, and neither may be 0, so 0 (absent or given) is "required".
type shareBody = wire.ShareRequest

func (h *Handler) createShare(ctx context.Context, r request) (int, any, error) {
	var b shareBody
	if err := decodeJSON(r.ev, &b); err != nil {
		return 0, nil, err
	}
	if b.ExpiresIn == 0 || b.MaxViews == 0 {
		return 0, nil, core.ErrInvalid("expires_in and max_views are required")
	}
	in := b.Input(header(r.ev, "idempotency-key"))
	s, _, err := h.svc.CreateShare(ctx, r.caller, in)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, wire.ShareOf(s), nil
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
	out := listView[wire.Share]{Items: make([]wire.Share, 0, len(shares)), NextCursor: next}
	for _, s := range shares {
		out.Items = append(out.Items, wire.ShareOf(s))
	}
	return http.StatusOK, out, nil
}

func (h *Handler) getShare(ctx context.Context, r request) (int, any, error) {
	s, err := h.svc.GetShare(ctx, r.caller, r.ev.PathParameters["share_id"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, wire.ShareOf(s), nil
}

// revokeBody is revoke-session's body.
type revokeBody struct {
	Reason string `json:"reason"`
}

// revokeView is revoke-session's answer.
type revokeView struct {
	ShareID string `json:"share_id"`
	Status  string `json:"status"`
}

func (h *Handler) revokeShare(ctx context.Context, r request) (int, any, error) {
	var b revokeBody
	if r.ev.Body != "" {
		if err := decodeJSON(r.ev, &b); err != nil {
			return 0, nil, err
		}
	}
	s, err := h.svc.RevokeShare(ctx, r.caller, r.ev.PathParameters["share_id"], b.Reason)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, revokeView{s.ID, string(s.Status)}, nil
}

// openAccessBody is open-access's body.
type openAccessBody struct {
	KEM               *uint16 `json:"kem"`
	DevicePublicKey   []byte  `json:"device_public_key"`
	DeviceFingerprint string  `json:"device_fingerprint"`
}

func (h *Handler) openAccess(ctx context.Context, r request) (int, any, error) {
	var b openAccessBody
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
	return http.StatusCreated, wire.AccessOf(a), nil
}

func (h *Handler) issueKey(ctx context.Context, r request) (int, any, error) {
	k, err := h.svc.IssueKey(ctx, r.caller, r.ev.PathParameters["access_id"], r.ev.PathParameters["photo_id"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, wire.IssuedKeyOf(k), nil
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

// activityBody is report-activity's body.
type activityBody struct {
	Events []activityEvent `json:"events"`
}

// activityEvent is an event of an activity report.
type activityEvent struct {
	Type    string    `json:"type"`
	At      time.Time `json:"at"`
	Details string    `json:"details"`
}

// activityView is report-activity's answer.
type activityView struct {
	Action string `json:"action"`
	Score  int    `json:"score"`
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
	return http.StatusOK, activityView{res.Action, res.Score}, nil
}
