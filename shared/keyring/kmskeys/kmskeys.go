// Package kmskeys is the core.KeyRing of AWS: data keys are wrapped by one KMS
// key with Encrypt and unwrapped with Decrypt, the encryption context being
// KMS's encryption context, which KMS binds to the ciphertext as additional
// authenticated data (order-independent, and unambiguous: KMS keeps the pairs
// as a map).
//
// Plaintext data keys cross this package only as arguments and results; no
// error, log or message carries one.
package kmskeys

import (
	"context"
	"errors"
	"maps"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/runtime/awserr"
)

var _ core.KeyRing = (*Ring)(nil)

// API is the part of the KMS client that the ring calls; *kms.Client
// satisfies it.
type API interface {
	Encrypt(ctx context.Context, in *kms.EncryptInput, optFns ...func(*kms.Options)) (*kms.EncryptOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error)
	DescribeKey(ctx context.Context, in *kms.DescribeKeyInput, optFns ...func(*kms.Options)) (*kms.DescribeKeyOutput, error)
}

// maxDataKey is KMS Encrypt's limit on the plaintext, in bytes.
const maxDataKey = 4096

// Ring is the KMS key ring. It is safe for concurrent use.
type Ring struct {
	api   API
	keyID string
}

// New returns the ring that wraps data keys under keyID: a key id, key ARN,
// alias name or alias ARN. client is built by the caller from its aws.Config.
func New(client API, keyID string) (*Ring, error) {
	if client == nil {
		return nil, errors.New("new kms key ring: client is required")
	}
	if keyID == "" {
		return nil, errors.New("new kms key ring: key id is empty")
	}
	return &Ring{api: client, keyID: keyID}, nil
}

// Wrap encrypts a data key of 1 to 4096 bytes under the context with KMS
// Encrypt. KeyID of the result is the ARN of the key KMS used, whatever name
// the ring was given. Two wraps of the same key differ (KMS randomizes).
func (r *Ring) Wrap(ctx context.Context, plaintext []byte, encCtx map[string]string) (core.WrappedKey, error) {
	if len(plaintext) == 0 || len(plaintext) > maxDataKey {
		return core.WrappedKey{}, core.ErrInvalid("data key must be 1 to %d bytes", maxDataKey)
	}
	out, err := r.api.Encrypt(ctx, &kms.EncryptInput{
		KeyId:             aws.String(r.keyID),
		Plaintext:         plaintext,
		EncryptionContext: contextOf(encCtx),
	})
	if err != nil {
		return core.WrappedKey{}, translate(err, "wrap data key")
	}
	if len(out.CiphertextBlob) == 0 || aws.ToString(out.KeyId) == "" {
		return core.WrappedKey{}, core.ErrInternal(errors.New("kms returned no ciphertext or key id"), "wrap data key")
	}
	return core.WrappedKey{KeyID: aws.ToString(out.KeyId), Ciphertext: out.CiphertextBlob}, nil
}

// Unwrap decrypts a wrapped key with KMS Decrypt under the ring's own key:
// KMS refuses a ciphertext wrapped under another key (IncorrectKeyException),
// as the local ring does, whatever w.KeyID says. Every refusal (wrong
// context, tampered or foreign ciphertext, unknown or disabled key) is
// KindInternal with the message "unwrap data key"; KMS failing or throttling
// is KindUnavailable.
func (r *Ring) Unwrap(ctx context.Context, w core.WrappedKey, encCtx map[string]string) ([]byte, error) {
	if len(w.Ciphertext) == 0 {
		return nil, core.ErrInternal(errors.New("wrapped key is empty"), "unwrap data key")
	}
	out, err := r.api.Decrypt(ctx, &kms.DecryptInput{
		CiphertextBlob:    w.Ciphertext,
		EncryptionContext: contextOf(encCtx),
		KeyId:             aws.String(r.keyID),
	})
	if err != nil {
		return nil, translate(err, "unwrap data key")
	}
	if len(out.Plaintext) == 0 {
		return nil, core.ErrInternal(errors.New("kms returned no plaintext"), "unwrap data key")
	}
	return out.Plaintext, nil
}

// Ping checks that the key exists, that the ring may describe it and that it
// is enabled. A missing or disabled key is an internal error: a deployment
// bug, not a passing failure.
func (r *Ring) Ping(ctx context.Context) error {
	out, err := r.api.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(r.keyID)})
	if err != nil {
		return translate(err, "describe kms key")
	}
	if out.KeyMetadata == nil || !out.KeyMetadata.Enabled {
		return core.ErrInternal(errors.New("key is not enabled"), "describe kms key")
	}
	return nil
}

// contextOf copies the context for the request; KMS treats an absent context
// and an empty one alike.
func contextOf(encCtx map[string]string) map[string]string {
	if len(encCtx) == 0 {
		return nil
	}
	return maps.Clone(encCtx)
}

// translate maps a KMS error to the core's kinds, once for the package,
// with the one AWS classifier (awserr.KMS): what a retry may cure is
// KindUnavailable, everything else (refused ciphertexts, contexts and keys,
// denied access, invalid requests) KindInternal. msg names the operation;
// the cause is kept for the logs and never holds key material (KMS errors
// do not quote plaintexts).
func translate(err error, msg string) error {
	return awserr.KMS.Translate(err, "%s", msg)
}
