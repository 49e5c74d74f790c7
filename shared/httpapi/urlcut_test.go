package httpapi_test

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/testenv"
	"github.com/medshare/medshare/shared/store/storetest"
)

// TestPhotoURLCutToKeyAndSession: a photo's signed URL ends no later than
// the key it was claimed with and the session that granted it, when either
// has less than the 60 s ceiling left (ARCHITECTURE §2.6). The service runs
// on the test's clock. On the embedded runtime the blob store checks expiry
// against that same clock, so the test moves it past the URL's expiry and
// the URL is refused. On AWS, S3 signs and checks on real time: the test
// checks the URL's X-Amz-Expires (which the blob contract's Expired test
// shows S3 enforces) and its expires_at, read on the service's clock.
func TestPhotoURLCutToKeyAndSession(t *testing.T) {
	forEachRuntime(t, core.Config{}, testPhotoURLCutToKeyAndSession)
}

func testPhotoURLCutToKeyAndSession(t *testing.T, env *testenv.Env) {
	pat, _, pro, _ := parties(env)
	photo := []byte("a photo whose url is cut")
	id := pat.upload(t, "CROWN", "image/jpeg", photo, nil)
	// offset turns a real instant (S3's URLs) into the service's clock. It
	// is read after the service's clock, so it errs by the time between
	// the two reads towards a later instant: a looser bound, never a
	// false failure.
	offset := func() time.Duration {
		if env.RT != nil {
			return 0 // the blob store reads the service's clock
		}
		svc := env.Clock.Now()
		return svc.Sub(time.Now())
	}
	// checkURL checks that u ends no later than end (the service's clock),
	// with at most max left, that it works now, and that it is refused once
	// the clock is past its expiry (embedded; AWS: what S3 is told).
	checkURL := func(t *testing.T, u client.SignedURL, end time.Time, max time.Duration) {
		t.Helper()
		exp := u.ExpiresAt.Add(offset())
		if exp.After(end) {
			t.Errorf("URL expires at %v, after the end of what granted it, %v", exp, end)
		}
		if left := exp.Sub(env.Clock.Now()); left > max {
			t.Errorf("URL lives %v more, want at most %v", left, max)
		}
		if env.RT == nil {
			q := mustParse(t, u.URL).Query()
			secs, err := strconv.Atoi(q.Get("X-Amz-Expires"))
			if err != nil || time.Duration(secs)*time.Second > max {
				t.Errorf("X-Amz-Expires = %q, want at most %v", q.Get("X-Amz-Expires"), max)
			}
		}
		if r := env.Get(u.URL); r.Status != http.StatusOK {
			t.Fatalf("GET the fresh URL: %d %s", r.Status, r.Body)
		}
		if env.RT != nil {
			env.Clock.Advance(u.ExpiresAt.Sub(env.Clock.Now()) + time.Second)
			if r := env.Get(u.URL); r.Status < 400 || r.Status >= 500 {
				t.Errorf("GET past the URL's expiry: %d, want 4xx", r.Status)
			}
		}
	}

	t.Run("key has 20 s left", func(t *testing.T) {
		_, _, a := openShare(t, pat, pro, client.ShareRequest{ProfessionalID: pro1, PhotoIDs: []string{id}, ExpiresIn: 3600, MaxViews: 5}, core.KEMX25519)
		k := pro.issue(t, a.AccessID, id)
		env.Clock.Advance(40 * time.Second)
		u := pro.claim(t, k.KeyID)
		checkURL(t, u, k.ExpiresAt, 20*time.Second)
	})

	t.Run("session has 30 s left", func(t *testing.T) {
		sh, _, a := openShare(t, pat, pro, client.ShareRequest{ProfessionalID: pro1, PhotoIDs: []string{id}, ExpiresIn: 120, MaxViews: 5}, core.KEMX25519)
		env.Clock.Advance(90 * time.Second)
		k := pro.issue(t, a.AccessID, id)
		if k.ExpiresAt.After(sh.ExpiresAt) {
			t.Errorf("key expires at %v, after its session, %v", k.ExpiresAt, sh.ExpiresAt)
		}
		env.Clock.Advance(10 * time.Second)
		u := pro.claim(t, k.KeyID)
		checkURL(t, u, sh.ExpiresAt, 20*time.Second)
	})

	// The service never issues a key that outlives its session (the key is
	// cut to its access, the access to its session); the claim cuts the URL
	// to the session again. A key stored through the port that outlives
	// its session shows that second cut on its own.
	t.Run("key outlives its session", func(t *testing.T) {
		created, _, a := openShare(t, pat, pro, client.ShareRequest{ProfessionalID: pro1, PhotoIDs: []string{id}, ExpiresIn: 120, MaxViews: 5}, core.KEMX25519)
		env.Clock.Advance(100 * time.Second)
		store := env.Store
		sh := storetest.GetShare(t, store, created.ShareID)
		now := env.Clock.Now()
		k := storetest.NewKey(sh, a.AccessID, now) // lives 60 s: 40 s past the session
		if !k.ExpiresAt.After(sh.ExpiresAt) {
			t.Fatalf("the planted key expires at %v, not after its session, %v", k.ExpiresAt, sh.ExpiresAt)
		}
		storetest.MustIssue(t, store, k, now)
		u := pro.claim(t, k.ID)
		checkURL(t, u, sh.ExpiresAt, 20*time.Second)
	})
	wantChainValid(t, env)
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse URL: %v", err)
	}
	return u
}
