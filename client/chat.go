package client

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/url"
)

// ChatImage is a chat image as staging and finalizing return it. URL is the
// private://chat-images/<id> URL the app shows; Upload is set only by
// StageChatImage.
type ChatImage struct {
	ImageID string  `json:"image_id"`
	URL     string  `json:"url"`
	Status  string  `json:"status"`
	Upload  *Upload `json:"upload,omitempty"`
}

// StageChatImage asks to upload an image of exactly these bytes into an
// appointment's chat (POST /api/chat-images): the answer's upload pins their
// length and SHA-256.
func (c *Client) StageChatImage(ctx context.Context, appointmentID, contentType string, image []byte) (ChatImage, error) {
	sum := sha256.Sum256(image)
	var ci ChatImage
	err := c.Do(ctx, "POST", "/api/chat-images", nil, map[string]any{
		"appointment_id": appointmentID, "content_type": contentType, "size": len(image), "sha256": sum[:],
	}, &ci)
	return ci, err
}

// FinalizeChatImage has the server check the uploaded bytes and mark the
// image ready (the uploader only).
func (c *Client) FinalizeChatImage(ctx context.Context, imageID string) (ChatImage, error) {
	var ci ChatImage
	err := c.Do(ctx, "POST", "/api/chat-images/"+url.PathEscape(imageID)+"/finalize", nil, nil, &ci)
	return ci, err
}

// UploadChatImage stages a chat image, sends its bytes with exactly the
// server's method, URL and headers, and finalizes it.
func (c *Client) UploadChatImage(ctx context.Context, appointmentID, contentType string, image []byte) (ChatImage, error) {
	staged, err := c.StageChatImage(ctx, appointmentID, contentType, image)
	if err != nil {
		return ChatImage{}, err
	}
	if staged.Upload == nil {
		return ChatImage{}, &APIError{Code: "bad_response", Message: "the staged chat image has no upload"}
	}
	if err := c.Send(ctx, *staged.Upload, image); err != nil {
		return ChatImage{}, err
	}
	return c.FinalizeChatImage(ctx, staged.ImageID)
}

// ChatImageURL gets a signed URL of a chat image (GET
// /api/chat-images/{id}/signed-url), with the answer's Date as ServerDate.
// Every call is a request the server audits: show images through a
// SignedURLCache.
func (c *Client) ChatImageURL(ctx context.Context, imageID string) (SignedURL, error) {
	var u SignedURL
	h, err := c.do(ctx, "GET", "/api/chat-images/"+url.PathEscape(imageID)+"/signed-url", nil, nil, &u)
	if err != nil {
		return SignedURL{}, err
	}
	if t, perr := http.ParseTime(h.Get("Date")); perr == nil {
		u.ServerDate = t
	}
	return u, nil
}

// ResolveChatImage resolves an old chat image URL of the legacy chat (POST
// /api/chat-images/resolve): its migrated image, or the old URL for a
// while. Only a participant of the image's appointment gets an answer;
// anyone else, and a URL never imported, gets the same 404. Every call is
// audited: show images through a SignedURLCache with LegacyHosts.
func (c *Client) ResolveChatImage(ctx context.Context, rawURL string) (LegacyResolution, error) {
	var r LegacyResolution
	h, err := c.do(ctx, "POST", "/api/chat-images/resolve", nil, map[string]string{"url": rawURL}, &r)
	if err != nil {
		return LegacyResolution{}, err
	}
	if t, perr := http.ParseTime(h.Get("Date")); perr == nil {
		r.ServerDate = t
	}
	return r, nil
}

// SignedURLCache returns a cache that resolves private://chat-images/ URLs,
// and old URLs of opts.LegacyHosts, with this client.
func (c *Client) SignedURLCache(opts CacheOptions) *SignedURLCache {
	if len(opts.LegacyHosts) > 0 && opts.Legacy == nil {
		opts.Legacy = c.ResolveChatImage
	}
	return NewSignedURLCache(c.ChatImageURL, opts)
}
