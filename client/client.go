// Package client is what an app uses to speak MedShare's wire protocol
// (docs/PROTOCOL.md): the patient side encrypts photos with its own data keys,
// uploads, finalizes and shares them; the professional side makes a device
// key, opens an access, asks for a key per view, claims it, downloads the
// ciphertext and decrypts it on the device.
package client

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/medshare/medshare/shared/httpapi/wire"
)

// PhotoAAD is the additional data of every encrypted photo.
const PhotoAAD = "medshare/v1/photo"

// MetadataAAD is the additional data of a photo's encrypted metadata.
const MetadataAAD = "medshare/v1/metadata"

// MaxMetadataBytes is the largest encrypted metadata the server takes.
const MaxMetadataBytes = 4096

const (
	envelopeV1       byte = 0x01
	nonceSize             = 12
	envelopeOverhead      = 1 + nonceSize + 16
)

// EncryptPhoto encrypts a photo under a fresh 32-byte data key:
// 0x01 || nonce(12) || AES-256-GCM(data_key, nonce, photo, aad = "medshare/v1/photo").
func EncryptPhoto(photo []byte) (ciphertext, dataKey []byte, err error) {
	dataKey = make([]byte, DataKeyBytes)
	if _, err := rand.Read(dataKey); err != nil {
		return nil, nil, err
	}
	ciphertext, err = seal(dataKey, photo, PhotoAAD, nil)
	if err != nil {
		return nil, nil, err
	}
	return ciphertext, dataKey, nil
}

// DecryptPhoto opens what EncryptPhoto produced.
func DecryptPhoto(ciphertext, dataKey []byte) ([]byte, error) {
	plain, err := open(dataKey, ciphertext, PhotoAAD)
	if err != nil {
		return nil, fmt.Errorf("decrypt photo: %w", err)
	}
	return plain, nil
}

// PhotoMetadata is what a patient's app knows about a photo and the server
// must not read: it is encrypted with the photo's data key before upload.
// Readers ignore members they do not know (docs/PROTOCOL.md, "Photo metadata").
type PhotoMetadata struct {
	FileName string `json:"file_name,omitempty"`
	Notes    string `json:"notes,omitempty"`
}

// EncryptMetadata encrypts a photo's metadata with the photo's data key: the
// photo's envelope over the metadata's JSON, with aad "medshare/v1/metadata":
// 0x01 || nonce(12) || AES-256-GCM(data_key, nonce, json, aad).
func EncryptMetadata(m PhotoMetadata, dataKey []byte) ([]byte, error) {
	plain, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(plain)+envelopeOverhead > MaxMetadataBytes {
		return nil, fmt.Errorf("encrypt metadata: %d bytes of JSON; the encrypted metadata must be at most %d bytes", len(plain), MaxMetadataBytes)
	}
	return seal(dataKey, plain, MetadataAAD, nil)
}

// DecryptMetadata opens what EncryptMetadata produced (or the TypeScript
// client's encryptMetadata: the format is the same).
func DecryptMetadata(ciphertext, dataKey []byte) (PhotoMetadata, error) {
	plain, err := open(dataKey, ciphertext, MetadataAAD)
	if err != nil {
		return PhotoMetadata{}, fmt.Errorf("decrypt metadata: %w", err)
	}
	var m PhotoMetadata
	if err := json.Unmarshal(plain, &m); err != nil {
		return PhotoMetadata{}, fmt.Errorf("decrypt metadata: %w", err)
	}
	return m, nil
}

// seal makes a v1 envelope; nonce is nil except in tests that pin a vector.
func seal(key, plain []byte, aad string, nonce []byte) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if nonce == nil {
		nonce = make([]byte, nonceSize)
		if _, err := rand.Read(nonce); err != nil {
			return nil, err
		}
	}
	out := append([]byte{envelopeV1}, nonce...)
	return gcm.Seal(out, nonce, plain, []byte(aad)), nil
}

func open(key, envelope []byte, aad string) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(envelope) < envelopeOverhead || envelope[0] != envelopeV1 {
		return nil, errors.New("not a medshare v1 ciphertext")
	}
	return gcm.Open(nil, envelope[1:1+nonceSize], envelope[1+nonceSize:], []byte(aad))
}

// DataKeyBytes is the size of a photo's data key: AES-256 (ARCHITECTURE §7).
const DataKeyBytes = 32

// newGCM is AES-256-GCM under key. aes.NewCipher would also take a 16- or
// 24-byte key, and so AES-128 or AES-192: a key of another size is refused,
// so that nothing (a server sealing a short key) can make the client use a
// weaker cipher than the protocol's.
func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != DataKeyBytes {
		return nil, fmt.Errorf("data key has %d bytes, want %d (AES-256)", len(key), DataKeyBytes)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Client calls the API as one user.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:8080
	Token   string // bearer token
	HTTP    *http.Client
}

