// Package cdnblob serves the objects under one key prefix of the bucket (the
// chat images) through CloudFront: PresignGet of such a key returns a
// CloudFront signed URL (a canned policy: the URL and its expiry, signed
// with the private key of a public key in the distribution's key group),
// and every other call goes to the blob store it wraps (s3blob). The
// distribution reads the bucket with origin access control, under an origin
// path equal to the prefix, so a URL's path is the key without the prefix
// and no other object of the bucket is reachable through it
// (infra/stack/cdn.go).
//
// # The signing key
//
// CloudFront key groups take RSA 2048 or ECDSA P-256 public keys. The SDK's
// signer (feature/cloudfront/sign) hashes the policy with SHA-1, which is
// what CloudFront requires of RSA keys, so the key is RSA 2048. It is kept
// in Secrets Manager as JSON, {"key_pair_id": ..., "private_key": PEM}, so
// that the key and the id of its public key in the key group change
// together when it is rotated (docs/DEPLOY.md). LoadKey reads it once per
// cold start; it is never in an environment variable.
package cdnblob

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/cloudfront/sign"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/runtime/awserr"
)

// Environment variables of the CloudFront delivery of chat images. Both
// set: chat-signed-url hands out CloudFront URLs; both unset: presigned S3
// GETs (the fallback, and what the embedded runtime and the emulators use).
const (
	EnvDomain    = "MEDSHARE_CDN_DOMAIN"         // the distribution's domain name
	EnvKeySecret = "MEDSHARE_CDN_KEY_SECRET_ARN" // the Secrets Manager secret that holds the signing key
)

// KeyBits is the size of the RSA signing key CloudFront accepts.
const KeyBits = 2048

var _ core.Blobs = (*Store)(nil)

// Store is a core.Blobs whose GETs under Prefix are CloudFront signed URLs.
// It is safe for concurrent use.
type Store struct {
	core.Blobs // everything else: the bucket's own store
	base       string
	prefix     string
	signer     *sign.URLSigner
	now        func() time.Time
}

// Options configure a Store.
type Options struct {
	// Domain is the distribution's domain name (d111111abcdef8.cloudfront.net,
	// or a custom domain), without scheme or path.
	Domain string
	// Key is the signing key: its public key id in the key group and the
	// private key.
	Key SigningKey
	// Prefix is the key prefix the distribution serves ("chat/"): its origin
	// path.
	Prefix string
	// Now is the clock of the URLs' expiry (default time.Now).
	Now func() time.Time
}

// New returns the store that signs GETs under o.Prefix for o.Domain and
// passes everything else to blobs.
func New(blobs core.Blobs, o Options) (*Store, error) {
	if blobs == nil {
		return nil, errors.New("new cdn blob store: no blob store to wrap")
	}
	if o.Domain == "" || strings.ContainsAny(o.Domain, "/:?#@ ") {
		return nil, fmt.Errorf("new cdn blob store: domain %q: want a host name", o.Domain)
	}
	if !strings.HasSuffix(o.Prefix, "/") || strings.Count(o.Prefix, "/") != 1 {
		return nil, fmt.Errorf("new cdn blob store: prefix %q: want one path segment and a slash", o.Prefix)
	}
	if err := o.Key.check(); err != nil {
		return nil, fmt.Errorf("new cdn blob store: %w", err)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Store{
		Blobs:  blobs,
		base:   "https://" + o.Domain + "/",
		prefix: o.Prefix,
		signer: sign.NewURLSigner(o.Key.KeyPairID, o.Key.PrivateKey),
		now:    o.Now,
	}, nil
}

// PresignGet returns, for a key under the prefix, a CloudFront URL of the
// object valid for ttl (the canned policy's expiry, in whole seconds, so
// never later than now+ttl), and otherwise the wrapped store's URL. It does
// not check that the object exists.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (core.SignedURL, error) {
	rest, ok := strings.CutPrefix(key, s.prefix)
	if !ok {
		return s.Blobs.PresignGet(ctx, key, ttl)
	}
	const op = "sign cdn url"
	if err := core.CheckURLTTL(op, ttl); err != nil {
		return core.SignedURL{}, err
	}
	if rest == "" || strings.Contains(rest, "/") {
		// Object keys under the prefix are one id (core.ChatImage.ObjectKey).
		return core.SignedURL{}, core.ErrInvalid("%s: object key must be the prefix and one segment", op)
	}
	expires := time.Unix(s.now().Add(ttl).Unix(), 0).UTC()
	u, err := s.signer.Sign(s.base+url.PathEscape(rest), expires)
	if err != nil {
		return core.SignedURL{}, core.ErrInternal(err, "%s %s", op, key)
	}
	return core.SignedURL{URL: u, ExpiresAt: expires}, nil
}

