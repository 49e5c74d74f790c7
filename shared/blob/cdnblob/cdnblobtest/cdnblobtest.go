// Package cdnblobtest checks CloudFront signed URLs as CloudFront does, with
// the public key alone, for the tests of the CDN delivery of chat images.
package cdnblobtest

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Verified is what a signed URL grants.
type Verified struct {
	Resource  string    // the URL without its signing parameters
	Expires   time.Time // the canned policy's DateLessThan
	KeyPairID string
}

// Verify checks a canned-policy signed URL with pub, independently of the
// SDK's signer: it rebuilds the policy from the URL (its resource is the URL
// without the signing parameters, its expiry the Expires parameter, in
// CloudFront's documented form), decodes the signature from CloudFront's
// URL-safe base64 (- for +, _ for =, ~ for /) and checks it as
// RSASSA-PKCS1-v1_5 over the policy's SHA-1, which is what CloudFront
// requires of RSA keys.
func Verify(pub *rsa.PublicKey, signed string) (Verified, error) {
	u, err := url.Parse(signed)
	if err != nil {
		return Verified{}, err
	}
	q := u.Query()
	if len(q) != 3 || q.Get("Expires") == "" || q.Get("Signature") == "" || q.Get("Key-Pair-Id") == "" {
		return Verified{}, fmt.Errorf("query has %d parameters: want exactly Expires, Signature and Key-Pair-Id", len(q))
	}
	expires, err := strconv.ParseInt(q.Get("Expires"), 10, 64)
	if err != nil {
		return Verified{}, fmt.Errorf("Expires: %w", err)
	}
	resource := u.Scheme + "://" + u.Host + u.EscapedPath()
	policy := fmt.Sprintf(`{"Statement":[{"Resource":"%s","Condition":{"DateLessThan":{"AWS:EpochTime":%d}}}]}`, resource, expires)
	sig, err := base64.StdEncoding.DecodeString(strings.NewReplacer("-", "+", "_", "=", "~", "/").Replace(q.Get("Signature")))
	if err != nil {
		return Verified{}, fmt.Errorf("signature: %w", err)
	}
	sum := sha1.Sum([]byte(policy))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA1, sum[:], sig); err != nil {
		return Verified{}, fmt.Errorf("signature does not verify: %w", err)
	}
	return Verified{Resource: resource, Expires: time.Unix(expires, 0).UTC(), KeyPairID: q.Get("Key-Pair-Id")}, nil
}
