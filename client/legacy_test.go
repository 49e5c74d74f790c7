package client_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/testenv"
	"github.com/medshare/medshare/shared/legacy"
	"github.com/medshare/medshare/shared/legacy/httplegacy"
	"github.com/medshare/medshare/shared/legacy/migrate"
	"github.com/medshare/medshare/shared/legacy/migrate/migratetest"
)

// TestOldChatsStillWork: the app shows an old chat's images through the
// URLs its messages hold. Before the migration the SignedURLCache answers
// each old URL with itself (the legacy bucket still serves it); after, with
// a signed URL of its migrated image whose bytes are the old object's, one
// resolve request per image, then from the cache. A stranger's cache gets
// the 404 of an unknown URL.
func TestOldChatsStillWork(t *testing.T) {
	for _, rt := range testenv.Runtimes {
		t.Run(rt.Name, func(t *testing.T) { testOldChatsStillWork(t, rt.Start(t, core.Config{})) })
	}
}

func testOldChatsStillWork(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	lib := migratetest.NewGood(4, 40)
	if err := lib.Register(ctx, env.Service); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := lib.PutDir(dir); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	src, err := httplegacy.New(srv.URL+"/", srv.Client())
	if err != nil {
		t.Fatal(err)
	}

	appt := lib.Appointments[0]
	var old []migratetest.Image
	for _, img := range lib.Images {
		if img.AppointmentID == appt.ID {
			old = append(old, img)
		}
	}
	host := strings.TrimSuffix(strings.TrimPrefix(migratetest.URLPrefix, "https://"), "/")
	counter := &countingTransport{method: "POST", suffix: "/api/chat-images/resolve"}
	pro := client.New(env.URL, env.Token(appt.Professionals[0], core.RoleProfessional))
	pro.HTTP = &http.Client{Transport: counter, Timeout: 30 * time.Second}
	cache := pro.SignedURLCache(client.CacheOptions{LegacyHosts: []string{host}})

	// Before: the images are imported (the migration's first step, which a
	// run that stopped leaves) and not copied; the old URL, as the message
	// holds it, answers for now.
	for _, img := range old {
		in := core.LegacyImport{ClinicID: migratetest.Clinic, AppointmentID: appt.ID, SenderID: appt.PatientID, URL: img.URL,
			SentAt: time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC), ContentType: migrate.Sniff(img.Data), Size: int64(len(img.Data))}
		prepared, err := env.Service.PrepareLegacyImage(ctx, in)
		if err == nil {
			_, _, err = env.Service.ImportLegacyImage(ctx, prepared)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, img := range old {
		got, err := cache.Resolve(ctx, img.URL)
		if err != nil || got != img.URL {
			t.Fatalf("before the migration, %s resolves to %q, %v: want the old URL", img.URL, got, err)
		}
	}
	if n := counter.n.Load(); n != int64(len(old)) {
		t.Errorf("%d resolve requests for %d old URLs", n, len(old))
	}
	cache.Clear()
	counter.n.Store(0)

	origin, _ := legacy.NewOrigin(migratetest.URLPrefix, migratetest.KeyPrefix)
	m := &migrate.Migrator{Service: env.Service, ClinicID: migratetest.Clinic, Origin: origin, Source: src,
		Copier: migrate.StreamCopier{Source: src, Blobs: env.Blobs.(migrate.Blobs)}, RunID: "mg-client"}
	r, err := legacy.NewReader(bytes.NewReader(lib.Manifest()), legacy.JSONL)
	if err != nil {
		t.Fatal(err)
	}
	if sum, err := m.Run(ctx, r, migrate.RunOptions{}); err != nil || !sum.OK() {
		t.Fatalf("migration: %+v %v", sum, err)
	}

	// After: each old URL (in another case, with the old CDN's query) shows
	// its image's bytes through a signed URL.
	for pass := range 2 {
		for _, img := range old {
			u, _ := url.Parse(img.URL)
			asHeld := "https://" + strings.ToUpper(u.Host) + u.Path + "?v=3"
			signed, err := cache.Resolve(ctx, asHeld)
			if err != nil {
				t.Fatalf("after the migration, %s: %v", asHeld, err)
			}
			if signed == img.URL || strings.HasPrefix(signed, migratetest.URLPrefix) {
				t.Fatalf("after the migration, %s resolves to the old URL", img.URL)
			}
			got, err := pro.Fetch(ctx, signed)
			if err != nil || !bytes.Equal(got, img.Data) {
				t.Fatalf("pass %d, image %s: %v (equal %v)", pass, img.ID, err, bytes.Equal(got, img.Data))
			}
		}
	}
	if n := counter.n.Load(); n != int64(len(old)) {
		t.Errorf("%d resolve requests for %d images shown twice: want one per image", n, len(old))
	}

	// A stranger's app: the old URL names nothing it may see.
	stranger := client.New(env.URL, env.Token("pro-stranger", core.RoleProfessional)).SignedURLCache(client.CacheOptions{LegacyHosts: []string{host}})
	if _, err := stranger.Resolve(ctx, old[0].URL); client.Code(err) != core.CodeNotFound {
		t.Errorf("stranger: %v, want not_found", err)
	}
	// Other https URLs are not the server's business.
	if got, err := cache.Resolve(ctx, "https://example.com/a.png"); err != nil || got != "https://example.com/a.png" {
		t.Errorf("another host: %q %v, want it unchanged", got, err)
	}
}
