package client

import (
	"context"
	"crypto/hpke"
	"fmt"
	"net/url"
	"time"

	"github.com/medshare/medshare/shared/httpapi/wire"
)

// OwnerKey is a patient's own photo key sealed to one of their devices, with
// a short signed URL of the photo's ciphertext (POST /v1/photos/{id}/key;
// the server's view).
type OwnerKey = wire.OwnerKey

// OwnPhotoKey asks for the caller's own photo's key sealed to device d: how a
// patient reads a photo on a device that did not upload it. The server
// records it as a view in the patient's audit trail.
func (c *Client) OwnPhotoKey(ctx context.Context, d *Device, photoID string) (OwnerKey, error) {
	var k OwnerKey
	err := c.Do(ctx, "POST", "/v1/photos/"+url.PathEscape(photoID)+"/key", nil, map[string]any{
		"kem": d.KEM, "device_public_key": d.Private.PublicKey().Bytes(),
	}, &k)
	return k, err
}

// OpenOwnerKey opens an owner key with the device's private key. The HPKE
// info binds it to the photo and its owner, the caller's own user id (the
// token's subject): "medshare/v1/owner-key" 0x00 photo_id 0x00 owner_id.
func (d *Device) OpenOwnerKey(k OwnerKey, ownerID string) ([]byte, error) {
	if k.KEM != d.KEM || k.KDF != 0x0001 || k.AEAD != 0x0002 {
		return nil, fmt.Errorf("open owner key of %s: unexpected suite %#x/%#x/%#x", k.PhotoID, k.KEM, k.KDF, k.AEAD)
	}
	info := []byte("medshare/v1/owner-key")
	for _, s := range []string{k.PhotoID, ownerID} {
		info = append(append(info, 0), s...)
	}
	key, err := hpke.Open(d.Private, hpke.HKDFSHA256(), hpke.AES256GCM(), info, k.SealedKey)
	if err != nil {
		return nil, fmt.Errorf("open owner key of %s: %w", k.PhotoID, err)
	}
	return key, nil
}

// ViewOwnPhoto reads one of the caller's own photos on device d: it asks for
// the photo's key sealed to d, downloads the ciphertext and decrypts it on
// the device. ownerID is the caller's user id.
func (c *Client) ViewOwnPhoto(ctx context.Context, d *Device, photoID, ownerID string) ([]byte, error) {
	k, err := c.OwnPhotoKey(ctx, d, photoID)
	if err != nil {
		return nil, err
	}
	ct, err := c.Fetch(ctx, k.URL)
	if err != nil {
		return nil, err
	}
	key, err := d.OpenOwnerKey(k, ownerID)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	return DecryptPhoto(ct, key)
}

// ListedChatImage is an image of an appointment's chat, as the list gives it.
type ListedChatImage struct {
	ImageID     string    `json:"image_id"`
	URL         string    `json:"url"`
	UploaderID  string    `json:"uploader_id"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      []byte    `json:"sha256"`
	CreatedAt   time.Time `json:"created_at"`
}

// ChatListPage asks for one page of an appointment's chat images.
type ChatListPage struct {
	// ClinicID names the appointment's clinic; needed only when the caller
	// takes part in appointments of several clinics with this id (the
	// server answers 409 conflict without it).
	ClinicID string
	Limit    int    // 0: the server's default
	Cursor   string // "" for the first page
}

// ListChatImages returns one page of an appointment's chat images, newest
// first, and the cursor of the next page ("" at the end).
func (c *Client) ListChatImages(ctx context.Context, appointmentID string, p ChatListPage) ([]ListedChatImage, string, error) {
	q := url.Values{}
	if p.ClinicID != "" {
		q.Set("clinic_id", p.ClinicID)
	}
	if p.Limit > 0 {
		q.Set("limit", fmt.Sprint(p.Limit))
	}
	if p.Cursor != "" {
		q.Set("cursor", p.Cursor)
	}
	path := "/api/appointments/" + url.PathEscape(appointmentID) + "/chat-images"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var page struct {
		Items      []ListedChatImage `json:"items"`
		NextCursor string            `json:"next_cursor"`
	}
	err := c.Do(ctx, "GET", path, nil, nil, &page)
	return page.Items, page.NextCursor, err
}
