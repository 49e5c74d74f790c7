package devauth

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/httpapi"
)

func authority(t *testing.T) (*Authority, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.pem")
	a, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	return a, path
}

func TestMintVerifyRendersClaimsLikeTheJWTAuthorizer(t *testing.T) {
	a, _ := authority(t)
	tok, err := a.Mint("pat-1", core.RolePatient, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := a.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if claims["sub"] != "pat-1" || claims["iss"] != Issuer || claims["aud"] != Audience {
		t.Errorf("claims = %v", claims)
	}
	if got := claims["cognito:groups"]; got != "[patient]" {
		t.Errorf("cognito:groups = %q, want %q (API Gateway's rendering of an array claim)", got, "[patient]")
	}
	if got := httpapi.ParseGroups(claims["cognito:groups"]); len(got) != 1 || got[0] != "patient" {
		t.Errorf("ParseGroups = %v", got)
	}
	if strings.Contains(claims["exp"], "e+") {
		t.Errorf("exp rendered in exponent form: %q", claims["exp"])
	}
}

func TestVerifyRefuses(t *testing.T) {
	a, _ := authority(t)
	other, _ := authority(t)
	good, _ := a.Mint("pat-1", core.RolePatient, time.Hour)
	expired, _ := a.WithClock(func() time.Time { return time.Now().Add(-2 * time.Hour) }).Mint("pat-1", core.RolePatient, time.Hour)
	forged, _ := other.Mint("pat-1", core.RolePatient, time.Hour)
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "pat-1", "iss": Issuer, "aud": Audience, "exp": time.Now().Add(time.Hour).Unix()})
	noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "pat-1", "iss": Issuer, "aud": Audience, "exp": time.Now().Add(time.Hour).Unix()})
	hsTok, _ := hs.SignedString([]byte("secret"))
	sign := func(c jwt.MapClaims) string {
		s, _ := jwt.NewWithClaims(jwt.SigningMethodES256, c).SignedString(a.key)
		return s
	}
	exp := time.Now().Add(time.Hour).Unix()
	for _, c := range []struct{ name, tok string }{
		{"expired", expired},
		{"other key", forged},
		{"alg none", noneTok},
		{"alg HS256", hsTok},
		{"tampered payload", good[:strings.Index(good, ".")+2] + "x" + good[strings.Index(good, ".")+3:]},
		{"wrong issuer", sign(jwt.MapClaims{"sub": "p", "iss": "evil", "aud": Audience, "exp": exp})},
		{"wrong audience", sign(jwt.MapClaims{"sub": "p", "iss": Issuer, "aud": "other", "exp": exp})},
		{"no expiry", sign(jwt.MapClaims{"sub": "p", "iss": Issuer, "aud": Audience})},
		{"expiry past the longest lifetime", sign(jwt.MapClaims{"sub": "p", "iss": Issuer, "aud": Audience, "exp": time.Now().Add(MaxTTL + Leeway + time.Minute).Unix()})},
		{"expiry in ten years", sign(jwt.MapClaims{"sub": "p", "iss": Issuer, "aud": Audience, "exp": time.Now().AddDate(10, 0, 0).Unix()})},
		{"no subject", sign(jwt.MapClaims{"iss": Issuer, "aud": Audience, "exp": exp})},
		{"empty subject", sign(jwt.MapClaims{"sub": "", "iss": Issuer, "aud": Audience, "exp": exp})},
		{"subject a number", sign(jwt.MapClaims{"sub": 42, "iss": Issuer, "aud": Audience, "exp": exp})},
		{"subject an array", sign(jwt.MapClaims{"sub": []string{"p"}, "iss": Issuer, "aud": Audience, "exp": exp})},
		{"subject the detector", sign(jwt.MapClaims{"sub": core.DetectorID, "cognito:groups": []string{"professional"}, "iss": Issuer, "aud": Audience, "exp": exp})},
		{"subject the cleanup job", sign(jwt.MapClaims{"sub": core.CleanupID, "cognito:groups": []string{"patient"}, "iss": Issuer, "aud": Audience, "exp": exp})},
		{"subject the operators", sign(jwt.MapClaims{"sub": core.ReportRecipient, "cognito:groups": []string{"clinic"}, "iss": Issuer, "aud": Audience, "exp": exp})},
		{"subject reserved, other case", sign(jwt.MapClaims{"sub": "MedShare-Detector", "iss": Issuer, "aud": Audience, "exp": exp})},
		{"garbage", "not.a.token"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := a.Verify(c.tok); err == nil {
				t.Error("verified, want an error")
			}
		})
	}
	if _, err := a.Verify(good); err != nil {
		t.Errorf("good token: %v", err)
	}
}

