// Package localkeys is the embedded core.KeyRing: a 32-byte master key in a
// file (mode 0600) wraps data keys with AES-256-GCM, the encryption context
// being the additional authenticated data.
//
// A wrapped key is
//
//	0x01 || nonce (12 bytes, random) || AES-256-GCM(kek, nonce, data key, aad)
//
// where kek = HKDF-SHA256(master key, info "medshare/v1/localkeys/kek") and
// aad = 0x01 || uint32(len(key)) key uint32(len(value)) value ... over the
// context's pairs sorted by key (lengths big-endian), so that the context's
// order never matters and two different contexts never encode alike.
package localkeys

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/runtime/secretfile"
)

// MasterKeySize is the size of the master key file in bytes.
const MasterKeySize = 32

// version is the first byte of every wrapped key and of the additional data.
const version byte = 0x01

// maxDataKey caps what Wrap accepts; it matches KMS Encrypt's 4096-byte limit so
// that the two rings accept the same inputs.
const maxDataKey = 4096

var _ core.KeyRing = (*Ring)(nil)

// Ring is the local key ring. It is safe for concurrent use.
type Ring struct {
	keyID string
	aead  cipher.AEAD // AES-256-GCM with random nonces, prepended to the output
}

// Open loads the master key at path, creating the file (and its directory,
// mode 0700) with a fresh random key and mode 0600 when it is absent. It refuses
// a file that group or others may access, and a file of the wrong size.
func Open(path string) (*Ring, error) {
	key, err := loadOrCreate(path)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	return newRing(key)
}

func newRing(master []byte) (*Ring, error) {
	kek, err := hkdf.Key(sha256.New, master, nil, "medshare/v1/localkeys/kek", 32)
	if err != nil {
		return nil, fmt.Errorf("derive key encryption key: %w", err)
	}
	defer clear(kek)
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("new aes cipher: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("new aes-gcm: %w", err)
	}
	// The id names the master key without revealing anything about it: a
	// domain-separated digest, truncated.
	id := sha256.Sum256(append([]byte("medshare/v1/localkeys/id\x00"), master...))
	return &Ring{keyID: "local:" + hex.EncodeToString(id[:8]), aead: aead}, nil
}

func loadOrCreate(path string) ([]byte, error) {
	return secretfile.LoadOrCreate(path, "master key file", MasterKeySize, MasterKeySize, MasterKeySize,
		"; restore it from a backup (a new key cannot unwrap existing data keys)")
}

// KeyID returns the stable id of the master key: "local:" and 16 hex digits of
// a digest of the key. It reveals nothing about the key.
func (r *Ring) KeyID() string { return r.keyID }

// Wrap encrypts a data key of 1 to 4096 bytes under the context. Two wraps of
// the same key differ (random nonce).
func (r *Ring) Wrap(_ context.Context, plaintext []byte, encCtx map[string]string) (core.WrappedKey, error) {
	if len(plaintext) == 0 || len(plaintext) > maxDataKey {
		return core.WrappedKey{}, core.ErrInvalid("data key must be 1 to %d bytes", maxDataKey)
	}
	out := r.aead.Seal([]byte{version}, nil, plaintext, additionalData(encCtx))
	return core.WrappedKey{KeyID: r.keyID, Ciphertext: out}, nil
}

// Unwrap decrypts a key wrapped by a ring with the same master key under the
// same context. Every failure is KindInternal with the message "unwrap data
// key"; the cause says which check failed and never carries key material.
func (r *Ring) Unwrap(_ context.Context, w core.WrappedKey, encCtx map[string]string) ([]byte, error) {
	if w.KeyID != r.keyID {
		return nil, core.ErrInternal(fmt.Errorf("wrapped under key %q, ring holds %q", w.KeyID, r.keyID), "unwrap data key")
	}
	ct := w.Ciphertext
	if len(ct) < 1+r.aead.Overhead() {
		return nil, core.ErrInternal(errors.New("wrapped key is too short"), "unwrap data key")
	}
	if ct[0] != version {
		return nil, core.ErrInternal(fmt.Errorf("unknown wrapped key version %d", ct[0]), "unwrap data key")
	}
	pt, err := r.aead.Open(nil, nil, ct[1:], additionalData(encCtx))
	if err != nil {
		return nil, core.ErrInternal(errors.New("wrapped key or encryption context does not authenticate"), "unwrap data key")
	}
	return pt, nil
}

// Ping always succeeds: the key is in memory.
func (r *Ring) Ping(context.Context) error { return nil }

// additionalData canonicalizes the encryption context: the version, then each
// pair sorted by key, key and value each prefixed by its length.
func additionalData(encCtx map[string]string) []byte {
	keys := make([]string, 0, len(encCtx))
	size := 1
	for k, v := range encCtx {
		keys = append(keys, k)
		size += 8 + len(k) + len(v)
	}
	slices.Sort(keys)
	b := make([]byte, 0, size)
	b = append(b, version)
	for _, k := range keys {
		v := encCtx[k]
		b = binary.BigEndian.AppendUint32(b, uint32(len(k)))
		b = append(b, k...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	return b
}
