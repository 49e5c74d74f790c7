package embedded_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/runtime/backup"
	"github.com/medshare/medshare/shared/runtime/embedded"
)

// served is a runtime on a data directory behind a real HTTP server.
type served struct {
	rt  *embedded.Runtime
	url string
}

func serveDir(t *testing.T, dir string) *served {
	t.Helper()
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	rt, err := embedded.Open(embedded.Options{DataDir: dir, PublicURL: srv.URL})
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	t.Cleanup(func() { rt.Close() })
	h = rt.HTTPHandler(slog.New(slog.DiscardHandler))
	return &served{rt: rt, url: srv.URL}
}

func (s *served) client(t *testing.T, sub string, role core.Role) *client.Client {
	t.Helper()
	tok, err := s.rt.Auth.Mint(sub, role, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return client.New(s.url, tok)
}

func listPhotos(t *testing.T, c *client.Client) map[string]string {
	t.Helper()
	var out struct {
		Items []struct {
			PhotoID string `json:"photo_id"`
			Status  string `json:"status"`
		} `json:"items"`
	}
	if err := c.Do(context.Background(), "GET", "/v1/photos?limit=100", nil, nil, &out); err != nil {
		t.Fatalf("list photos: %v", err)
	}
	m := map[string]string{}
	for _, it := range out.Items {
		m[it.PhotoID] = it.Status
	}
	return m
}

// TestBackupKeepsWhatTheSnapshotNames: a photo deleted (object and record)
// after the store's snapshot and before the objects are copied is restored
// whole, readable with the restored keys; a photo made after the snapshot
// is not in the restored store.
func TestBackupKeepsWhatTheSnapshotNames(t *testing.T) {
	ctx := context.Background()
	a := serveDir(t, t.TempDir())
	pat := a.client(t, "pat-1", core.RolePatient)
	photos := map[string][]byte{}
	var ids []string
	for i := range 3 {
		img := []byte(fmt.Sprintf("photo %d %s", i, strings.Repeat("x", 1000*i)))
		id, err := pat.UploadPhoto(ctx, "CROWN", "image/jpeg", img, nil)
		if err != nil {
			t.Fatal(err)
		}
		photos[id] = img
		ids = append(ids, id)
	}
	var late string
	embedded.SetAfterSnapshot(t, func() {
		if err := pat.Do(ctx, "DELETE", "/v1/photos/"+ids[0], nil, nil, nil); err != nil {
			t.Errorf("delete after the snapshot: %v", err)
		}
		id, err := pat.UploadPhoto(ctx, "FRONT", "image/jpeg", []byte("after the snapshot"), nil)
		if err != nil {
			t.Errorf("upload after the snapshot: %v", err)
		}
		late = id
	})
	var archive bytes.Buffer
	m, err := a.rt.Backup(ctx, &archive)
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	if got := listPhotos(t, pat); got[ids[0]] != "" || got[late] != "ready" {
		t.Fatalf("live store after the hook: %v, want %s gone and %s ready", got, ids[0], late)
	}
	for _, name := range append([]string{embedded.DBFile}, embedded.KeyFiles...) {
		if !slices.ContainsFunc(m.Files, func(f backup.File) bool { return f.Path == name }) {
			t.Errorf("the manifest lacks %s", name)
		}
	}

	dir := filepath.Join(t.TempDir(), "restored")
	res, err := embedded.Restore(bytes.NewReader(archive.Bytes()), dir, false, time.Now())
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if res.Replaced != "" || len(res.Manifest.Files) != len(m.Files) {
		t.Errorf("restore result %+v", res)
	}
	b := serveDir(t, dir)
	pat = b.client(t, "pat-1", core.RolePatient)
	got := listPhotos(t, pat)
	for _, id := range ids {
		if got[id] != "ready" {
			t.Errorf("restored photo %s: status %q, want ready (in the snapshot)", id, got[id])
		}
	}
	if _, ok := got[late]; ok {
		t.Errorf("restored store has %s, made after the snapshot", late)
	}
	// Every restored photo decrypts: its object and the key ring came back.
	sh, err := pat.CreateShare(ctx, client.ShareRequest{ProfessionalID: "pro-1", PhotoIDs: ids, ExpiresIn: 3600, MaxViews: 3}, "")
	if err != nil {
		t.Fatal(err)
	}
	pro := b.client(t, "pro-1", core.RoleProfessional)
	dev, err := client.NewDevice(0x0020)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := pro.OpenAccess(ctx, sh.ShareID, dev)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		plain, err := pro.ViewPhoto(ctx, dev, acc.AccessID, id)
		if err != nil {
			t.Fatalf("view restored photo %s: %v", id, err)
		}
		if !bytes.Equal(plain, photos[id]) {
			t.Errorf("restored photo %s decrypts to other bytes", id)
		}
	}
	var v struct {
		Valid bool `json:"valid"`
	}
	if err := pat.Do(ctx, "GET", "/v1/audit/verify", nil, nil, &v); err != nil || !v.Valid {
		t.Errorf("restored audit chain: valid=%v err=%v", v.Valid, err)
	}
}

