package client

import (
	"bytes"
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
