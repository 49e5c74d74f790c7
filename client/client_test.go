package client

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestPhotoEncryption(t *testing.T) {
	photo := bytes.Repeat([]byte("jpeg"), 1000)
	ct, key, err := EncryptPhoto(photo)
	if err != nil {
		t.Fatal(err)
	}
	if ct[0] != 0x01 || len(ct) != 1+12+len(photo)+16 {
		t.Errorf("ciphertext is %d bytes starting %#x, want 0x01 || nonce(12) || sealed(%d+16)", len(ct), ct[0], len(photo))
	}
	if bytes.Contains(ct, photo[:64]) {
		t.Error("ciphertext contains the photo")
	}
	got, err := DecryptPhoto(ct, key)
	if err != nil || !bytes.Equal(got, photo) {
		t.Fatalf("decrypt: %v", err)
	}
	_, other, _ := EncryptPhoto(photo)
	if _, err := DecryptPhoto(ct, other); err == nil {
		t.Error("decrypted with another data key")
	}
	for _, i := range []int{0, 5, 20, len(ct) - 1} {
		bad := bytes.Clone(ct)
		bad[i] ^= 1
		if _, err := DecryptPhoto(bad, key); err == nil {
			t.Errorf("decrypted with byte %d flipped", i)
		}
	}
	if _, err := DecryptPhoto(ct[:10], key); err == nil {
		t.Error("decrypted a truncated ciphertext")
	}
}

func TestDeviceOpenKeyChecksSuite(t *testing.T) {
	d, err := NewDevice(0x0020)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.OpenKey(IssuedKey{KEM: 0x0010, KDF: 1, AEAD: 2}, "ac"); err == nil {
		t.Error("opened a key of another KEM")
	}
	if _, err := d.OpenKey(IssuedKey{KEM: 0x0020, KDF: 1, AEAD: 1}, "ac"); err == nil {
		t.Error("opened a key of another AEAD")
	}
}

// The envelopes of a photo and of its metadata, pinned: the TypeScript client's
// tests (web/client/test/crypto.test.ts) open these same bytes with WebCrypto.
var (
	vectorKey = func() []byte {
		k := make([]byte, 32)
		for i := range k {
			k[i] = byte(i)
		}
		return k
	}()
	vectorNonce = []byte{0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab}
)

const (
	vectorPhoto        = "medshare photo vector"
	vectorPhotoHex     = "01a0a1a2a3a4a5a6a7a8a9aaab8b7d185e2daa70da4215efbc7315e0a815cf2d7fe0cd1d9d2bffb467c97a0b576cbe22e56a"
	vectorMetadataJSON = `{"file_name":"crown.jpg","notes":"left temple, 3 months"}`
	vectorMetadataHex  = "01a0a1a2a3a4a5a6a7a8a9aaab9d3a1a4429ae5dd10308e2f13d58a3ac1fdb373ef8c7254eb02c48e90bce0623e8542b9ac95673493af174a46c56a3ca6776292616b8695c3c05983577dd7d4ea2b9a84748001f2f4d"
)

func TestEnvelopeVectors(t *testing.T) {
	for _, tc := range []struct {
		name, aad, plain, want string
	}{
		{"photo", PhotoAAD, vectorPhoto, vectorPhotoHex},
		{"metadata", MetadataAAD, vectorMetadataJSON, vectorMetadataHex},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := seal(vectorKey, []byte(tc.plain), tc.aad, vectorNonce)
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(got) != tc.want {
				t.Errorf("envelope = %x, want %s", got, tc.want)
			}
		})
	}
	ct, _ := hex.DecodeString(vectorMetadataHex)
	m, err := DecryptMetadata(ct, vectorKey)
	if err != nil || m != (PhotoMetadata{FileName: "crown.jpg", Notes: "left temple, 3 months"}) {
		t.Errorf("DecryptMetadata(vector) = %+v, %v", m, err)
	}
}

func TestMetadataEncryption(t *testing.T) {
	photoCT, key, err := EncryptPhoto([]byte("photo"))
	if err != nil {
		t.Fatal(err)
	}
	m := PhotoMetadata{FileName: "Jane <Doe> & co.jpg", Notes: "melanoma, left temple"}
	ct, err := EncryptMetadata(m, key)
	if err != nil {
		t.Fatal(err)
	}
	if ct[0] != 0x01 || bytes.Contains(ct, []byte("melanoma")) || bytes.Contains(ct, []byte("Jane")) {
		t.Errorf("metadata envelope %x is not 0x01 || nonce || sealed, or holds the plaintext", ct)
	}
	got, err := DecryptMetadata(ct, key)
	if err != nil || got != m {
		t.Fatalf("DecryptMetadata = %+v, %v; want %+v", got, err, m)
	}
	other := bytes.Clone(key)
	other[0] ^= 1
	if _, err := DecryptMetadata(ct, other); err == nil {
		t.Error("metadata opened with another key")
	}
	// The additional data keeps the two envelopes apart under one data key.
	if _, err := DecryptMetadata(photoCT, key); err == nil {
		t.Error("a photo ciphertext opened as metadata")
	}
	if _, err := DecryptPhoto(ct, key); err == nil {
		t.Error("a metadata ciphertext opened as a photo")
	}
	big := PhotoMetadata{Notes: strings.Repeat("n", MaxMetadataBytes)}
	if _, err := EncryptMetadata(big, key); err == nil {
		t.Error("metadata over the server's 4096-byte limit was encrypted")
	}
	fits := PhotoMetadata{Notes: strings.Repeat("n", MaxMetadataBytes-envelopeOverhead-len(`{"notes":""}`))}
	if ct, err := EncryptMetadata(fits, key); err != nil || len(ct) != MaxMetadataBytes {
		t.Errorf("metadata of exactly %d encrypted bytes: %d bytes, %v", MaxMetadataBytes, len(ct), err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"soon", 0},
	} {
		if got := retryAfter(tc.in, now); got != tc.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestDataKeysAreAES256: a key of another size than 32 bytes is refused
// where the client uses one, so that a short key sealed by a server cannot
// make it decrypt with AES-128 (found by FuzzDecryptPhoto, docs/FUZZING.md).
func TestDataKeysAreAES256(t *testing.T) {
	photo := []byte("photo")
	for _, n := range []int{16, 24, 31, 33} {
		t.Run(fmt.Sprintf("%d bytes", n), func(t *testing.T) {
			key := bytes.Repeat([]byte{1}, n)
			if n == 16 || n == 24 {
				ct := encryptFor(t, key, bytes.Repeat([]byte{2}, 12), photo)
				if got, err := DecryptPhoto(ct, key); err == nil {
					t.Errorf("DecryptPhoto with a %d-byte key: got %q, want an error", n, got)
				}
			}
			d := fuzzDevices(t)[0]
			k := IssuedKey{KeyID: fuzzKeyID, PhotoID: fuzzPhotoID, KEM: d.KEM, KDF: 1, AEAD: 2,
				SealedKey: sealFor(t, d, key, fuzzKeyID, fuzzPhotoID, fuzzAccessID)}
			if got, err := d.OpenKey(k, fuzzAccessID); err == nil {
				t.Errorf("OpenKey of a sealed %d-byte key: got %x, want an error", n, got)
			}
		})
	}
}
