package client

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hpke"
	"testing"
)

// The client opens what the server sends: sealed keys and ciphertexts. These
// targets make them by the protocol (docs/PROTOCOL.md) with crypto/hpke and
// crypto/aes directly, not with the server's code, and check that the client
// opens exactly those and refuses anything else without panicking.

// fuzzDevices are one device per KEM, derived from fixed seeds so that they
// are the same in every run (the keys sealed to them in a corpus file open).
func fuzzDevices(tb testing.TB) []*Device {
	tb.Helper()
	var out []*Device
	for i, kem := range []uint16{0x0020, 0x0010, 0x647a} {
		k, err := hpke.NewKEM(kem)
		if err != nil {
			tb.Fatal(err)
		}
		priv, err := k.DeriveKeyPair(bytes.Repeat([]byte{byte(i + 1)}, 32))
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, &Device{KEM: kem, Private: priv, Fingerprint: "fuzz"})
	}
	return out
}

// The ids and data key of every genuine sealed key below. They hold no NUL
// byte, so no other ids make the same HPKE info.
const (
	fuzzKeyID    = "ek_aaaaaaaaaaaaaaaaaaaaaaaaaa"
	fuzzPhotoID  = "ph_bbbbbbbbbbbbbbbbbbbbbbbbbb"
	fuzzAccessID = "ac_cccccccccccccccccccccccccc"
)

var fuzzDataKey = bytes.Repeat([]byte{0x5a}, 32)

// sealFor seals data to d as the server must (ARCHITECTURE §7): base mode, HKDF-SHA256,
// AES-256-GCM, info "medshare/v1/key" 0x00 key_id 0x00 photo_id 0x00 access_id.
func sealFor(tb testing.TB, d *Device, data []byte, keyID, photoID, accessID string) []byte {
	tb.Helper()
	info := []byte("medshare/v1/key\x00" + keyID + "\x00" + photoID + "\x00" + accessID)
	sealed, err := hpke.Seal(d.Private.PublicKey(), hpke.HKDFSHA256(), hpke.AES256GCM(), info, data)
	if err != nil {
		tb.Fatal(err)
	}
	return sealed
}

// FuzzOpenKey gives a device's OpenKey any issued key: KEM, KDF and AEAD ids,
// key, photo and access ids, and sealed bytes, starting from keys sealed to
// it. It may open only a key sealed to it for exactly those ids, with the
// protocol's suite, and then returns the data key that was sealed.
func FuzzOpenKey(f *testing.F) {
	devices := fuzzDevices(f)
	for i, d := range devices {
		sealed := sealFor(f, d, fuzzDataKey, fuzzKeyID, fuzzPhotoID, fuzzAccessID)
		f.Add(uint8(i), d.KEM, uint16(1), uint16(2), fuzzKeyID, fuzzPhotoID, fuzzAccessID, sealed)
		f.Add(uint8(i), d.KEM, uint16(1), uint16(2), fuzzPhotoID, fuzzKeyID, fuzzAccessID, sealed)
		f.Add(uint8(i), d.KEM, uint16(1), uint16(2), fuzzKeyID, fuzzPhotoID, fuzzAccessID+"\x00", sealed)
		f.Add(uint8(i), d.KEM, uint16(1), uint16(1), fuzzKeyID, fuzzPhotoID, fuzzAccessID, sealed)
		f.Add(uint8(i+1), d.KEM, uint16(1), uint16(2), fuzzKeyID, fuzzPhotoID, fuzzAccessID, sealed)
		f.Add(uint8(i), d.KEM, uint16(1), uint16(2), fuzzKeyID, fuzzPhotoID, fuzzAccessID, sealed[:len(sealed)-1])
		f.Add(uint8(i), d.KEM, uint16(1), uint16(2), fuzzKeyID, fuzzPhotoID, fuzzAccessID, sealed[:20])
	}
	f.Add(uint8(0), uint16(0x20), uint16(1), uint16(2), "", "", "", []byte{})
	f.Fuzz(func(t *testing.T, device uint8, kem, kdf, aead uint16, keyID, photoID, accessID string, sealed []byte) {
		d := devices[int(device)%len(devices)]
		k := IssuedKey{KeyID: keyID, PhotoID: photoID, SealedKey: sealed, KEM: kem, KDF: kdf, AEAD: aead}
		got, err := d.OpenKey(k, accessID)
		if err != nil {
			return
		}
		switch {
		case kem != d.KEM || kdf != 1 || aead != 2:
			t.Fatalf("opened a key of suite %#x/%#x/%#x on a %#x device", kem, kdf, aead, d.KEM)
		case keyID != fuzzKeyID || photoID != fuzzPhotoID || accessID != fuzzAccessID:
			t.Fatalf("opened for ids %q %q %q a key sealed for %q %q %q", keyID, photoID, accessID, fuzzKeyID, fuzzPhotoID, fuzzAccessID)
		case !bytes.Equal(got, fuzzDataKey):
			t.Fatalf("opened %x, want the sealed data key", got)
		}
	})
}

