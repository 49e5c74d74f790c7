package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/runtime/embedded"
)

// ledger is what a load was told: every answer that was a 2xx, with
// whether it came before the backup began.
type ledger struct {
	mu      sync.Mutex
	started atomic.Bool // the backup has begun
	// stopping: the server was told to stop, so a request that gets no
	// answer at all is expected; it ends its client.
	stopping atomic.Bool
	photos   map[string]ackedPhoto
	shares   map[string]ackedShare
	revokes  map[string]bool   // share → revoke acknowledged before the backup
	deletes  map[string]bool   // photo → delete acknowledged before the backup
	views    map[string][]view // share → keys issued
	bad      []string          // 5xx and other answers no client should get
}

type ackedPhoto struct {
	patient string
	plain   []byte
	before  bool
}

type ackedShare struct {
	patient, pro string
	photos       []string
	before       bool
}

type view struct {
	keyID  string
	before bool
}

// before reports whether an answer received now came before the backup
// began: read after the answer, so true means the server had committed it
// before the backup started.
func (l *ledger) before() bool { return !l.started.Load() }

// problem records a failed call, unless it got no answer while the server
// is stopping; quit tells the client to end.
func (l *ledger) problem(what string, err error) (quit bool) {
	var e *client.APIError
	if !asAPIError(err, &e) && l.stopping.Load() {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bad = append(l.bad, fmt.Sprintf("%s: %v", what, err))
	return false
}

// unexpected notes err as a problem unless the load expects it
// (refusedByDesign), and reports whether the load must quit.
func (l *ledger) unexpected(what string, err error) (quit bool) {
	return !refusedByDesign(err) && l.problem(what, err)
}

// refusedByDesign reports an error that the load expects sometimes: 410
// for a view on a revoked or exhausted share, or a race with a revoke.
func refusedByDesign(err error) bool {
	var e *client.APIError
	return asAPIError(err, &e) && e.Status == 410
}

func asAPIError(err error, e **client.APIError) bool {
	for err != nil {
		if x, ok := err.(*client.APIError); ok {
			*e = x
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// runLoad drives patients (uploads, deletes, shares, revokes) and professionals
// (opens and views) against url until stop is closed, recording every 2xx.
func runLoad(ctx context.Context, urlBase string, mint func(string, core.Role) string, l *ledger, acks *atomic.Int64, stop <-chan struct{}) *sync.WaitGroup {
	const patients, pros = 4, 3
	var wg sync.WaitGroup
	for p := range patients {
		wg.Go(func() {
			pid := fmt.Sprint("load-patient-", p)
			c := client.New(urlBase, mint(pid, core.RolePatient))
			var pending []string
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				img := []byte(fmt.Sprintf("%s photo %d %s", pid, i, strings.Repeat("·", 200*(i%5))))
				id, err := c.UploadPhoto(ctx, "CROWN", "image/jpeg", img, nil)
				if err != nil {
					if l.problem("upload", err) {
						return
					}
					continue
				}
				l.mu.Lock()
				l.photos[id] = ackedPhoto{patient: pid, plain: img, before: l.before()}
				l.mu.Unlock()
				acks.Add(1)
				if i%5 == 4 { // now and then, delete the photo just made
					if err := c.Do(ctx, "DELETE", "/v1/photos/"+id, nil, nil, nil); err != nil {
						if l.problem("delete photo", err) {
							return
						}
						continue
					}
					l.mu.Lock()
					l.deletes[id] = l.before()
					l.mu.Unlock()
					acks.Add(1)
					continue
				}
				pending = append(pending, id)
				if len(pending) < 2 {
					continue
				}
				pro := fmt.Sprint("load-pro-", (p+i)%pros)
				sh, err := c.CreateShare(ctx, client.ShareRequest{ProfessionalID: pro, PhotoIDs: pending, ExpiresIn: 3600, MaxViews: 4}, "")
				if err != nil {
					if l.problem("create share", err) {
						return
					}
					continue
				}
				l.mu.Lock()
				l.shares[sh.ShareID] = ackedShare{patient: pid, pro: pro, photos: pending, before: l.before()}
				l.mu.Unlock()
				acks.Add(1)
				pending = nil
				if i%4 == 3 { // every other share: revoke it at once
					err := c.RevokeShare(ctx, sh.ShareID)
					switch {
					case err == nil:
						l.mu.Lock()
						l.revokes[sh.ShareID] = l.before()
						l.mu.Unlock()
					case l.unexpected("revoke", err):
						return
					}
				}
			}
		})
	}
	for v := range pros {
		wg.Go(func() {
			pro := fmt.Sprint("load-pro-", v)
			c := client.New(urlBase, mint(pro, core.RoleProfessional))
			opened := map[string]bool{}
			for {
				select {
				case <-stop:
					return
				default:
				}
				var list struct {
					Items []client.Share `json:"items"`
				}
				if err := c.Do(ctx, "GET", "/v1/shares?limit=100", nil, nil, &list); err != nil {
					if l.problem("list shares", err) {
						return
					}
					continue
				}
				viewed := false
				for _, sh := range list.Items {
					if opened[sh.ShareID] || sh.Status != "active" {
						continue
					}
					opened[sh.ShareID] = true
					dev, _ := client.NewDevice([]uint16{0x0020, 0x0010, 0x647a}[len(opened)%3])
					acc, err := c.OpenAccess(ctx, sh.ShareID, dev)
					if err != nil {
						if l.unexpected("open access", err) {
							return
						}
						continue
					}
					for _, ph := range sh.PhotoIDs {
						k, err := c.IssueKey(ctx, acc.AccessID, ph)
						if err != nil {
							if l.unexpected("issue key", err) {
								return
							}
							break
						}
						l.mu.Lock()
						l.views[sh.ShareID] = append(l.views[sh.ShareID], view{keyID: k.KeyID, before: l.before()})
						l.mu.Unlock()
						acks.Add(1)
						viewed = true
						u, err := c.ClaimKey(ctx, k.KeyID)
						if err != nil {
							if l.unexpected("claim key", err) {
								return
							}
							break
						}
						if _, err := c.Fetch(ctx, u.URL); err != nil {
							if l.problem("fetch", err) {
								return
							}
						}
					}
				}
				if !viewed {
					time.Sleep(5 * time.Millisecond) // nothing new shared yet
				}
			}
		})
	}
	return &wg
}

// waitAcks waits until the load has n more acknowledged writes than from.
func waitAcks(t *testing.T, acks *atomic.Int64, n int64, l *ledger) {
	t.Helper()
	for acks.Load() < n {
		l.mu.Lock()
		bad := len(l.bad)
		l.mu.Unlock()
		if bad > 0 {
			return // reported by the caller
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestBackupDuringLoadRestores runs `medshare serve`, drives uploads,
// deletes, shares, revokes and views at it from seven clients, takes `medshare
// backup` in the middle through the admin socket, lets the load go on, then
// restores the archive into a new directory, serves it, and checks it
// against what the load was told: every photo, share, revoke, delete and
// view acknowledged before the backup began is there; every photo the
// restored store holds decrypts; every audit chain verifies and holds the
// records of those writes.
func TestBackupDuringLoadRestores(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv := launch(t, dir, nil, "--jobs=false")
	_, mint := minter(t, filepath.Join(dir, embedded.TokenKeyFile))
	l := &ledger{photos: map[string]ackedPhoto{}, shares: map[string]ackedShare{}, revokes: map[string]bool{}, deletes: map[string]bool{}, views: map[string][]view{}}
	var acks atomic.Int64
	stop := make(chan struct{})
	wg := runLoad(ctx, srv.url, mint, l, &acks, stop)

	waitAcks(t, &acks, 60, l)
	archive := filepath.Join(t.TempDir(), "medshare.backup")
	var out, errOut bytes.Buffer
	l.started.Store(true)
	berr := run(ctx, []string{"backup", "--data-dir", dir, "--out", archive}, nil, &out, &errOut)
	afterBackup := acks.Load()
	if berr == nil {
		waitAcks(t, &acks, afterBackup+20, l) // the load goes on after it
	}
	close(stop)
	wg.Wait()
	if berr != nil {
		t.Fatalf("backup: %v\n%s", berr, errOut.String())
	}
	if len(l.bad) > 0 {
		t.Fatalf("the load got answers it should not have:\n%s", strings.Join(l.bad, "\n"))
	}
	var sum backupSummary
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
		t.Fatalf("backup printed %s: %v", out.String(), err)
	}
	if sum.Online == nil || !*sum.Online || sum.Objects == 0 {
		t.Fatalf("backup summary %+v: want an online backup with objects", sum)
	}
	if fi, err := os.Stat(archive); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("archive: %v %v, want mode 0600", fi, err)
	}
	if err := srv.stop(t); err != nil {
		t.Fatalf("serve: %v", err)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	out.Reset()
	if err := run(ctx, []string{"restore", "--from", archive, "--data-dir", restored}, nil, &out, io.Discard); err != nil {
		t.Fatalf("restore: %v", err)
	}
	srv2 := launch(t, restored, nil, "--jobs=false")

	var nPhotos, nShares, nViews, nRevokes, nDeletes, nChecked int
	byPatient := map[string][]string{} // photos acknowledged before, per patient
	for id, p := range l.photos {
		byPatient[p.patient] = append(byPatient[p.patient], id)
	}
	for patient, ids := range byPatient {
		c := client.New(srv2.url, mint(patient, core.RolePatient))
		got := map[string]string{}
		for it := range pages[struct {
			PhotoID string `json:"photo_id"`
			Status  string `json:"status"`
		}](t, c, "/v1/photos") {
			got[it.PhotoID] = it.Status
		}
		for _, id := range ids {
			deleted, wasDeleted := l.deletes[id]
			switch {
			case wasDeleted && deleted:
				nDeletes++
				if _, ok := got[id]; ok {
					t.Errorf("%s: photo %s, deleted before the backup, is in the restored store", patient, id)
				}
			case l.photos[id].before && !wasDeleted:
				nPhotos++
				if got[id] != "ready" {
					t.Errorf("%s: photo %s acknowledged before the backup is %q in the restored store", patient, id, got[id])
				}
			}
		}
		audit := map[string]bool{} // action + " " + resource id, successes only
		for rec := range pages[struct {
			Action     string `json:"action"`
			ResourceID string `json:"resource_id"`
			Outcome    string `json:"outcome"`
		}](t, c, "/v1/audit") {
			if rec.Outcome == "success" {
				audit[rec.Action+" "+rec.ResourceID] = true
			}
		}
		var v struct {
			Valid   bool   `json:"valid"`
			Records uint64 `json:"records"`
		}
		if err := c.Do(ctx, "GET", "/v1/audit/verify", nil, nil, &v); err != nil || !v.Valid || v.Records == 0 {
			t.Errorf("%s: restored audit chain: %+v, %v; want valid", patient, v, err)
		}
		for _, id := range ids {
			if l.photos[id].before && !audit["photo.finalize "+id] {
				t.Errorf("%s: restored chain lacks photo.finalize of %s", patient, id)
			}
		}
		for id, sh := range l.shares {
			if sh.patient != patient || !sh.before {
				continue
			}
			nShares++
			got, err := c.GetShare(ctx, id)
			if err != nil {
				t.Errorf("share %s acknowledged before the backup: %v", id, err)
				continue
			}
			if !audit["share.create "+id] {
				t.Errorf("%s: restored chain lacks share.create of %s", patient, id)
			}
			if l.revokes[id] {
				nRevokes++
				if got.Status != "revoked" || !audit["share.revoke "+id] {
					t.Errorf("share %s revoked before the backup: status %q, recorded %v", id, got.Status, audit["share.revoke "+id])
				}
			}
			var before, all int
			for _, vw := range l.views[id] {
				all++
				if vw.before {
					before++
					nViews++
					if !audit["key.issue "+vw.keyID] {
						t.Errorf("share %s: restored chain lacks key.issue of %s", id, vw.keyID)
					}
				}
			}
			if got.ViewsUsed < before || got.ViewsUsed > all {
				t.Errorf("share %s: restored views_used %d, want between %d (acknowledged before) and %d (all)", id, got.ViewsUsed, before, all)
			}
		}
		// Every photo the restored store calls ready decrypts, whenever it
		// was made or deleted: the snapshot's objects are all in the archive,
		// and the key ring came back. A fresh share, so that no view of the
		// load is spent.
		var ready []string
		for id, st := range got {
			if st != "ready" {
				continue
			}
			if _, ok := l.photos[id]; !ok {
				t.Errorf("%s: restored photo %s was never acknowledged", patient, id)
				continue
			}
			ready = append(ready, id)
		}
		for i := 0; i < len(ready); i += 50 {
			chunk := ready[i:min(i+50, len(ready))]
			sh, err := c.CreateShare(ctx, client.ShareRequest{ProfessionalID: "checker", PhotoIDs: chunk, ExpiresIn: 3600, MaxViews: len(chunk)}, "")
			if err != nil {
				t.Fatalf("share to check: %v", err)
			}
			pro := client.New(srv2.url, mint("checker", core.RoleProfessional))
			dev, _ := client.NewDevice(0x0020)
			acc, err := pro.OpenAccess(ctx, sh.ShareID, dev)
			if err != nil {
				t.Fatalf("open to check: %v", err)
			}
			for _, id := range chunk {
				nChecked++
				plain, err := pro.ViewPhoto(ctx, dev, acc.AccessID, id)
				if err != nil {
					t.Errorf("view restored photo %s: %v", id, err)
				} else if !bytes.Equal(plain, l.photos[id].plain) {
					t.Errorf("restored photo %s decrypts to other bytes", id)
				}
			}
		}
	}
	t.Logf("acknowledged before the backup: %d photos kept, %d deleted, %d shares, %d revokes, %d views; after it: %d more writes; archive: %d files, %d objects, %d bytes; %d restored photos decrypted",
		nPhotos, nDeletes, nShares, nRevokes, nViews, acks.Load()-afterBackup, sum.Files, sum.Objects, sum.Bytes, nChecked)
	if nPhotos == 0 || nShares == 0 || nViews == 0 || nRevokes == 0 || nDeletes == 0 {
		t.Errorf("the load acknowledged too little before the backup to check it")
	}
	if err := srv2.stop(t); err != nil {
		t.Errorf("serve the restored directory: %v", err)
	}
}

// pages yields every item of a paginated list.
func pages[T any](t *testing.T, c *client.Client, path string) func(func(T) bool) {
	return func(yield func(T) bool) {
		cursor := ""
		for {
			var page struct {
				Items      []T    `json:"items"`
				NextCursor string `json:"next_cursor"`
			}
			q := "?limit=100"
			if cursor != "" {
				q += "&cursor=" + url.QueryEscape(cursor)
			}
			if err := c.Do(context.Background(), "GET", path+q, nil, nil, &page); err != nil {
				t.Fatalf("list %s: %v", path, err)
			}
			for _, it := range page.Items {
				if !yield(it) {
					return
				}
			}
			if page.NextCursor == "" {
				return
			}
			cursor = page.NextCursor
		}
	}
}

// TestBackupAndRestoreCommands: the refusals, and an offline backup of a
// stopped server's directory.
func TestBackupAndRestoreCommands(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv := launch(t, dir, nil, "--demo", "--jobs=false")
	if err := srv.stop(t); err != nil {
		t.Fatal(err)
	}
	existing := filepath.Join(t.TempDir(), "there")
	os.WriteFile(existing, []byte("keep me"), 0o600)
	offline := filepath.Join(t.TempDir(), "offline.backup")
	nonEmpty := t.TempDir()
	os.WriteFile(filepath.Join(nonEmpty, "x"), nil, 0o600)

	for _, c := range []struct {
		name string
		args []string
		want string // in the error; "" for success
	}{
		{"backup without --out", []string{"backup", "--data-dir", dir}, "--out is required"},
		{"backup over a file", []string{"backup", "--data-dir", dir, "--out", existing}, "never overwrites"},
		{"backup of a directory that is not one", []string{"backup", "--data-dir", t.TempDir(), "--out", filepath.Join(t.TempDir(), "b")}, "not a MedShare data directory"},
		{"backup of a stopped server", []string{"backup", "--data-dir", dir, "--out", offline}, ""},
		{"restore without --from", []string{"restore", "--data-dir", t.TempDir()}, "--from is required"},
		{"restore of a file that is not a backup", []string{"restore", "--from", existing, "--data-dir", filepath.Join(t.TempDir(), "d")}, "not a valid MedShare backup"},
		{"restore into a non-empty directory", []string{"restore", "--from", offline, "--data-dir", nonEmpty}, "not empty"},
		{"restore forced into it", []string{"restore", "--from", offline, "--data-dir", nonEmpty, "--force"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(ctx, c.args, nil, &out, io.Discard)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("err = %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
			if c.want == "" {
				var s backupSummary
				if err := json.Unmarshal(out.Bytes(), &s); err != nil || s.Files < 4 {
					t.Errorf("printed %s (%v), want a summary of at least 4 files", out.String(), err)
				}
			}
		})
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Errorf("the existing file was changed")
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(offline), ".*partial*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
	// The demo identities work on the forced restore.
	srv = launch(t, nonEmpty, nil, "--jobs=false")
	var tb bytes.Buffer
	if err := run(ctx, []string{"token", "--sub", DemoClinic, "--role", "clinic", "--data-dir", nonEmpty}, nil, &tb, io.Discard); err != nil {
		t.Fatal(err)
	}
	if st, body := call(t, "PUT", srv.url+"/v1/appointments/"+DemoAppointment, strings.TrimSpace(tb.String()), map[string]any{
		"patient_id": DemoPatient, "professional_ids": []string{DemoProfessional},
		"starts_at": time.Now().UTC().Format(time.RFC3339), "ends_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
	}, nil); st != 200 {
		t.Errorf("the restored appointment is not the demo clinic's: %d %s", st, body)
	}
}