// New returns a client with a 30-second HTTP timeout.
func New(baseURL, token string) *Client {
	return &Client{BaseURL: baseURL, Token: token, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// APIError is an error answer of the API (or of the object store, with the
// codes "upload_refused" and "fetch_refused").
type APIError struct {
	Status     int
	Code       string
	Message    string
	RequestID  string
	RetryAfter time.Duration // from Retry-After on 429 and 503; 0 when absent
}

func (e *APIError) Error() string {
	return fmt.Sprintf("medshare: %d %s: %s", e.Status, e.Code, e.Message)
}

// Code returns the API error code of err, or "".
func Code(err error) string {
	var e *APIError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Status returns the HTTP status of an APIError in err's chain, or 0.
func Status(err error) int {
	var e *APIError
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// Do sends a JSON request and decodes a JSON answer into out (when not nil).
// Only a request with a body (in not nil) carries Content-Type:
// application/json; GET, DELETE and bodiless POSTs send no body at all.
func (c *Client) Do(ctx context.Context, method, path string, headers map[string]string, in, out any) error {
	_, err := c.do(ctx, method, path, headers, in, out)
	return err
}

// do is Do, and also returns the answer's headers.
func (c *Client) do(ctx context.Context, method, path string, headers map[string]string, in, out any) (http.Header, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct {
				Code, Message string
				RequestID     string `json:"request_id"`
			} `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		apiErr := &APIError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message, RequestID: e.Error.RequestID}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			apiErr.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
		}
		return resp.Header, apiErr
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.Header, fmt.Errorf("decode %s %s: %w", method, path, err)
		}
	}
	return resp.Header, nil
}

// retryAfter reads a Retry-After value: delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Upload is how to send an object: exactly this method, URL and headers
// (the server's view).
type Upload = wire.Upload

// Send uploads data as u says.
func (c *Client) Send(ctx context.Context, u Upload, data []byte) error {
	req, err := http.NewRequestWithContext(ctx, u.Method, u.URL, bytes.NewReader(data))
	if err != nil {
		return err
	}
	for k, v := range u.Headers {
		req.Header.Set(k, v)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode >= 300 {
		return &APIError{Status: resp.StatusCode, Code: "upload_refused", Message: "the object store refused the upload"}
	}
	return nil
}

// Fetch downloads a signed URL.
func (c *Client) Fetch(ctx context.Context, signedURL string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, signedURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &APIError{Status: resp.StatusCode, Code: "fetch_refused", Message: "the object store refused the download"}
	}
	return io.ReadAll(resp.Body)
}

// UploadPhoto encrypts photo on the device, stages it, uploads the ciphertext
// and finalizes it. The metadata, when not nil, is encrypted with the photo's
// data key (EncryptMetadata) before it leaves the device. The data key leaves
// the device only in the presign request, over TLS, for the server to wrap.
func (c *Client) UploadPhoto(ctx context.Context, angle, contentType string, photo []byte, metadata *PhotoMetadata) (string, error) {
	ct, key, err := EncryptPhoto(photo)
	if err != nil {
		return "", err
	}
	defer clear(key)
	sum := sha256.Sum256(ct)
	var staged struct {
		PhotoID string `json:"photo_id"`
		Upload  Upload `json:"upload"`
	}
	in := map[string]any{"angle": angle, "content_type": contentType, "size": len(ct), "sha256": sum[:], "data_key": key}
	if metadata != nil {
		enc, err := EncryptMetadata(*metadata, key)
		if err != nil {
			return "", err
		}
		in["metadata"] = enc
	}
	if err := c.Do(ctx, "POST", "/v1/photos", nil, in, &staged); err != nil {
		return "", err
	}
	if err := c.Send(ctx, staged.Upload, ct); err != nil {
		return "", err
	}
	if err := c.Do(ctx, "POST", "/v1/photos/"+url.PathEscape(staged.PhotoID)+"/finalize", nil, nil, nil); err != nil {
		return "", err
	}
	return staged.PhotoID, nil
}

// Photo is a photo as the patient's list returns it (the server's view);
// Size and SHA256 are the ciphertext's, Metadata is encrypted
// (DecryptMetadata opens it).
type Photo = wire.Photo

// ListPhotos returns one page of the patient's photos and the next page's
// cursor ("" on the last page).
func (c *Client) ListPhotos(ctx context.Context, cursor string) ([]Photo, string, error) {
	var page struct {
		Items      []Photo `json:"items"`
		NextCursor string  `json:"next_cursor"`
	}
	path := "/v1/photos"
	if cursor != "" {
		path += "?cursor=" + url.QueryEscape(cursor)
	}
	err := c.Do(ctx, "GET", path, nil, nil, &page)
	return page.Items, page.NextCursor, err
}

// DeletePhoto deletes a photo, its ciphertext and its wrapped key.
func (c *Client) DeletePhoto(ctx context.Context, photoID string) error {
	return c.Do(ctx, "DELETE", "/v1/photos/"+url.PathEscape(photoID), nil, nil, nil)
}

// ShareRequest is a sharing session to create: the server's own body
// type, so that a field the API adds is here with no edit.
type ShareRequest = wire.ShareRequest

// Share is a sharing session as the API returns it (the server's view).
type Share = wire.Share

// CreateShare creates a sharing session; idempotencyKey may be "".
func (c *Client) CreateShare(ctx context.Context, r ShareRequest, idempotencyKey string) (Share, error) {
	var h map[string]string
	if idempotencyKey != "" {
		h = map[string]string{"Idempotency-Key": idempotencyKey}
	}
	var s Share
	err := c.Do(ctx, "POST", "/v1/shares", h, r, &s)
	return s, err
}

// GetShare reads a sharing session.
func (c *Client) GetShare(ctx context.Context, id string) (Share, error) {
	var s Share
	err := c.Do(ctx, "GET", "/v1/shares/"+url.PathEscape(id), nil, nil, &s)
	return s, err
}

// RevokeShare revokes a sharing session.
func (c *Client) RevokeShare(ctx context.Context, id string) error {
	return c.Do(ctx, "POST", "/v1/shares/"+url.PathEscape(id)+"/revoke", nil, nil, nil)
}

// Device is a professional's device: an HPKE key pair whose private half never
// leaves it.
type Device struct {
	KEM         uint16
	Private     hpke.PrivateKey
	Fingerprint string
}

// NewDevice makes a device key for one of the KEMs the server offers: 0x0020
// DHKEM(X25519), 0x0010 DHKEM(P-256) or 0x647a ML-KEM-768+X25519.
func NewDevice(kem uint16) (*Device, error) {
	k, err := hpke.NewKEM(kem)
	if err != nil {
		return nil, err
	}
	priv, err := k.GenerateKey()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(priv.PublicKey().Bytes())
	return &Device{KEM: kem, Private: priv, Fingerprint: fmt.Sprintf("sha256:%x", sum[:16])}, nil
}

// Access is an opened access (the server's view).
type Access = wire.Access

// OpenAccess opens an access to a share on the device.
func (c *Client) OpenAccess(ctx context.Context, shareID string, d *Device) (Access, error) {
	var a Access
	err := c.Do(ctx, "POST", "/v1/shares/"+url.PathEscape(shareID)+"/access", nil, map[string]any{
		"kem": d.KEM, "device_public_key": d.Private.PublicKey().Bytes(), "device_fingerprint": d.Fingerprint,
	}, &a)
	return a, err
}

// IssuedKey is a photo key sealed to a device (the server's view).
type IssuedKey = wire.IssuedKey

// IssueKey asks for a photo's key; it consumes one view.
func (c *Client) IssueKey(ctx context.Context, accessID, photoID string) (IssuedKey, error) {
	var k IssuedKey
	err := c.Do(ctx, "POST", "/v1/access/"+url.PathEscape(accessID)+"/photos/"+url.PathEscape(photoID)+"/key", nil, nil, &k)
	return k, err
}

// SignedURL is a short-lived download URL.
type SignedURL struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
	// ServerDate is the answer's HTTP Date, when ChatImageURL could read it
	// (not a protocol field): SignedURLCache measures the URL's lifetime on
	// the server's clock with it.
	ServerDate time.Time `json:"-"`
}

// ClaimKey claims an issued key, once, for a signed URL of the ciphertext.
func (c *Client) ClaimKey(ctx context.Context, keyID string) (SignedURL, error) {
	var u SignedURL
	err := c.Do(ctx, "POST", "/v1/keys/"+url.PathEscape(keyID)+"/signed-url", nil, nil, &u)
	return u, err
}

// OpenKey opens a sealed key with the device's private key. The HPKE info
// binds it to the key, the photo and the access.
func (d *Device) OpenKey(k IssuedKey, accessID string) ([]byte, error) {
	if k.KEM != d.KEM || k.KDF != 0x0001 || k.AEAD != 0x0002 {
		return nil, fmt.Errorf("open key %s: unexpected suite %#x/%#x/%#x", k.KeyID, k.KEM, k.KDF, k.AEAD)
	}
	info := []byte("medshare/v1/key")
	for _, s := range []string{k.KeyID, k.PhotoID, accessID} {
		info = append(append(info, 0), s...)
	}
	key, err := hpke.Open(d.Private, hpke.HKDFSHA256(), hpke.AES256GCM(), info, k.SealedKey)
	if err != nil {
		return nil, fmt.Errorf("open key %s: %w", k.KeyID, err)
	}
	if len(key) != DataKeyBytes {
		clear(key)
		return nil, fmt.Errorf("open key %s: the sealed data key has %d bytes, want %d", k.KeyID, len(key), DataKeyBytes)
	}
	return key, nil
}

// ViewPhoto spends one view: it asks for the photo's key, claims it, downloads
// the ciphertext and decrypts it on the device.
func (c *Client) ViewPhoto(ctx context.Context, d *Device, accessID, photoID string) ([]byte, error) {
	k, err := c.IssueKey(ctx, accessID, photoID)
	if err != nil {
		return nil, err
	}
	u, err := c.ClaimKey(ctx, k.KeyID)
	if err != nil {
		return nil, err
	}
	ct, err := c.Fetch(ctx, u.URL)
	if err != nil {
		return nil, err
	}
	key, err := d.OpenKey(k, accessID)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	return DecryptPhoto(ct, key)
}
