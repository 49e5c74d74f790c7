package core

import (
	"crypto/hpke"
	"crypto/mlkem"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"slices"
)

// HPKE parameters of sealed keys (ARCHITECTURE §7): base mode, single shot, KDF
// HKDF-SHA256, AEAD AES-256-GCM, one of three KEMs.
const (
	KEMX25519         uint16 = 0x0020 // DHKEM(X25519, HKDF-SHA256)
	KEMP256           uint16 = 0x0010 // DHKEM(P-256, HKDF-SHA256)
	KEMMLKEM768X25519 uint16 = 0x647a // ML-KEM-768 + X25519, the hybrid post-quantum KEM
	KDFHKDFSHA256     uint16 = 0x0001
	AEADAES256GCM     uint16 = 0x0002
	DataKeyBytes             = 32
)

// KEMs lists the KEM ids a device may register.
var KEMs = []uint16{KEMX25519, KEMP256, KEMMLKEM768X25519}

// devicePublicKeySize is the serialized public key's length for each KEM:
// an X25519 u-coordinate, an uncompressed P-256 point, and an ML-KEM-768
// encapsulation key followed by an X25519 u-coordinate.
var devicePublicKeySize = map[uint16]int{
	KEMX25519:         32,
	KEMP256:           65,
	KEMMLKEM768X25519: mlkem.EncapsulationKeySize768 + 32,
}

// ParseDeviceKey checks that pub is a serialized public key of kem that a
// device could have generated, and returns it. Beyond what crypto/hpke
// checks (a P-256 point on the curve, an ML-KEM-768 key whose coefficients
// are reduced mod q), it refuses X25519 u-coordinates that are not canonical
// or are of small order, alone or as the X25519 part of the hybrid key:
// crypto/hpke accepts them, and sealing to them then fails.
func ParseDeviceKey(kem uint16, pub []byte) (hpke.PublicKey, error) {
	if !slices.Contains(KEMs, kem) {
		return nil, ErrInvalid("kem must be one of 32 (DHKEM X25519), 16 (DHKEM P-256) or 25722 (ML-KEM-768+X25519)")
	}
	if want := devicePublicKeySize[kem]; len(pub) != want {
		return nil, ErrInvalid("device_public_key must be %d bytes for kem %d", want, kem)
	}
	switch kem {
	case KEMX25519:
		if err := checkX25519(pub); err != nil {
			return nil, err
		}
	case KEMMLKEM768X25519:
		if _, err := mlkem.NewEncapsulationKey768(pub[:mlkem.EncapsulationKeySize768]); err != nil {
			return nil, ErrInvalid("device_public_key is not a valid ML-KEM-768 encapsulation key followed by an X25519 key")
		}
		if err := checkX25519(pub[mlkem.EncapsulationKeySize768:]); err != nil {
			return nil, err
		}
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

// fieldP25519 is 2^255 - 19, the prime of Curve25519's field.
var fieldP25519 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))

// lowOrderX25519 are the canonical u-coordinates of the points of small
// order (1, 2, 4 and 8): an X25519 shared secret with any of them is all
// zeros, whatever the other key.
var lowOrderX25519 = []string{
	"0000000000000000000000000000000000000000000000000000000000000000",
	"0100000000000000000000000000000000000000000000000000000000000000",
	"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
	"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
}

// checkX25519 refuses an X25519 public key that is not canonical (the top
// bit set, or a u-coordinate of p or more: RFC 7748 receivers reduce these,
// so two encodings would name one key and no device produces them) or that is
// a point of small order.
func checkX25519(u []byte) error {
	le := slices.Clone(u)
	slices.Reverse(le)
	if u[31]&0x80 != 0 || new(big.Int).SetBytes(le).Cmp(fieldP25519) >= 0 {
		return ErrInvalid("device_public_key holds an X25519 key that is not canonically encoded")
	}
	if slices.Contains(lowOrderX25519, hex.EncodeToString(u)) {
		return ErrInvalid("device_public_key holds an X25519 key of small order")
	}
	return nil
}

// ValidateDeviceKey checks a device's public key where it is registered
// (open-access): ParseDeviceKey's checks, then a trial seal, so that a key
// the server cannot seal to is refused as bad input there, before anything
// is bound or written, and never fails a later issue-key.
func ValidateDeviceKey(kem uint16, pub []byte) error {
	pk, err := ParseDeviceKey(kem, pub)
	if err != nil {
		return err
	}
	if _, err := hpke.Seal(pk, hpke.HKDFSHA256(), hpke.AES256GCM(), []byte("medshare/v1/key-check"), make([]byte, DataKeyBytes)); err != nil {
		return ErrInvalid("device_public_key is not a usable public key for kem %d", kem)
	}
	return nil
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
	// The only input that can fail here is the device's key, which the
	// client chose: ValidateDeviceKey refuses such keys at open-access, so
	// this is an access opened before that check existed. It is the client's
	// input, so it is a 4xx, never a 5xx.
	unusable := ErrInvalid("the access's device key cannot be sealed to; open a new access with a valid key")
	pk, err := ParseDeviceKey(kem, devicePub)
	if err != nil {
		return nil, unusable
	}
	sealed, err := hpke.Seal(pk, hpke.HKDFSHA256(), hpke.AES256GCM(), info, dataKey)
	if err != nil {
		return nil, unusable
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
