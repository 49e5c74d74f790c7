package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/httpapi/wire"
)

// The operations the portals added (issue 11): a patient's own photo on a
// device that did not upload it, and an appointment's chat images.

// photoKeyBody is photo-key's body.
type photoKeyBody struct {
	KEM             *uint16 `json:"kem"`
	DevicePublicKey []byte  `json:"device_public_key"`
}

func (h *Handler) photoKey(ctx context.Context, r request) (int, any, error) {
	var b photoKeyBody
	if err := decodeJSON(r.ev, &b); err != nil {
		return 0, nil, err
	}
	if b.KEM == nil {
		return 0, nil, core.ErrInvalid("kem is required")
	}
	k, err := h.svc.OwnerPhotoKey(ctx, r.caller, r.ev.PathParameters["photo_id"], *b.KEM, b.DevicePublicKey)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, wire.OwnerKeyOf(k), nil
}

// chatImageView is a chat image in a list: its private URL, which the
// signed-url route resolves, and what a client checks the bytes against.
type chatImageView struct {
	ImageID     string    `json:"image_id"`
	URL         string    `json:"url"`
	UploaderID  string    `json:"uploader_id"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      []byte    `json:"sha256"`
	CreatedAt   time.Time `json:"created_at"`
	// LegacyURL is, for an image migrated from the legacy chat, the old
	// URL its messages hold (ARCHITECTURE §9).
	LegacyURL string `json:"legacy_url,omitempty"`
}

func (h *Handler) listChatImages(ctx context.Context, r request) (int, any, error) {
	page, err := pageParam(r.ev)
	if err != nil {
		return 0, nil, err
	}
	// clinic_id is optional, as in chat-upload's body: it names the clinic
	// when the caller takes part in appointments of several clinics with
	// this id. Given, it may not be empty.
	clinic, named := r.ev.QueryStringParameters["clinic_id"]
	if named && clinic == "" {
		return 0, nil, core.ErrInvalid("clinic_id is malformed")
	}
	imgs, next, err := h.svc.ListChatImages(ctx, r.caller, r.ev.PathParameters["appointment_id"], clinic, page)
	if err != nil {
		return 0, nil, err
	}
	out := listView[chatImageView]{Items: make([]chatImageView, 0, len(imgs)), NextCursor: next}
	for _, img := range imgs {
		out.Items = append(out.Items, chatImageView{
			ImageID: img.ID, URL: ChatImageURL(img.ID), UploaderID: img.UploaderID, ContentType: img.ContentType,
			Size: img.Size, SHA256: img.SHA256, CreatedAt: img.CreatedAt.UTC(), LegacyURL: img.LegacyURL,
		})
	}
	return http.StatusOK, out, nil
}