// SigningKey is what the secret holds: the id CloudFront gave the public
// key (its key pair id in signed URLs) and the private key.
type SigningKey struct {
	KeyPairID  string
	PrivateKey *rsa.PrivateKey
}

// secretJSON is the secret's form.
type secretJSON struct {
	KeyPairID  string `json:"key_pair_id"`
	PrivateKey string `json:"private_key"` // PKCS#8 PEM (PKCS#1 is accepted)
}

func (k SigningKey) check() error {
	if k.KeyPairID == "" || len(k.KeyPairID) > 64 || strings.Trim(k.KeyPairID, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
		return errors.New("key pair id: want CloudFront's public key id (upper-case letters and digits)")
	}
	if k.PrivateKey == nil || k.PrivateKey.N.BitLen() != KeyBits {
		return fmt.Errorf("private key: want RSA %d", KeyBits)
	}
	return nil
}

// Marshal renders the key as the secret holds it.
func (k SigningKey) Marshal() ([]byte, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.PrivateKey)
	if err != nil {
		return nil, err
	}
	return json.Marshal(secretJSON{KeyPairID: k.KeyPairID, PrivateKey: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))})
}

// ParseSigningKey reads a secret's value. Its errors never quote the value.
func ParseSigningKey(secret []byte) (SigningKey, error) {
	var s secretJSON
	if err := json.Unmarshal(secret, &s); err != nil || s.PrivateKey == "" {
		return SigningKey{}, errors.New(`the secret does not hold a signing key ({"key_pair_id": ..., "private_key": ...}): run medshare cdn-key put`)
	}
	key, err := ParsePrivateKey([]byte(s.PrivateKey))
	if err != nil {
		return SigningKey{}, err
	}
	k := SigningKey{KeyPairID: s.KeyPairID, PrivateKey: key}
	if err := k.check(); err != nil {
		return SigningKey{}, err
	}
	return k, nil
}

// ParsePrivateKey reads an RSA private key in PEM, PKCS#8 or PKCS#1.
func ParsePrivateKey(b []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("private key: not PEM")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("private key: not a PKCS#8 or PKCS#1 key")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key: %T, want RSA %d (the key that CloudFront's SHA-1 signatures need)", k, KeyBits)
	}
	return rk, nil
}

// PublicKeyPEM renders the public half of key as CloudFront's key group
// takes it (SubjectPublicKeyInfo, "PUBLIC KEY").
func PublicKeyPEM(key *rsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// SecretsAPI is the part of the Secrets Manager client that LoadKey calls;
// *secretsmanager.Client satisfies it.
type SecretsAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// LoadKey reads the signing key from the secret secretID (its ARN or name).
func LoadKey(ctx context.Context, api SecretsAPI, secretID string) (SigningKey, error) {
	out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
	if err != nil {
		if code := awserr.Code(err); code != "" {
			return SigningKey{}, fmt.Errorf("read signing key secret %s: %s: %w", secretID, code, err)
		}
		return SigningKey{}, fmt.Errorf("read signing key secret %s: %w", secretID, err)
	}
	if out.SecretString == nil {
		return SigningKey{}, fmt.Errorf("signing key secret %s holds no string", secretID)
	}
	k, err := ParseSigningKey([]byte(*out.SecretString))
	if err != nil {
		return SigningKey{}, fmt.Errorf("signing key secret %s: %w", secretID, err)
	}
	return k, nil
}
