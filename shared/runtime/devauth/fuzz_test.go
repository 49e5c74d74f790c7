package devauth

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/medshare/medshare/shared/core"
)

// fuzzKey is a P-256 key made for this fuzz target only, so that the tokens
// in its corpus verify in every run; fuzzNow is its clock.
const fuzzKey = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAPr+7KPZ45zDmrvs
QoPsOCO+3WSTMUiVh6WtSRc8rUyhRANCAAQ/UVlkYDgBYmBE2fgVqHoF4KQNGWsU
5b84xygkWxaj9jxXIFrUuDvNKLUVwfBN5KSaCTWOPwjnLu8khuRlfpTv
-----END PRIVATE KEY-----
`

var fuzzNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// FuzzVerify feeds Verify any token: tokens the authority minted, tokens
// signed with its key but with claims it must refuse (expired, not yet
// valid, another issuer or audience, no expiry, another algorithm in the
// header), unsigned and HMAC-signed tokens (alg none, HS256 keyed with the
// public key), and whatever the fuzzer makes of them. A token Verify accepts
// must have a signing input that this authority signed (no forgery, no
// change to a signed header or payload: the ES256 signature verifies with
// crypto/ecdsa over its header and payload) and claims it may accept; the
// claims it returns are the payload's. Nothing may panic.
func FuzzVerify(f *testing.F) {
	path := filepath.Join(f.TempDir(), "key.pem")
	if err := os.WriteFile(path, []byte(fuzzKey), 0o600); err != nil {
		f.Fatal(err)
	}
	a0, err := LoadOrCreate(path)
	if err != nil {
		f.Fatal(err)
	}
	a := a0.WithClock(func() time.Time { return fuzzNow })
	sign := func(method jwt.SigningMethod, claims jwt.MapClaims, header map[string]any) string {
		tok := jwt.NewWithClaims(method, claims)
		for k, v := range header {
			tok.Header[k] = v
		}
		s, err := tok.SignedString(a.key)
		if err != nil {
			f.Fatal(err)
		}
		return s
	}
	for _, role := range []core.Role{core.RolePatient, core.RoleProfessional, core.RoleClinic} {
		tok, err := a.Mint("fz-"+string(role), role, time.Hour)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
		f.Add("Bearer " + tok)
		f.Add(tok + "x")
		f.Add(strings.ToUpper(tok[:10]) + tok[10:])
	}
	base := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": Issuer, "aud": Audience, "sub": "fz-pat", "cognito:groups": []string{"patient"},
			"iat": fuzzNow.Unix(), "exp": fuzzNow.Add(time.Hour).Unix()}
	}
	with := func(k string, v any) jwt.MapClaims {
		c := base()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	es := jwt.SigningMethodES256
	for _, c := range []jwt.MapClaims{
		with("exp", fuzzNow.Add(-time.Hour).Unix()),
		with("exp", nil),
		with("exp", "tomorrow"),
		with("exp", fuzzNow.Add(MaxTTL).Unix()),
		with("exp", fuzzNow.Add(MaxTTL+Leeway+time.Second).Unix()),
		with("nbf", fuzzNow.Add(time.Hour).Unix()),
		with("iss", "someone-else"),
		with("aud", "another-api"),
		with("aud", []string{"x", Audience}),
		with("cognito:groups", []string{"patient", "professional"}),
		with("sub", ""),
		with("sub", strings.Repeat("a", 2000)),
	} {
		f.Add(sign(es, c, nil))
	}
	f.Add(sign(es, base(), map[string]any{"alg": "RS256"}))
	f.Add(sign(es, base(), map[string]any{"kid": "../../etc/passwd", "crit": []string{"exp"}}))
	// Not signed with the key: alg none, and HS256 keyed with the public key.
	enc := base64.RawURLEncoding.EncodeToString
	payload, _ := json.Marshal(base())
	f.Add(enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(payload) + ".")
	if pub, err := jwtPublicKeyBytes(a); err == nil {
		if s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, base()).SignedString(pub); err == nil {
			f.Add(s)
		}
	}
	f.Add("")
	f.Add("a.b.c")
	f.Add("..")
	f.Add(strings.Repeat("e", 10000))

	f.Fuzz(func(t *testing.T, token string) {
		claims, err := a.Verify(token)
		if err != nil {
			return
		}
		i := strings.LastIndexByte(token, '.')
		sig, err := base64.RawURLEncoding.DecodeString(token[i+1:])
		digest := sha256.Sum256([]byte(token[:i]))
		if err != nil || len(sig) != 64 ||
			!ecdsa.Verify(&a.key.PublicKey, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			t.Fatalf("Verify accepted a token whose header and payload this key never signed: %q", token)
		}
		want := acceptable(t, token[:i])
		for k, v := range want {
			if claims[k] != v {
				t.Fatalf("Verify returned %s=%q, want %q from the payload", k, claims[k], v)
			}
		}
	})
}

// acceptable decodes the signed header and payload of a token Verify
// accepted, fails t unless Verify may accept them at fuzzNow, and returns
// the claims it must have returned.
func acceptable(t *testing.T, signingInput string) map[string]string {
	t.Helper()
	h, p, _ := strings.Cut(signingInput, ".")
	hb, err1 := base64.RawURLEncoding.DecodeString(h)
	pb, err2 := base64.RawURLEncoding.DecodeString(p)
	var header struct {
		Alg string `json:"alg"`
	}
	var c struct {
		Iss    string          `json:"iss"`
		Aud    json.RawMessage `json:"aud"`
		Sub    string          `json:"sub"`
		Exp    *float64        `json:"exp"`
		Nbf    *float64        `json:"nbf"`
		Groups []string        `json:"cognito:groups"`
	}
	if err1 != nil || err2 != nil || json.Unmarshal(hb, &header) != nil || json.Unmarshal(pb, &c) != nil {
		t.Fatalf("Verify accepted a token whose header or payload does not decode: %q", signingInput)
	}
	var aud []string
	if json.Unmarshal(c.Aud, &aud) != nil {
		var one string
		_ = json.Unmarshal(c.Aud, &one)
		aud = []string{one}
	}
	leeway := 30 * time.Second
	switch {
	case header.Alg != "ES256":
		t.Fatalf("Verify accepted alg %q", header.Alg)
	case c.Iss != Issuer:
		t.Fatalf("Verify accepted issuer %q", c.Iss)
	case !slices.Contains(aud, Audience):
		t.Fatalf("Verify accepted audience %s", c.Aud)
	case c.Exp == nil || time.Unix(int64(*c.Exp), 0).Before(fuzzNow.Add(-leeway)):
		t.Fatalf("Verify accepted an expired token or one without expiry: %s", pb)
	case *c.Exp > float64(fuzzNow.Add(MaxTTL+leeway).Unix()):
		t.Fatalf("Verify accepted a token that expires more than MaxTTL from now: %s", pb)
	case c.Nbf != nil && time.Unix(int64(*c.Nbf), 0).After(fuzzNow.Add(leeway)):
		t.Fatalf("Verify accepted a token not valid yet: %s", pb)
	}
	return map[string]string{"sub": c.Sub, "iss": c.Iss}
}

// jwtPublicKeyBytes is the authority's public key as an attacker who
// confuses algorithms would use it as an HMAC key.
func jwtPublicKeyBytes(a *Authority) ([]byte, error) {
	return a.key.PublicKey.Bytes()
}
