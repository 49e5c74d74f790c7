// Package devauth mints and validates the ES256 bearer tokens of the local
// server, and renders their claims exactly as API Gateway's JWT authorizer
// passes Cognito claims to a function, so that handlers cannot tell the two
// apart.
package devauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/httpapi"
)

// Issuer and Audience of local tokens.
const (
	Issuer   = "medshare-local"
	Audience = "medshare"
)

// MaxTTL is the longest a local token may live: Mint refuses a longer
// lifetime, and Verify refuses a token that would still be valid more than
// MaxTTL (plus Leeway) from now, however it was signed. Local tokens cannot
// be revoked (ARCHITECTURE §10.5), so their lifetime is the only bound on a
// stolen one; 30 days lets a clinic hand a device one token a month.
const MaxTTL = 30 * 24 * time.Hour

// Leeway is the clock skew Verify tolerates on exp, nbf and MaxTTL.
const Leeway = 30 * time.Second

// Authority holds the signing key of local tokens.
type Authority struct {
	key   *ecdsa.PrivateKey
	now   func() time.Time
	cache *tokenCache
}

// newAuthority returns an authority with key, its clock and an empty cache.
func newAuthority(key *ecdsa.PrivateKey, now func() time.Time) *Authority {
	return &Authority{key: key, now: now, cache: &tokenCache{m: map[[sha256.Size]byte]verified{}}}
}

// LoadOrCreate reads the P-256 signing key at path (PKCS#8 PEM), creating it
// with mode 0600 when absent.
func LoadOrCreate(path string) (*Authority, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, gerr := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if gerr != nil {
			return nil, fmt.Errorf("generate token key: %w", gerr)
		}
		der, merr := x509.MarshalPKCS8PrivateKey(key)
		if merr != nil {
			return nil, fmt.Errorf("encode token key: %w", merr)
		}
		out := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		f, ferr := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(ferr, fs.ErrExist) { // created by a concurrent process: use it
			return LoadOrCreate(path)
		}
		if ferr != nil {
			return nil, fmt.Errorf("create token key %s: %w", path, ferr)
		}
		if _, werr := f.Write(out); werr != nil {
			f.Close()
			return nil, fmt.Errorf("write token key %s: %w", path, werr)
		}
		if cerr := f.Close(); cerr != nil {
			return nil, fmt.Errorf("write token key %s: %w", path, cerr)
		}
		return newAuthority(key, time.Now), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read token key %s: %w", path, err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("token key %s is not PEM", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse token key %s: %w", path, err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("token key %s is not a P-256 key", path)
	}
	return newAuthority(key, time.Now), nil
}

// WithClock returns a copy of a that reads time from now (for tests), with
// a cache of its own.
func (a *Authority) WithClock(now func() time.Time) *Authority {
	return newAuthority(a.key, now)
}