// TestRestoreRefuses: a non-empty directory needs force, a running server's
// directory is never replaced, and a bad archive changes nothing.
func TestRestoreRefuses(t *testing.T) {
	ctx := context.Background()
	src := serveDir(t, t.TempDir())
	if _, err := src.client(t, "pat-1", core.RolePatient).UploadPhoto(ctx, "CROWN", "image/jpeg", []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	var good bytes.Buffer
	if _, err := src.rt.Backup(ctx, &good); err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(good.Bytes())
	bad[len(bad)/3] ^= 0xff

	entries := func(dir string) []string {
		es, _ := os.ReadDir(dir)
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		return names
	}

	for _, c := range []struct {
		name    string
		serve   bool // a server runs on the directory; else it holds a file
		archive []byte
		force   bool
		refused func(error) bool
		want    string
	}{
		{"non-empty without force", false, good.Bytes(), false,
			func(err error) bool { return errors.Is(err, embedded.ErrNotEmpty) }, "ErrNotEmpty"},
		{"a running server's directory", true, good.Bytes(), true,
			func(err error) bool { return err != nil && strings.Contains(err.Error(), "server is running") }, "a refusal naming the running server"},
		{"a bad archive", false, bad, true,
			func(err error) bool { return errors.Is(err, backup.ErrCorrupt) }, "ErrCorrupt"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.serve {
				serveDir(t, dir)
			} else {
				os.WriteFile(filepath.Join(dir, "something"), []byte("mine"), 0o600)
			}
			before := entries(dir)
			_, err := embedded.Restore(bytes.NewReader(c.archive), dir, c.force, time.Now())
			if !c.refused(err) {
				t.Fatalf("err = %v, want %s", err, c.want)
			}
			if got := entries(dir); !slices.Equal(got, before) {
				t.Errorf("directory changed from %v to %v, want it untouched", before, got)
			}
		})
	}
	t.Run("forced over a stopped server's directory", func(t *testing.T) {
		dir := t.TempDir()
		old := serveDir(t, dir)
		old.rt.Close()
		at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
		res, err := embedded.Restore(bytes.NewReader(good.Bytes()), dir, true, at)
		if err != nil {
			t.Fatal(err)
		}
		want := filepath.Join(dir, ".replaced-20261127T120000Z")
		if res.Replaced != want {
			t.Errorf("Replaced = %q, want %q", res.Replaced, want)
		}
		if _, err := os.Stat(filepath.Join(want, embedded.DBFile)); err != nil {
			t.Errorf("the previous store was not kept: %v", err)
		}
		got := listPhotos(t, serveDir(t, dir).client(t, "pat-1", core.RolePatient))
		if len(got) != 1 {
			t.Errorf("restored photos %v, want the one of the backup", got)
		}
	})
}

// TestAdminSocket: a backup through the socket of a running runtime; one at
// a time; no socket is ErrNoServer; a directory others can enter gets none.
func TestAdminSocket(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := serveDir(t, dir)
	if _, err := s.client(t, "pat-1", core.RolePatient).UploadPhoto(ctx, "CROWN", "image/jpeg", []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if err := embedded.FetchBackup(ctx, dir, &bytes.Buffer{}); !errors.Is(err, embedded.ErrNoServer) {
		t.Fatalf("no socket: err = %v, want ErrNoServer", err)
	}
	ln, err := embedded.ListenAdmin(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want os.FileMode
	}{{embedded.AdminSocket, 0o600}, {filepath.Dir(embedded.AdminSocket), 0o700}} {
		fi, err := os.Stat(filepath.Join(dir, c.path))
		if err != nil || fi.Mode().Perm() != c.want {
			t.Fatalf("%s: %v %v, want mode %v", c.path, fi, err, c.want)
		}
	}
	srv := &http.Server{Handler: s.rt.AdminHandler(slog.New(slog.DiscardHandler))}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	var second error
	embedded.SetAfterSnapshot(t, func() {
		second = embedded.FetchBackup(ctx, dir, &bytes.Buffer{})
	})
	var archive bytes.Buffer
	if err := embedded.FetchBackup(ctx, dir, &archive); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if second == nil || !strings.Contains(second.Error(), "409") {
		t.Errorf("a backup during a backup: %v, want 409", second)
	}
	m, err := backup.Verify(bytes.NewReader(archive.Bytes()), embedded.ArchiveName)
	if err != nil {
		t.Fatalf("verify the fetched archive: %v", err)
	}
	if len(m.Files) != 5 { // store, three keys, one object
		t.Errorf("archive holds %d files, want 5: %+v", len(m.Files), m.Files)
	}

	srv.Close() // the socket file goes with the listener
	if err := embedded.FetchBackup(ctx, dir, &bytes.Buffer{}); !errors.Is(err, embedded.ErrNoServer) {
		t.Errorf("after close: err = %v, want ErrNoServer", err)
	}

	// A directory of the socket that others may enter is made private; one
	// that is a link is refused.
	open := t.TempDir()
	os.Mkdir(filepath.Join(open, "run"), 0o755)
	os.Chmod(filepath.Join(open, "run"), 0o755)
	ln, err = embedded.ListenAdmin(open)
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if fi, _ := os.Stat(filepath.Join(open, "run")); fi.Mode().Perm() != 0o700 {
		t.Errorf("run directory mode %v, want 0700", fi.Mode().Perm())
	}
	linked := t.TempDir()
	os.Symlink(t.TempDir(), filepath.Join(linked, "run"))
	if _, err := embedded.ListenAdmin(linked); err == nil {
		t.Errorf("ListenAdmin through a symbolic link: accepted")
	}
}

func TestArchiveName(t *testing.T) {
	h := strings.Repeat("ab", 32)
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"medshare.db", true},
		{"master.key", true},
		{"blob-signing.key", true},
		{"token-signing-key.pem", true},
		{"blobs/objects/ab/" + h, true},
		{"blobs/objects/cd/" + h, false}, // not its own directory
		{"blobs/objects/ab/" + h[:63], false},
		{"blobs/objects/AB/" + strings.ToUpper(h), false},
		{"demo.env", false},
		{"admin.sock", false},
		{"blobs/.pin-1/ab/" + h, false},
	} {
		if got := embedded.ArchiveName(c.name); got != c.ok {
			t.Errorf("ArchiveName(%q) = %v, want %v", c.name, got, c.ok)
		}
	}
}
