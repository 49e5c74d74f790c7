// Package devauth mints and validates the ES256 bearer tokens of the local
// server, and renders their claims exactly as API Gateway's JWT authorizer
// passes Cognito claims to a function, so that handlers cannot tell the two
// apart.
package devauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
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
	key *ecdsa.PrivateKey
	now func() time.Time
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
		return &Authority{key: key, now: time.Now}, nil
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
	return &Authority{key: key, now: time.Now}, nil
}

// WithClock returns a copy of a that reads time from now (for tests).
func (a *Authority) WithClock(now func() time.Time) *Authority {
	return &Authority{key: a.key, now: now}
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
func (a *Authority) Verify(token string) (map[string]string, error) {
	parsed, err := jwt.Parse(token, func(*jwt.Token) (any, error) { return &a.key.PublicKey, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithAudience(Audience),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(a.now),
	)
	if err != nil {
		return nil, err
	}
	mc, ok := parsed.Claims.(jwt.MapClaims)
	if !ok {
		return nil, errors.New("unexpected claims type")
	}
	// A token signed for longer than Mint allows (by another tool holding
	// the key, or an older version) is refused, not trusted for years.
	exp, err := mc.GetExpirationTime()
	if err != nil || exp == nil {
		return nil, errors.New("the token has no valid expiry")
	}
	if exp.After(a.now().Add(MaxTTL + Leeway)) {
		return nil, fmt.Errorf("the token expires more than %v from now", MaxTTL)
	}
	// The subject names the caller everywhere after this: it must be one
	// plain string, and not one of the service's own actors.
	sub, ok := mc["sub"].(string)
	if !ok || sub == "" {
		return nil, errors.New("the token has no subject string")
	}
	if core.ReservedID(sub) {
		return nil, fmt.Errorf("subject %q is reserved for the service", sub)
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
	return out, nil
}

// BearerToken extracts the token from an Authorization header value.
func BearerToken(h string) (string, bool) {
	const p = "bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return "", false
	}
	return strings.TrimSpace(h[len(p):]), true
}
