package jobs_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/testenv"
	"github.com/medshare/medshare/shared/jobs"
	"github.com/medshare/medshare/shared/notify/localnotify"
)

const (
	patient = "pat-jobs"
	pro     = "pro-jobs"
)

// forEachRuntime runs test on the embedded runtime and on the AWS adapters
// against the emulators.
func forEachRuntime(t *testing.T, test func(*testing.T, *testenv.Env)) {
	forEachRuntimeWith(t, core.Config{}, test)
}

func forEachRuntimeWith(t *testing.T, cfg core.Config, test func(*testing.T, *testenv.Env)) {
	for _, rt := range testenv.Runtimes {
		t.Run(rt.Name, func(t *testing.T) { test(t, rt.Start(t, cfg)) })
	}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// run runs a job as its function and `medshare serve` do, at the service's
// clock.
func run(t *testing.T, env *testenv.Env, name string) jobs.Result {
	t.Helper()
	res, err := jobs.Run(context.Background(), env.Service, name, env.Clock.Now(), quiet)
	if err != nil {
		t.Fatalf("run %s: %v", name, err)
	}
	if res.Cleanup != nil {
		for _, e := range res.Cleanup.Errors {
			t.Errorf("cleanup item failed: %v", e)
		}
		if !res.Cleanup.Complete {
			t.Errorf("cleanup did not complete")
		}
	}
	return res
}

func digest(b []byte) []byte {
	sum := sha256.Sum256(b)
	return sum[:]
}

type cleaned struct{ Expired, Keys, Uploads, Notes int }

func counts(r jobs.Result) cleaned {
	c := r.Cleanup
	return cleaned{c.SharesExpired, c.KeysDeleted, c.UploadsAborted, c.NotificationsSent}
}

type users struct{ pat, pro *client.Client }

func usersOf(env *testenv.Env) users {
	return users{client.New(env.URL, env.Token(patient, core.RolePatient)), client.New(env.URL, env.Token(pro, core.RoleProfessional))}
}

func (u users) share(t *testing.T, expiresIn int64) (shareID, photoID string) {
	t.Helper()
	ctx := context.Background()
	id, err := u.pat.UploadPhoto(ctx, "CROWN", "image/png", []byte("a photo for the jobs"), nil)
	if err != nil {
		t.Fatal(err)
	}
	sh, err := u.pat.CreateShare(ctx, client.ShareRequest{ProfessionalID: pro, PhotoIDs: []string{id}, ExpiresIn: expiresIn, MaxViews: 20}, "")
	if err != nil {
		t.Fatal(err)
	}
	return sh.ShareID, id
}

func inboxTypes(t *testing.T, c *client.Client) []string {
	t.Helper()
	var inbox struct {
		Items []struct{ Type, ShareID string } `json:"items"`
	}
	if err := c.Do(context.Background(), "GET", "/v1/notifications", nil, nil, &inbox); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range inbox.Items {
		out = append(out, it.Type)
	}
	return out
}

type record struct {
	ActorID    string    `json:"actor_id"`
	ActorRole  string    `json:"actor_role"`
	Action     string    `json:"action"`
	ResourceID string    `json:"resource_id"`
	Outcome    string    `json:"outcome"`
	At         time.Time `json:"at"`
}

// trail is the patient's whole audit trail, read as the patient reads it.
func trail(t *testing.T, c *client.Client) []record {
	t.Helper()
	var all []record
	cursor := ""
	for {
		var page struct {
			Items      []record `json:"items"`
			NextCursor string   `json:"next_cursor"`
		}
		path := "/v1/audit?limit=100"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		if err := c.Do(context.Background(), "GET", path, nil, nil, &page); err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
}

func wantChainValid(t *testing.T, c *client.Client) {
	t.Helper()
	var v struct {
		Valid bool `json:"valid"`
	}
	if err := c.Do(context.Background(), "GET", "/v1/audit/verify", nil, nil, &v); err != nil || !v.Valid {
		t.Errorf("the patient's chain does not verify: %+v %v", v, err)
	}
}

// TestCleanupExpiresSessions: a session past its expiry is marked expired
// once, both parties are notified once, the audit trail says who did it,
// and a second run finds nothing to do.
func TestCleanupExpiresSessions(t *testing.T) { forEachRuntime(t, testCleanupExpiresSessions) }

func testCleanupExpiresSessions(t *testing.T, env *testenv.Env) {
	u := usersOf(env)
	ctx := context.Background()
	expiring, _ := u.share(t, 60)
	lasting, _ := u.share(t, 3600)
	revoked, _ := u.share(t, 60)
	if err := u.pat.RevokeShare(ctx, revoked); err != nil {
		t.Fatal(err)
	}
	if got := counts(run(t, env, "cleanup")); got != (cleaned{}) {
		t.Errorf("cleanup before anything expired: %+v, want nothing", got)
	}
	env.Clock.Advance(61 * time.Second)
	if got := counts(run(t, env, "cleanup")); got != (cleaned{Expired: 1}) {
		t.Errorf("cleanup after the expiry: %+v, want one session expired", got)
	}
	for id, want := range map[string]string{expiring: "expired", lasting: "active", revoked: "revoked"} {
		if sh, err := u.pat.GetShare(ctx, id); err != nil || sh.Status != want {
			t.Errorf("share %s: %q %v, want %s", id, sh.Status, err, want)
		}
	}
	for who, c := range map[string]*client.Client{"patient": u.pat, "professional": u.pro} {
		if got := inboxTypes(t, c); len(got) == 0 || got[0] != core.NoteSessionExpired || slices.Index(got[1:], core.NoteSessionExpired) >= 0 {
			t.Errorf("%s's inbox %v, want one session_expired, newest", who, got)
		}
	}
	var expiries []record
	for _, r := range trail(t, u.pat) {
		if r.Action == string(core.AuditShareExpire) {
			expiries = append(expiries, r)
		}
	}
	if len(expiries) != 1 || expiries[0].ActorID != core.CleanupID || expiries[0].ActorRole != string(core.RoleSystem) || expiries[0].ResourceID != expiring {
		t.Errorf("share.expire records %+v, want one by %s on %s", expiries, core.CleanupID, expiring)
	}
	wantChainValid(t, u.pat)
	// Idempotent: a second run, and a run far later, find nothing.
	if got := counts(run(t, env, "cleanup")); got != (cleaned{}) {
		t.Errorf("second cleanup: %+v, want nothing", got)
	}
	env.Clock.Advance(2 * time.Hour)
	if got := counts(run(t, env, "cleanup")); got != (cleaned{Expired: 1}) {
		t.Errorf("cleanup after the second share's expiry: %+v, want one", got)
	}
	if got := inboxTypes(t, u.pro); strings.Count(strings.Join(got, ","), core.NoteSessionExpired) != 2 {
		t.Errorf("grantee's inbox %v, want two session_expired", got)
	}
}

// TestCleanupConcurrentRuns: runs that overlap (a slow run and the next
// schedule) expire each session once, notify once, and record once.
func TestCleanupConcurrentRuns(t *testing.T) { forEachRuntime(t, testCleanupConcurrentRuns) }

func testCleanupConcurrentRuns(t *testing.T, env *testenv.Env) {
	u := usersOf(env)
	const sessions = 6
	var ids []string
	for range sessions {
		id, _ := u.share(t, 60)
		ids = append(ids, id)
	}
	env.Clock.Advance(61 * time.Second)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := env.Service.Cleanup(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			for _, e := range res.Errors {
				t.Errorf("cleanup item failed: %v", e)
			}
			mu.Lock()
			total += res.SharesExpired
			mu.Unlock()
		}()
	}
	wg.Wait()
	if total != sessions {
		t.Errorf("%d sessions expired by 8 concurrent runs, want %d", total, sessions)
	}
	n := 0
	for _, r := range trail(t, u.pat) {
		if r.Action == string(core.AuditShareExpire) {
			n++
		}
	}
	if n != sessions {
		t.Errorf("%d share.expire records, want %d", n, sessions)
	}
	if got := inboxTypes(t, u.pro); strings.Count(strings.Join(got, ","), core.NoteSessionExpired) != sessions {
		t.Errorf("grantee's inbox %v, want %d session_expired", got, sessions)
	}
	wantChainValid(t, u.pat)
}

// TestCleanupDeletesExpiredKeys: an expired key is deleted (its claim is
// then not found), an unexpired one is left and still claimable.
func TestCleanupDeletesExpiredKeys(t *testing.T) { forEachRuntime(t, testCleanupDeletesExpiredKeys) }

func testCleanupDeletesExpiredKeys(t *testing.T, env *testenv.Env) {
	u := usersOf(env)
	ctx := context.Background()
	sh, photo := u.share(t, 3600)
	dev, _ := client.NewDevice(core.KEMX25519)
	a, err := u.pro.OpenAccess(ctx, sh, dev)
	if err != nil {
		t.Fatal(err)
	}
	old, err := u.pro.IssueKey(ctx, a.AccessID, photo)
	if err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(core.MaxKeyTTL + time.Second)
	fresh, err := u.pro.IssueKey(ctx, a.AccessID, photo)
	if err != nil {
		t.Fatal(err)
	}
	if got := counts(run(t, env, "cleanup")); got != (cleaned{Keys: 1}) {
		t.Errorf("cleanup: %+v, want one key deleted", got)
	}
	if _, err := env.Store.GetKey(ctx, old.KeyID); core.KindOf(err) != core.KindNotFound {
		t.Errorf("expired key after cleanup: %v, want not found", err)
	}
	if _, err := u.pro.ClaimKey(ctx, old.KeyID); client.Code(err) != core.CodeNotFound {
		t.Errorf("claim of the deleted key: %v, want not_found", err)
	}
	if _, err := u.pro.ClaimKey(ctx, fresh.KeyID); err != nil {
		t.Errorf("claim of the unexpired key: %v", err)
	}
}

// TestCleanupAbortsAbandonedUploads: a photo and a chat image left PENDING
// past their window lose their object and their record; finalized ones and
// ones still in their window stay.
func TestCleanupAbortsAbandonedUploads(t *testing.T) {
	forEachRuntime(t, testCleanupAbortsAbandonedUploads)
}

func testCleanupAbortsAbandonedUploads(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	u := usersOf(env)
	ready, err := u.pat.UploadPhoto(ctx, "CROWN", "image/png", []byte("finalized"), nil)
	if err != nil {
		t.Fatal(err)
	}
	stage := func(body map[string]any, path string) (string, string) {
		var out struct {
			PhotoID string        `json:"photo_id"`
			ImageID string        `json:"image_id"`
			Upload  client.Upload `json:"upload"`
		}
		if err := u.pat.Do(ctx, "POST", path, nil, body, &out); err != nil {
			t.Fatal(err)
		}
		data := make([]byte, body["size"].(int))
		if err := u.pat.Send(ctx, out.Upload, data); err != nil {
			t.Fatal(err)
		}
		return out.PhotoID, out.ImageID
	}
	zeros := func(n int) []byte { return digest(make([]byte, n)) }
	photo, _ := stage(map[string]any{"angle": "CROWN", "content_type": "image/jpeg", "size": 100, "sha256": zeros(100), "data_key": make([]byte, 32)}, "/v1/photos")
	clinic := client.New(env.URL, env.Token("clinic-jobs", core.RoleClinic))
	now := env.Clock.Now()
	if err := clinic.Do(ctx, "PUT", "/v1/appointments/appt-jobs", nil, map[string]any{
		"patient_id": patient, "professional_ids": []string{pro}, "starts_at": now, "ends_at": now.Add(time.Hour),
	}, nil); err != nil {
		t.Fatal(err)
	}
	_, image := stage(map[string]any{"appointment_id": "appt-jobs", "content_type": "image/png", "size": 200, "sha256": zeros(200)}, "/api/chat-images")

	if got := counts(run(t, env, "cleanup")); got != (cleaned{}) {
		t.Errorf("cleanup inside the upload window: %+v, want nothing", got)
	}
	env.Clock.Advance(core.DefaultUploadTTL + time.Second)
	if got := counts(run(t, env, "cleanup")); got != (cleaned{Uploads: 2}) {
		t.Errorf("cleanup after the window: %+v, want two uploads aborted", got)
	}
	if _, err := env.Store.GetPhoto(ctx, patient, photo); core.KindOf(err) != core.KindNotFound {
		t.Errorf("abandoned photo record: %v, want not found", err)
	}
	if _, err := env.Store.GetChatImage(ctx, image); core.KindOf(err) != core.KindNotFound {
		t.Errorf("abandoned chat image record: %v, want not found", err)
	}
	for _, key := range []string{core.PhotoObjectKey(patient, photo), core.ChatImage{ID: image}.ObjectKey()} {
		if _, err := env.Blobs.Stat(ctx, key); core.KindOf(err) != core.KindNotFound {
			t.Errorf("abandoned object %s: %v, want not found", key, err)
		}
	}
	if _, err := env.Store.GetPhoto(ctx, patient, ready); err != nil {
		t.Errorf("finalized photo: %v", err)
	}
	if _, err := env.Blobs.Stat(ctx, core.PhotoObjectKey(patient, ready)); err != nil {
		t.Errorf("finalized photo's object: %v", err)
	}
	if err := u.pat.Do(ctx, "POST", "/v1/photos/"+photo+"/finalize", nil, nil, nil); client.Code(err) != core.CodeNotFound {
		t.Errorf("finalize of the aborted photo: %v, want not_found", err)
	}
}

// failing is a notifier that never accepts.
type failing struct{}

func (failing) Publish(context.Context, core.Notification) error {
	return core.ErrUnavailable(errors.New("notifier down"), "publish")
}

// TestCleanupRetriesNotifications: a notification the notifier did not
// accept is published by the next cleanup, once, and then marked published.
func TestCleanupRetriesNotifications(t *testing.T) {
	forEachRuntime(t, testCleanupRetriesNotifications)
}

func testCleanupRetriesNotifications(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	u := usersOf(env)
	photo, err := u.pat.UploadPhoto(ctx, "CROWN", "image/png", []byte("shared while the notifier is down"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The same stores, behind a notifier that is down.
	down := core.NewService(core.Config{}, core.Deps{
		Store: env.Store, Blobs: env.Blobs, Keys: env.Keys, Notifier: failing{}, Now: env.Clock.Now,
	})
	sh, _, err := down.CreateShare(ctx, core.Caller{ID: patient, Role: core.RolePatient, RequestID: "req-down"}, core.ShareInput{
		ProfessionalID: pro, PhotoIDs: []string{photo}, ExpiresIn: time.Hour, MaxViews: 3, ScreenshotPolicy: core.ScreenshotWarn,
	})
	if err != nil {
		t.Fatal(err)
	}
	items, _, err := env.Store.ListInbox(ctx, pro, core.Page{Limit: 10})
	if err != nil || len(items) != 1 || items[0].Published || items[0].ShareID != sh.ID {
		t.Fatalf("grantee's inbox %+v %v, want one unpublished session_created", items, err)
	}
	note := items[0].ID
	// Too young to retry: the request that wrote it may still publish it.
	if got := counts(run(t, env, "cleanup")); got != (cleaned{}) {
		t.Errorf("cleanup at once: %+v, want nothing", got)
	}
	env.Clock.Advance(core.RetryNotificationsAfter + time.Second)
	var seen []core.Notification
	if env.RT != nil {
		stop := env.RT.Notifier.Subscribe(func(m localnotify.Message) { seen = append(seen, m.Notification) })
		defer stop()
	}
	if got := counts(run(t, env, "cleanup")); got != (cleaned{Notes: 1}) {
		t.Errorf("cleanup after a minute: %+v, want one notification sent", got)
	}
	it, err := env.Store.GetNotification(ctx, pro, note)
	if err != nil || !it.Published {
		t.Errorf("notification after cleanup: %+v %v, want published", it, err)
	}
	if env.RT != nil && (len(seen) != 1 || seen[0].ID != note || seen[0].Type != core.NoteSessionCreated) {
		t.Errorf("published %+v, want the session_created %s", seen, note)
	}
	if got := counts(run(t, env, "cleanup")); got != (cleaned{}) {
		t.Errorf("second cleanup: %+v, want nothing", got)
	}
}

// TestDailyReport: the report counts, per UTC day, exactly what the audit
// trail holds: sessions created, revoked (by the patient and by the
// detector) and expired, views, suspicious events and chat-image fetches. It
// is stored and published, and running it again gives the same report.
func TestDailyReport(t *testing.T) { forEachRuntime(t, testDailyReport) }

func testDailyReport(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	u := usersOf(env)
	var published []core.Notification
	if env.RT != nil {
		stop := env.RT.Notifier.Subscribe(func(m localnotify.Message) {
			if m.Notification.Type == core.NoteDailyReport {
				published = append(published, m.Notification)
			}
		})
		defer stop()
	}
	// Two sessions: one revoked by the patient; one viewed twice, reported
	// on, then auto-revoked; and a third that expires.
	revoked, _ := u.share(t, 600)
	if err := u.pat.RevokeShare(ctx, revoked); err != nil {
		t.Fatal(err)
	}
	viewed, photo := u.share(t, 600)
	dev, _ := client.NewDevice(core.KEMX25519)
	a, err := u.pro.OpenAccess(ctx, viewed, dev)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := u.pro.IssueKey(ctx, a.AccessID, photo); err != nil {
			t.Fatal(err)
		}
	}
	events := func(types ...string) map[string]any {
		var out []map[string]any
		for _, typ := range types {
			out = append(out, map[string]any{"type": typ, "at": env.Clock.Now()})
		}
		return map[string]any{"events": out}
	}
	if err := u.pro.Do(ctx, "POST", "/v1/access/"+a.AccessID+"/activity", nil, events("copy_attempt"), nil); err != nil {
		t.Fatal(err)
	}
	if err := u.pat.Do(ctx, "POST", "/v1/access/"+a.AccessID+"/activity", nil, events("unexpected_access"), nil); err != nil {
		t.Fatal(err)
	}
	u.share(t, 60)
	env.Clock.Advance(61 * time.Second)
	if got := counts(run(t, env, "cleanup")); got.Expired != 1 {
		t.Fatalf("cleanup: %+v, want one session expired", got)
	}

	// What the trail says, per UTC day (a run across midnight spans two).
	want := map[time.Time]*core.DailyReport{}
	for _, r := range trail(t, u.pat) {
		day := r.At.UTC().Truncate(24 * time.Hour)
		if want[day] == nil {
			want[day] = &core.DailyReport{Day: day}
		}
		w := want[day]
		if r.Outcome != core.OutcomeSuccess {
			continue
		}
		switch {
		case r.Action == string(core.AuditShareCreate):
			w.SharesCreated++
		case r.Action == string(core.AuditShareRevoke) && r.ActorRole == string(core.RolePatient):
			w.SharesRevoked++
		case r.Action == string(core.AuditShareRevoke) && r.ActorRole == string(core.RoleSystem):
			w.SharesAutoRevoked++
		case r.Action == string(core.AuditShareExpire):
			w.SharesExpired++
		case r.Action == string(core.AuditKeyIssue):
			w.Views++
		case r.Action == string(core.AuditActivityReport):
			w.SuspiciousEvents++
		}
	}
	var total core.DailyReport
	for day, w := range want {
		got, err := jobs.Run(ctx, env.Service, "daily-report", day.Add(24*time.Hour+15*time.Minute), quiet)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := env.Store.GetDailyReport(ctx, day)
		if err != nil {
			t.Fatalf("stored report of %s: %v", day, err)
		}
		w.GeneratedAt = stored.GeneratedAt
		if diff := cmp.Diff(*w, stored); diff != "" {
			t.Errorf("report of %s (-from the trail +stored):\n%s", day.Format(time.DateOnly), diff)
		}
		if diff := cmp.Diff(jobs.ReportOf(stored), got.Report); diff != "" {
			t.Errorf("returned report differs from the stored one:\n%s", diff)
		}
		total.SharesCreated += stored.SharesCreated
		total.SharesRevoked += stored.SharesRevoked
		total.SharesAutoRevoked += stored.SharesAutoRevoked
		total.SharesExpired += stored.SharesExpired
		total.Views += stored.Views
		total.SuspiciousEvents += stored.SuspiciousEvents
	}
	// And what the test did, whatever the days.
	if diff := cmp.Diff(core.DailyReport{ReportCounts: core.ReportCounts{SharesCreated: 3, SharesRevoked: 1, SharesAutoRevoked: 1, SharesExpired: 1, Views: 2, SuspiciousEvents: 2}}, total); diff != "" {
		t.Errorf("totals (-want +got):\n%s", diff)
	}
	if env.RT != nil && len(published) != len(want) {
		t.Errorf("%d reports published, want %d", len(published), len(want))
	}
	// Again: the same counts.
	for day := range want {
		before, _ := env.Store.GetDailyReport(ctx, day)
		if _, err := jobs.Run(ctx, env.Service, "daily-report", day.Add(24*time.Hour), quiet); err != nil {
			t.Fatal(err)
		}
		after, _ := env.Store.GetDailyReport(ctx, day)
		before.GeneratedAt, after.GeneratedAt = time.Time{}, time.Time{}
		if diff := cmp.Diff(before, after); diff != "" {
			t.Errorf("second report of %s differs:\n%s", day.Format(time.DateOnly), diff)
		}
	}
	// An empty day is all zeros, and stored.
	empty := time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC)
	got, err := jobs.Run(ctx, env.Service, "daily-report", empty.Add(24*time.Hour), quiet)
	if err != nil || got.Report.SharesCreated != 0 || got.Report.Day != "2020-01-02" {
		t.Errorf("empty day: %+v %v", got, err)
	}
}

// TestChatFetchesCounted: every chat-image signed URL handed out counts, a
// refused one does not.
func TestChatFetchesCounted(t *testing.T) { forEachRuntime(t, testChatFetchesCounted) }

func testChatFetchesCounted(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	u := usersOf(env)
	clinic := client.New(env.URL, env.Token("clinic-jobs", core.RoleClinic))
	now := env.Clock.Now()
	if err := clinic.Do(ctx, "PUT", "/v1/appointments/appt-count", nil, map[string]any{
		"patient_id": patient, "professional_ids": []string{pro}, "starts_at": now, "ends_at": now.Add(time.Hour),
	}, nil); err != nil {
		t.Fatal(err)
	}
	img := []byte("a chat image")
	var up struct {
		ImageID string        `json:"image_id"`
		Upload  client.Upload `json:"upload"`
	}
	if err := u.pat.Do(ctx, "POST", "/api/chat-images", nil, map[string]any{
		"appointment_id": "appt-count", "content_type": "image/png", "size": len(img), "sha256": digest(img),
	}, &up); err != nil {
		t.Fatal(err)
	}
	if err := u.pat.Send(ctx, up.Upload, img); err != nil {
		t.Fatal(err)
	}
	if err := u.pat.Do(ctx, "POST", "/api/chat-images/"+up.ImageID+"/finalize", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client.Client{u.pat, u.pro, u.pro} {
		if err := c.Do(ctx, "GET", "/api/chat-images/"+up.ImageID+"/signed-url", nil, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	stranger := client.New(env.URL, env.Token("pro-stranger", core.RoleProfessional))
	if err := stranger.Do(ctx, "GET", "/api/chat-images/"+up.ImageID+"/signed-url", nil, nil, nil); client.Code(err) != core.CodeNotFound {
		t.Fatalf("stranger: %v, want not_found", err)
	}
	day := env.Clock.Now().UTC().Truncate(24 * time.Hour)
	var fetched int64
	for _, d := range []time.Time{day.Add(-24 * time.Hour), day} { // the fetches may straddle midnight
		r, err := env.Service.DailyReport(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		fetched += r.ChatImageFetches
	}
	if fetched != 3 {
		t.Errorf("%d chat-image fetches counted, want 3", fetched)
	}
}

// TestNext: the in-process schedule runs cleanup every 15 minutes and the
// daily report at 00:15 UTC.
func TestNext(t *testing.T) {
	cleanup, _ := jobs.ByName("cleanup")
	report, _ := jobs.ByName("daily-report")
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		job       jobs.Job
		now, want string
	}{
		{cleanup, "2026-11-26T10:00:00Z", "2026-11-26T10:15:00Z"},
		{cleanup, "2026-11-26T10:14:59Z", "2026-11-26T10:15:00Z"},
		{cleanup, "2026-11-26T23:59:00Z", "2026-11-27T00:00:00Z"},
		{report, "2026-11-26T00:14:00Z", "2026-11-26T00:15:00Z"},
		{report, "2026-11-26T00:15:00Z", "2026-11-27T00:15:00Z"},
		{report, "2026-11-26T13:00:00Z", "2026-11-27T00:15:00Z"},
	} {
		if got := c.job.Next(at(c.now)); !got.Equal(at(c.want)) {
			t.Errorf("%s after %s: %s, want %s", c.job.Name, c.now, got.Format(time.RFC3339), c.want)
		}
	}
}

// TestSchedule: the in-process scheduler runs each job when its time comes,
// and stops with its context.
func TestSchedule(t *testing.T) {
	env := testenv.Start(t, core.Config{})
	u := usersOf(env)
	u.share(t, 60)
	// A session whose purpose holds PHI, expired by the scheduled cleanup:
	// the jobs' log lines carry ids and counts only (ARCHITECTURE §2.10).
	const phi = "Jane Roe, melanoma follow-up"
	photo, err := u.pat.UploadPhoto(context.Background(), "CROWN", "image/png", []byte("phi photo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.pat.CreateShare(context.Background(), client.ShareRequest{ProfessionalID: pro, PhotoIDs: []string{photo}, ExpiresIn: 60, MaxViews: 1, Purpose: phi}, ""); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(61 * time.Second)
	var logs testenv.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	var (
		mu    sync.Mutex
		calls = map[string]int{}
		again = make(chan string, len(jobs.Jobs))
	)
	// Each job's first wait fires at once; its second (after its run) never
	// fires and reports that the job ran.
	wait := func(j jobs.Job, d time.Duration) <-chan time.Time {
		if want := j.Next(env.Clock.Now()).Sub(env.Clock.Now()); d > want+time.Second {
			t.Errorf("%s waits %v, want about %v", j.Name, d, want)
		}
		mu.Lock()
		defer mu.Unlock()
		calls[j.Name]++
		if calls[j.Name] == 1 {
			fired := make(chan time.Time, 1)
			fired <- time.Now()
			return fired
		}
		if calls[j.Name] == 2 {
			again <- j.Name
		}
		return nil
	}
	done := make(chan struct{})
	go func() {
		jobs.Schedule(ctx, env.Service, slog.New(slog.NewJSONHandler(&logs, nil)), env.Clock.Now, wait)
		close(done)
	}()
	for range jobs.Jobs {
		<-again
	}
	cancel()
	<-done
	if strings.Contains(logs.String(), "Jane Roe") || strings.Contains(env.Logs.String(), "Jane Roe") {
		t.Errorf("a session's purpose reached the logs")
	}
	for _, j := range jobs.Jobs {
		if !strings.Contains(logs.String(), `"job":"`+j.Name+`","outcome":"ok"`) {
			t.Errorf("%s did not run:\n%s", j.Name, logs.String())
		}
	}
	if sh := inboxTypes(t, u.pro); len(sh) == 0 || sh[0] != core.NoteSessionExpired {
		t.Errorf("grantee's inbox %v: the scheduled cleanup did not expire the session", sh)
	}
	// Each job's line is a CloudWatch Embedded Metric Format record: every
	// metric its metadata names is a number on the line.
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		job, _ := rec["Job"].(string)
		if job == "" {
			continue
		}
		seen[job] = true
		var meta struct {
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		}
		raw, _ := json.Marshal(rec["_aws"])
		if err := json.Unmarshal(raw, &meta); err != nil || len(meta.CloudWatchMetrics) != 1 || meta.CloudWatchMetrics[0].Namespace != "MedShare" {
			t.Fatalf("%s: EMF metadata %s", job, raw)
		}
		names := []string{}
		for _, m := range meta.CloudWatchMetrics[0].Metrics {
			names = append(names, m.Name)
			if _, ok := rec[m.Name].(float64); !ok {
				t.Errorf("%s: metric %s is not a number on the line: %v", job, m.Name, rec[m.Name])
			}
		}
		if rec["Runs"] != 1.0 || rec["Outcome"] != "ok" || (job == "cleanup" && !slices.Contains(names, "SharesExpired")) {
			t.Errorf("%s: line %s", job, line)
		}
	}
	if len(seen) != len(jobs.Jobs) {
		t.Errorf("EMF records of %v, want every job", seen)
	}
}

func expiries(t *testing.T, c *client.Client) int {
	t.Helper()
	n := 0
	for _, r := range trail(t, c) {
		if r.Action == string(core.AuditShareExpire) {
			n++
		}
	}
	return n
}

// TestCleanupResumes: the watermark never passes an item that is still due.
// A failed item holds it (and fails the run, so that it is seen), a run cut
// by its deadline leaves it, a long outage skips nothing, and pages of more
// than one page's worth of items are all done.
func TestCleanupResumes(t *testing.T) {
	// One patient creates more sessions in an hour than a page of cleanup,
	// and more than the default limit allows.
	forEachRuntimeWith(t, core.Config{Limits: core.Limits{SharesCreated: 1000}}, testCleanupResumes)
}

func testCleanupResumes(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	u := usersOf(env)
	watermark := func(kind core.DueKind) time.Time {
		t.Helper()
		w, err := env.Store.JobWatermark(ctx, kind)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	run(t, env, "cleanup") // sets every watermark

	t.Run("a failed item holds the watermark", func(t *testing.T) {
		photo, err := u.pat.UploadPhoto(ctx, "CROWN", "image/png", []byte("shared while the notifier is down"), nil)
		if err != nil {
			t.Fatal(err)
		}
		down := core.NewService(core.Config{}, core.Deps{
			Store: env.Store, Blobs: env.Blobs, Keys: env.Keys, Notifier: failing{}, Now: env.Clock.Now,
		})
		if _, _, err := down.CreateShare(ctx, core.Caller{ID: patient, Role: core.RolePatient, RequestID: "req-down"}, core.ShareInput{
			ProfessionalID: pro, PhotoIDs: []string{photo}, ExpiresIn: 30 * 24 * time.Hour, MaxViews: 3, ScreenshotPolicy: core.ScreenshotWarn,
		}); err != nil {
			t.Fatal(err)
		}
		items, _, err := env.Store.ListInbox(ctx, pro, core.Page{Limit: 1})
		if err != nil || len(items) != 1 || items[0].Published {
			t.Fatalf("grantee's inbox %+v %v, want the unpublished session_created", items, err)
		}
		// Due times are whole seconds, rounded up (core.DueItem).
		due := items[0].CreatedAt.Truncate(time.Second).Add(time.Second)
		for _, advance := range []time.Duration{2 * time.Minute, 3 * time.Hour} {
			env.Clock.Advance(advance)
			res, err := jobs.Run(ctx, down, "cleanup", env.Clock.Now(), quiet)
			if err == nil || res.Cleanup.Failed != 1 || res.Cleanup.NotificationsSent != 0 {
				t.Fatalf("cleanup with the notifier down: %+v %v, want one failure and an error", res.Cleanup, err)
			}
			if w := watermark(core.DueNotification); w.After(due) {
				t.Errorf("notifications' watermark %v passed the failed item due at %v", w, due)
			}
		}
		if got := counts(run(t, env, "cleanup")); got != (cleaned{Notes: 1}) {
			t.Errorf("cleanup with the notifier back: %+v, want the notification sent", got)
		}
	})

	t.Run("a run cut by its deadline leaves the watermark", func(t *testing.T) {
		u.share(t, 60)
		env.Clock.Advance(61 * time.Second)
		before := watermark(core.DueShare)
		short, cancel := context.WithTimeout(ctx, 5*time.Second) // inside the run's safety margin
		defer cancel()
		res, err := env.Service.Cleanup(short)
		if err != nil || res.Complete || res.SharesExpired != 0 {
			t.Errorf("cleanup with no time left: %+v %v, want incomplete and nothing done", res, err)
		}
		if w := watermark(core.DueShare); !w.Equal(before) {
			t.Errorf("shares' watermark moved from %v to %v in a cut run", before, w)
		}
		if got := counts(run(t, env, "cleanup")); got.Expired != 1 {
			t.Errorf("the next run: %+v, want the session expired", got)
		}
	})

	t.Run("a long outage skips nothing", func(t *testing.T) {
		u.share(t, 60)
		env.Clock.Advance(9 * 24 * time.Hour) // longer than the first run's lookback
		if got := counts(run(t, env, "cleanup")); got.Expired != 1 {
			t.Errorf("cleanup after nine days without a run: %+v, want the session expired", got)
		}
	})

	t.Run("more than a page", func(t *testing.T) {
		photo, err := u.pat.UploadPhoto(ctx, "CROWN", "image/png", []byte("shared many times"), nil)
		if err != nil {
			t.Fatal(err)
		}
		const n = 130 // cleanup reads pages of 100
		for i := range n {
			if _, err := u.pat.CreateShare(ctx, client.ShareRequest{ProfessionalID: pro, PhotoIDs: []string{photo}, ExpiresIn: 60, MaxViews: 1}, ""); err != nil {
				t.Fatalf("share %d: %v", i, err)
			}
		}
		before := expiries(t, u.pat)
		env.Clock.Advance(61 * time.Second)
		if got := counts(run(t, env, "cleanup")); got.Expired != n {
			t.Errorf("cleanup of %d expired sessions: %+v", n, got)
		}
		if got := expiries(t, u.pat) - before; got != n {
			t.Errorf("%d share.expire records, want %d", got, n)
		}
		wantChainValid(t, u.pat)
	})
}
