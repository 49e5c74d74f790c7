package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/testenv"
)

// countingTransport counts the requests a client sends with method to a
// path that ends in suffix.
type countingTransport struct {
	method, suffix string
	n              atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == c.method && strings.HasSuffix(r.URL.Path, c.suffix) {
		c.n.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// newClient is a client of token that counts its signed-URL requests.
func newClient(env *testenv.Env, token string) (*client.Client, *countingTransport) {
	ct := &countingTransport{method: "GET", suffix: "/signed-url"}
	c := client.New(env.URL, token)
	c.HTTP = &http.Client{Transport: ct, Timeout: 30 * time.Second}
	return c, ct
}

// chatSetup registers an appointment of a patient and a professional and
// returns their clients and a stranger's.
func chatSetup(t *testing.T, env *testenv.Env) (pat, pro, stranger *client.Client, proCount *countingTransport) {
	t.Helper()
	clinic := client.New(env.URL, env.Token("clinic-1", core.RoleClinic))
	now := time.Now().UTC()
	if err := clinic.Do(context.Background(), "PUT", "/v1/appointments/appt-client", nil, map[string]any{
		"patient_id": "pat-1", "professional_ids": []string{"pro-1"},
		"starts_at": now, "ends_at": now.Add(time.Hour),
	}, nil); err != nil {
		t.Fatal(err)
	}
	pat, _ = newClient(env, env.Token("pat-1", core.RolePatient))
	pro, proCount = newClient(env, env.Token("pro-1", core.RoleProfessional))
	stranger, _ = newClient(env, env.Token("pro-2", core.RoleProfessional))
	return pat, pro, stranger, proCount
}

func TestChatImageUploadAndSignedURL(t *testing.T) {
	env := testenv.Start(t, core.Config{})
	ctx := context.Background()
	pat, pro, stranger, _ := chatSetup(t, env)
	image := make([]byte, 30000)
	rand.Read(image)

	ci, err := pat.UploadChatImage(ctx, "appt-client", "image/png", image)
	if err != nil {
		t.Fatal(err)
	}
	if ci.Status != "ready" || ci.URL != client.PrivateChatPrefix+ci.ImageID {
		t.Errorf("chat image = %+v, want ready at private://chat-images/<id>", ci)
	}
	u, err := pro.ChatImageURL(ctx, ci.ImageID)
	if err != nil {
		t.Fatal(err)
	}
	if u.ServerDate.IsZero() || u.ExpiresAt.Sub(u.ServerDate) < 59*time.Minute {
		t.Errorf("signed URL expires %v, server date %v: want an hour's lifetime and the Date header", u.ExpiresAt, u.ServerDate)
	}
	got, err := pro.Fetch(ctx, u.URL)
	if err != nil || !bytes.Equal(got, image) {
		t.Fatalf("download: %v (equal=%v)", err, bytes.Equal(got, image))
	}
	if _, err := stranger.ChatImageURL(ctx, ci.ImageID); client.Code(err) != core.CodeNotFound {
		t.Errorf("a stranger's signed URL: %v, want not_found", err)
	}
	if _, err := pro.FinalizeChatImage(ctx, ci.ImageID); client.Code(err) != core.CodeForbidden {
		t.Errorf("finalize by another participant: %v, want forbidden", err)
	}
	// Bytes other than the pinned ones are refused by the store.
	staged, err := pat.StageChatImage(ctx, "appt-client", "image/png", image)
	if err != nil {
		t.Fatal(err)
	}
	other := bytes.Clone(image)
	other[0] ^= 1
	if err := pat.Send(ctx, *staged.Upload, other); client.Code(err) != "upload_refused" {
		t.Errorf("upload of other bytes: %v, want upload_refused", err)
	}
}

// The cache against a real server with a 2-minute URL TTL: one signed-URL
// request per lifetime (counted by the client's transport and by the audit
// trail), shared by concurrent resolutions, and a new one after the URL
// really expired at the store and the app reported the 403.
func TestSignedURLCacheAgainstServer(t *testing.T) {
	env := testenv.Start(t, core.Config{ChatURLTTL: 2 * time.Minute})
	ctx := context.Background()
	pat, pro, _, count := chatSetup(t, env)
	ci, err := pat.UploadChatImage(ctx, "appt-client", "image/jpeg", []byte("chat image bytes"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	cache := pro.SignedURLCache(client.CacheOptions{Now: clock})

	var wg sync.WaitGroup
	urls := make([]string, 20)
	for i := range urls {
		wg.Go(func() {
			u, err := cache.Resolve(ctx, ci.URL)
			if err != nil {
				t.Error(err)
			}
			urls[i] = u
		})
	}
	wg.Wait()
	for _, u := range urls[1:] {
		if u != urls[0] {
			t.Fatalf("concurrent resolutions got different URLs: %q and %q", urls[0], u)
		}
	}
	if n := count.n.Load(); n != 1 {
		t.Fatalf("%d signed-URL requests for 20 concurrent resolutions, want 1", n)
	}
	if b, err := pro.Fetch(ctx, urls[0]); err != nil || string(b) != "chat image bytes" {
		t.Fatalf("fetch the resolved URL: %q, %v", b, err)
	}
	// A 2-minute URL has a margin of at most half its lifetime: it is
	// replaced a minute after it was received (a little less: the lifetime is
	// counted from the answer's Date, in whole seconds).
	advance(30 * time.Second)
	if u, _ := cache.Resolve(ctx, ci.URL); u != urls[0] || count.n.Load() != 1 {
		t.Fatalf("within the lifetime: %d requests", count.n.Load())
	}
	advance(30 * time.Second)
	// (The new URL may read the same: the store signs whole seconds.)
	second, err := cache.Resolve(ctx, ci.URL)
	if err != nil || count.n.Load() != 2 {
		t.Fatalf("past the refresh time: %v, %d requests, want 2", err, count.n.Load())
	}

	// The store's clock passes the URL's expiry: the download is refused, the
	// app reports it, and the cache fetches a URL that works.
	env.Clock.Advance(3 * time.Minute)
	_, err = pro.Fetch(ctx, second)
	if client.Status(err) != http.StatusForbidden {
		t.Fatalf("an expired URL: %v, want 403", err)
	}
	if !cache.ReportFailure(second, client.Status(err)) {
		t.Fatal("the 403 did not drop the URL")
	}
	third, err := cache.Resolve(ctx, ci.URL)
	if err != nil || third == second {
		t.Fatalf("after the 403: %q, %v", third, err)
	}
	if b, err := pro.Fetch(ctx, third); err != nil || string(b) != "chat image bytes" {
		t.Fatalf("fetch the new URL: %v", err)
	}
	if n := count.n.Load(); n != 3 {
		t.Errorf("%d signed-URL requests, want 3", n)
	}
	// The server counts the same: one audited signed_url record per request.
	recs, _, err := env.Store.ListAudit(ctx, "pat-1", false, core.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	audited := 0
	for _, r := range recs {
		if r.Action == "chat_image.signed_url" && r.ActorID == "pro-1" {
			audited++
		}
	}
	if audited != 3 {
		t.Errorf("the audit trail holds %d signed-URL requests, want 3", audited)
	}
}

// A photo's metadata goes to the server encrypted with the photo's data key,
// and the professional who gets the key can read it.
func TestPhotoMetadataIsEncrypted(t *testing.T) {
	env := testenv.Start(t, core.Config{})
	ctx := context.Background()
	pat := client.New(env.URL, env.Token("pat-1", core.RolePatient))
	pro := client.New(env.URL, env.Token("pro-1", core.RoleProfessional))
	meta := client.PhotoMetadata{FileName: "jane-doe-crown.jpg", Notes: "melanoma, left temple"}
	id, err := pat.UploadPhoto(ctx, "CROWN", "image/jpeg", []byte("the photo"), &meta)
	if err != nil {
		t.Fatal(err)
	}
	photos, _, err := pat.ListPhotos(ctx, "")
	if err != nil || len(photos) != 1 || photos[0].PhotoID != id {
		t.Fatalf("list = %+v, %v", photos, err)
	}
	stored := photos[0].Metadata
	if len(stored) == 0 || stored[0] != 0x01 || bytes.Contains(stored, []byte("jane")) || bytes.Contains(stored, []byte("melanoma")) {
		t.Fatalf("the server holds metadata %q: want a v1 envelope without the plaintext", stored)
	}
	sh, err := pat.CreateShare(ctx, client.ShareRequest{ProfessionalID: "pro-1", PhotoIDs: []string{id}, ExpiresIn: 600, MaxViews: 1}, "")
	if err != nil {
		t.Fatal(err)
	}
	dev, err := client.NewDevice(core.KEMX25519)
	if err != nil {
		t.Fatal(err)
	}
	a, err := pro.OpenAccess(ctx, sh.ShareID, dev)
	if err != nil {
		t.Fatal(err)
	}
	k, err := pro.IssueKey(ctx, a.AccessID, id)
	if err != nil {
		t.Fatal(err)
	}
	dataKey, err := dev.OpenKey(k, a.AccessID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := client.DecryptMetadata(stored, dataKey)
	if err != nil || got != meta {
		t.Errorf("metadata = %+v, %v; want %+v", got, err, meta)
	}
	if err := pat.DeletePhoto(ctx, id); err != nil {
		t.Fatal(err)
	}
	if photos, _, _ := pat.ListPhotos(ctx, ""); len(photos) != 0 {
		t.Errorf("after delete the list holds %d photos", len(photos))
	}
}