// Mint returns a signed token for subject in role, valid for ttl (at most
// MaxTTL).
func (a *Authority) Mint(subject string, role core.Role, ttl time.Duration) (string, error) {
	if ttl <= 0 || ttl > MaxTTL {
		return "", fmt.Errorf("a token lives more than 0 and at most %v, not %v", MaxTTL, ttl)
	}
	if !core.ValidExternalID(subject) {
		return "", fmt.Errorf("subject %q is not a valid id", subject)
	}
	if core.ReservedID(subject) {
		return "", fmt.Errorf("subject %q is reserved: ids starting with %q are the service's own actors", subject, core.SystemIDPrefix)
	}
	if !role.Valid() {
		return "", fmt.Errorf("role %q is not one of patient, professional, clinic", role)
	}
	now := a.now()
	claims := jwt.MapClaims{
		"iss":              Issuer,
		"aud":              Audience,
		"sub":              subject,
		"cognito:groups":   []string{string(role)},
		"iat":              now.Unix(),
		"nbf":              now.Add(-time.Minute).Unix(),
		"exp":              now.Add(ttl).Unix(),
		"jti":              core.NewID("tk"),
		"token_use":        "access",
		"medshare:version": 1,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	return tok.SignedString(a.key)
}

// Verify validates a token (signature, ES256 only, issuer, audience, expiry
// within MaxTTL of now, a subject string that is not reserved for the
// service's own actors) and returns
// its claims as API Gateway's JWT authorizer renders them: every value a
// string, arrays as "[a b]". Roles are the handler's to check, as in AWS.
//
// A token that verified is remembered (tokenCache) until its expiry, so
// that a client's next requests with it cost a hash and a map look-up, not
// an ECDSA verification: the answer is the same, since the token, the key
// and the checks are.
func (a *Authority) Verify(token string) (map[string]string, error) {
	now := a.now()
	sum := sha256.Sum256([]byte(token))
	if claims, ok := a.cache.get(sum, now); ok {
		return claims, nil
	}
	claims, v, err := a.verify(token)
	if err != nil {
		return nil, err
	}
	a.cache.put(sum, v, now)
	return claims, nil
}

// verify is Verify without the cache; it also returns the cache entry.
func (a *Authority) verify(token string) (map[string]string, verified, error) {
	parsed, err := jwt.Parse(token, func(*jwt.Token) (any, error) { return &a.key.PublicKey, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithAudience(Audience),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(a.now),
	)
	if err != nil {
		return nil, verified{}, err
	}
	a.cache.verifications.Add(1)
	mc, ok := parsed.Claims.(jwt.MapClaims)
	if !ok {
		return nil, verified{}, errors.New("unexpected claims type")
	}
	// A token signed for longer than Mint allows (by another tool holding
	// the key, or an older version) is refused, not trusted for years.
	exp, err := mc.GetExpirationTime()
	if err != nil || exp == nil {
		return nil, verified{}, errors.New("the token has no valid expiry")
	}
	if exp.After(a.now().Add(MaxTTL + Leeway)) {
		return nil, verified{}, fmt.Errorf("the token expires more than %v from now", MaxTTL)
	}
	// The subject names the caller everywhere after this: it must be one
	// plain string, and not one of the service's own actors.
	sub, ok := mc["sub"].(string)
	if !ok || sub == "" {
		return nil, verified{}, errors.New("the token has no subject string")
	}
	if core.ReservedID(sub) {
		return nil, verified{}, fmt.Errorf("subject %q is reserved for the service", sub)
	}
	out := make(map[string]string, len(mc))
	for k, v := range mc {
		switch x := v.(type) {
		case string:
			out[k] = x
		case float64:
			out[k] = strconv.FormatFloat(x, 'f', -1, 64)
		case bool:
			out[k] = strconv.FormatBool(x)
		case []any:
			parts := make([]string, 0, len(x))
			for _, e := range x {
				parts = append(parts, fmt.Sprint(e))
			}
			out[k] = httpapi.FormatGroups(parts)
		default:
			out[k] = fmt.Sprint(x)
		}
	}
	// The cache may answer only while a verification would accept: from
	// the not-before (optional) less the leeway, and not while the expiry
	// is more than MaxTTL ahead (a clock set back), until the expiry.
	v := verified{claims: maps.Clone(out), from: exp.Add(-MaxTTL - Leeway), until: exp.Time}
	if nbf, err := mc.GetNotBefore(); err == nil && nbf != nil && nbf.Add(-Leeway).After(v.from) {
		v.from = nbf.Add(-Leeway)
	}
	return out, v, nil
}

// tokenCacheSize bounds the tokens remembered: far more than the clients of
// one local server, and about 2 MB at most.
const tokenCacheSize = 4096

// tokenCache remembers the claims of the tokens that verified, keyed by the
// SHA-256 of the token (the token itself is not kept), each only until its
// expiry: past it, the token is verified again, which accepts it for the
// leeway and then refuses it. Local tokens cannot be revoked, and the key
// that signs them is read once when the server starts, so the answer of a
// verification cannot change before the expiry: a cache entry never
// outlives what a full verification would say. (A token signed with a key
// that was replaced on disk while the server ran stays accepted until it
// expires, as it was before the cache, since the server keeps the key it
// read.) At tokenCacheSize entries, the expired ones are dropped, then any.
type tokenCache struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]verified
	// verifications counts full verifications that succeeded (tests).
	verifications atomic.Int64
}

// verified is a token that verified: its claims, and when they may be
// served from the cache, [from, until).
type verified struct {
	claims      map[string]string
	from, until time.Time
}

// get returns a copy of the claims of the token whose hash is sum, if it
// verified and now is within its validity.
func (c *tokenCache) get(sum [sha256.Size]byte, now time.Time) (map[string]string, bool) {
	c.mu.Lock()
	v, ok := c.m[sum]
	c.mu.Unlock()
	if !ok || now.Before(v.from) || !now.Before(v.until) {
		return nil, false
	}
	return maps.Clone(v.claims), true
}

// put remembers a verified token, unless it has expired already.
func (c *tokenCache) put(sum [sha256.Size]byte, v verified, now time.Time) {
	if !now.Before(v.until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= tokenCacheSize {
		for k, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, k)
			}
		}
		for k := range c.m { // still full: forget any half of them
			if len(c.m) < tokenCacheSize/2 {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[sum] = v
}

// len is the number of tokens remembered (tests).
func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// BearerToken extracts the token from an Authorization header value.
func BearerToken(h string) (string, bool) {
	const p = "bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return "", false
	}
	return strings.TrimSpace(h[len(p):]), true
}
