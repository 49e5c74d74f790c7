package client

import (
	"bytes"
	"fmt"
	"testing"
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
