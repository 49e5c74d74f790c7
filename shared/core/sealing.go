package core

import (
	"crypto/hpke"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
)

// HPKE parameters of sealed keys (DESIGN §7): base mode, single shot, KDF
// HKDF-SHA256, AEAD AES-256-GCM, one of three KEMs.
const (
	KEMX25519          uint16 = 0x0020 // DHKEM(X25519, HKDF-SHA256)
	KEMP256            uint16 = 0x0010 // DHKEM(P-256, HKDF-SHA256)
	KEMMLKEM768X25519  uint16 = 0x647a // ML-KEM-768 + X25519, the hybrid post-quantum KEM
	KDFHKDFSHA256      uint16 = 0x0001
	AEADAES256GCM      uint16 = 0x0002
	DataKeyBytes              = 32
	maxDevicePublicKey        = 2048 // ML-KEM-768+X25519 keys are 1216 bytes
)

// KEMs lists the KEM ids a device may register.
var KEMs = []uint16{KEMX25519, KEMP256, KEMMLKEM768X25519}

// ParseDeviceKey checks that pub is a valid serialized public key of kem.
func ParseDeviceKey(kem uint16, pub []byte) (hpke.PublicKey, error) {
	if !slices.Contains(KEMs, kem) {
		return nil, ErrInvalid("kem must be one of 32 (DHKEM X25519), 16 (DHKEM P-256) or 25722 (ML-KEM-768+X25519)")
	}
	if len(pub) == 0 || len(pub) > maxDevicePublicKey {
		return nil, ErrInvalid("device_public_key has the wrong length for kem %d", kem)
	}
	k, err := hpke.NewKEM(kem)
	if err != nil {
		return nil, ErrInvalid("kem %d is not supported", kem)
	}
	pk, err := k.NewPublicKey(pub)
	if err != nil {
		return nil, ErrInvalid("device_public_key is not a valid public key for kem %d", kem)
	}
	return pk, nil
}

// DeviceKeyFingerprint is what binds a session to a device: the SHA-256 of
// the KEM id (big-endian) and the serialized public key. The server derives
// it, so a client cannot present another key under a bound fingerprint.
func DeviceKeyFingerprint(kem uint16, pub []byte) string {
	h := sha256.New()
	h.Write([]byte{byte(kem >> 8), byte(kem)})
	h.Write(pub)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// SealInfo is the HPKE info that binds a sealed key to its key, photo and
// access: "medshare/v1/key" 0x00 key_id 0x00 photo_id 0x00 access_id.
func SealInfo(keyID, photoID, accessID string) []byte {
	info := []byte("medshare/v1/key")
	for _, s := range []string{keyID, photoID, accessID} {
		info = append(info, 0)
		info = append(info, s...)
	}
	return info
}

// SealKey seals a data key to a device's public key: enc || ciphertext.
func SealKey(kem uint16, devicePub []byte, dataKey []byte, info []byte) ([]byte, error) {
	pk, err := ParseDeviceKey(kem, devicePub)
	if err != nil {
		return nil, err
	}
	sealed, err := hpke.Seal(pk, hpke.HKDFSHA256(), hpke.AES256GCM(), info, dataKey)
	if err != nil {
		return nil, ErrInternal(err, "seal key")
	}
	return sealed, nil
}

// OpenKey opens a sealed key with the device's private key; it is what a
// client does, and what tests use to prove the sealing.
func OpenKey(priv hpke.PrivateKey, sealed, info []byte) ([]byte, error) {
	k, err := hpke.Open(priv, hpke.HKDFSHA256(), hpke.AES256GCM(), info, sealed)
	if err != nil {
		return nil, fmt.Errorf("open sealed key: %w", err)
	}
	return k, nil
}