// TestLongestLifetime: a token lives at most MaxTTL. Mint makes one that
// long and Verify accepts it, and one signed by hand to expire MaxTTL from
// now; Mint refuses anything longer (and a lifetime that is not positive).
func TestLongestLifetime(t *testing.T) {
	a, _ := authority(t)
	longest, err := a.Mint("pat-1", core.RolePatient, MaxTTL)
	if err != nil {
		t.Fatalf("Mint with MaxTTL: %v", err)
	}
	if _, err := a.Verify(longest); err != nil {
		t.Errorf("Verify of a token minted with MaxTTL: %v", err)
	}
	byHand, _ := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": "p", "iss": Issuer, "aud": Audience, "exp": time.Now().Add(MaxTTL).Unix()}).SignedString(a.key)
	if _, err := a.Verify(byHand); err != nil {
		t.Errorf("Verify of a token signed to expire MaxTTL from now: %v", err)
	}
	for _, ttl := range []time.Duration{MaxTTL + time.Second, 10 * 365 * 24 * time.Hour, 0, -time.Hour} {
		if _, err := a.Mint("pat-1", core.RolePatient, ttl); err == nil {
			t.Errorf("Mint with ttl %v accepted", ttl)
		}
	}
	// Verify counts from its own clock: a token minted for MaxTTL is
	// refused by a verifier whose clock is a day behind.
	behind := a.WithClock(func() time.Time { return time.Now().Add(-24 * time.Hour) })
	if _, err := behind.Verify(longest); err == nil {
		t.Error("a verifier a day behind accepted a token expiring MaxTTL after minting")
	}
}

func TestKeyFile(t *testing.T) {
	a, path := authority(t)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	b, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := a.Mint("u1", core.RoleClinic, time.Minute)
	if _, err := b.Verify(tok); err != nil {
		t.Errorf("a reloaded key does not verify the first one's token: %v", err)
	}
	os.WriteFile(path, []byte("junk"), 0o600)
	if _, err := LoadOrCreate(path); err == nil {
		t.Error("a corrupt key file was accepted")
	}
}

func TestMintRefusesBadInput(t *testing.T) {
	a, _ := authority(t)
	if _, err := a.Mint("a b", core.RolePatient, time.Hour); err == nil {
		t.Error("subject with a space accepted")
	}
	if _, err := a.Mint("u", core.Role("admin"), time.Hour); err == nil {
		t.Error("unknown role accepted")
	}
	if _, err := a.Mint("u", core.RoleSystem, time.Hour); err == nil {
		t.Error("the system role accepted")
	}
	for _, sub := range append(slices.Clone(core.SystemIDs), "medshare-anything", "MEDSHARE-detector") {
		if _, err := a.Mint(sub, core.RoleProfessional, time.Hour); err == nil {
			t.Errorf("reserved subject %q accepted", sub)
		}
	}
}

func TestBearerToken(t *testing.T) {
	for _, c := range []struct {
		h, want string
		ok      bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"Basic abc", "", false},
		{"Bearer ", "", false},
		{"", "", false},
	} {
		got, ok := BearerToken(c.h)
		if got != c.want || ok != c.ok {
			t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", c.h, got, ok, c.want, c.ok)
		}
	}
}