// fuzzPhotoKey and fuzzNonce make the genuine ciphertext of FuzzDecryptPhoto.
var (
	fuzzPhotoKey = bytes.Repeat([]byte{0x11}, 32)
	fuzzNonce    = bytes.Repeat([]byte{0x22}, 12)
	fuzzPhoto    = []byte("the bytes of a photo of the crown")
)

// encryptFor is the photo format of ARCHITECTURE §7, made with crypto/aes:
// 0x01 || nonce(12) || AES-256-GCM(key, nonce, photo, aad "medshare/v1/photo").
func encryptFor(tb testing.TB, key, nonce, photo []byte) []byte {
	tb.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		tb.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		tb.Fatal(err)
	}
	return gcm.Seal(append([]byte{0x01}, nonce...), nonce, photo, []byte("medshare/v1/photo"))
}

// FuzzDecryptPhoto gives DecryptPhoto any ciphertext and key, starting from a
// genuine photo and near misses. It may decrypt only the genuine ciphertext
// with its key, to the photo. And whatever the photo, what EncryptPhoto
// makes, DecryptPhoto opens to the same bytes.
func FuzzDecryptPhoto(f *testing.F) {
	ct := encryptFor(f, fuzzPhotoKey, fuzzNonce, fuzzPhoto)
	f.Add(ct, fuzzPhotoKey, fuzzPhoto)
	f.Add(ct[:len(ct)-1], fuzzPhotoKey, []byte{})
	f.Add(ct[:13], fuzzPhotoKey, []byte{0})
	f.Add(append([]byte{0x02}, ct[1:]...), fuzzPhotoKey, []byte("x"))
	f.Add(ct, fuzzPhotoKey[:16], []byte("x"))
	f.Add(ct, fuzzPhotoKey[:31], []byte("x"))
	f.Add(ct, []byte{}, []byte("x"))
	f.Add([]byte{}, fuzzPhotoKey, []byte("x"))
	f.Add(encryptFor(f, fuzzPhotoKey[:16], fuzzNonce, fuzzPhoto), fuzzPhotoKey[:16], []byte("x"))
	f.Fuzz(func(t *testing.T, ciphertext, key, photo []byte) {
		got, err := DecryptPhoto(ciphertext, key)
		if err == nil && (!bytes.Equal(key, fuzzPhotoKey) || !bytes.Equal(ciphertext, ct) || !bytes.Equal(got, fuzzPhoto)) {
			t.Fatalf("decrypted %d bytes with a %d-byte key to %q: only the genuine photo may decrypt", len(ciphertext), len(key), got)
		}
		sealed, dataKey, err := EncryptPhoto(photo)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := DecryptPhoto(sealed, dataKey); err != nil || !bytes.Equal(got, photo) {
			t.Fatalf("round trip of %d bytes: %v", len(photo), err)
		}
	})
}
