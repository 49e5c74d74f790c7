package httpapi

import (
	"context"
	"net/http"
	"time"
)

type chatResolveBody struct {
	URL string `json:"url"`
}

// chatResolveView is the answer to an old chat image URL: status migrated
// with the image's id and private URL, or status legacy with the old URL
// and until when the app may use it.
type chatResolveView struct {
	Status    string     `json:"status"`
	ImageID   string     `json:"image_id,omitempty"`
	URL       string     `json:"url"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

func (h *Handler) chatResolve(ctx context.Context, r request) (int, any, error) {
	var b chatResolveBody
	if err := decodeJSON(r.ev, &b); err != nil {
		return 0, nil, err
	}
	res, err := h.svc.ResolveChatImage(ctx, r.caller, b.URL)
	if err != nil {
		return 0, nil, err
	}
	if res.Migrated {
		return http.StatusOK, chatResolveView{Status: "migrated", ImageID: res.ImageID, URL: ChatImageURL(res.ImageID)}, nil
	}
	exp := res.ExpiresAt.UTC()
	return http.StatusOK, chatResolveView{Status: "legacy", URL: res.URL, ExpiresAt: &exp}, nil
}
