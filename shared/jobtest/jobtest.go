// Package jobtest is the contract suite of the core.JobStore port. Every
// implementation (the embedded bbolt store in every `go test`, the DynamoDB
// store against the emulator) runs it from its own tests:
//
//	func TestJobContract(t *testing.T) {
//		jobtest.Run(t, jobtest.Harness{New: func(t *testing.T, now func() time.Time) jobtest.Store {
//			return newStore(t)
//		}})
//	}
//
// A JobStore reads what the other store ports write (the due index is kept
// by every write that makes an item due or not due, the audit counters by
// every record appended), so the suite runs against one value that is a
// core.Store, a core.ShareStore and a core.JobStore, and drives it through
// all three.
//
// Besides the contracts written on the port in shared/core/jobports.go, the
// suite fixes what the port leaves to the adapters, and every adapter must do
// the same:
//
//   - Everything storetest and sharetest fix holds here too: times
//     round-trip at nanosecond precision and come back in UTC (DueItem.Due,
//     watermarks, reports); nil and empty values are the same; Page.Limit > 0
//     is honoured exactly; a garbage cursor, or a cursor of another list, is
//     KindInvalid. For ListDue "another list" includes the same list of
//     another kind: a cursor of the due shares does not page the due keys.
//   - ListDue may return empty pages before its last (DynamoDB reads one
//     hour's bucket per call), so the suite follows cursors to "" without
//     Collect's rule against empty pages; it bounds the number of pages, and
//     an item must appear once in the whole walk. An unknown DueKind is
//     KindInvalid.
//   - ListDue's bounds are whole seconds, truncated: an item is in [from,
//     until] when from.Unix() <= Due.Unix() <= until.Unix(). Due is the
//     item's time rounded up to the second, so an item due 0.4 s before an
//     hour is listed in the range that starts at that hour.
//   - An item is due from the write that stores it (CreatePhoto and
//     CreateChatImage of a PENDING upload, CreateShare of an ACTIVE share,
//     IssueKey, every notification any ShareStore or JobStore method writes)
//     until the write that the port names; a ClaimKey or a MarkRead changes
//     nothing. A write that fails (a condition, a moved head, an id that
//     exists) changes no due item.
//   - A day (CountAudit, GetDailyReport) is the UTC day that contains the
//     time given: 00:00 UTC names it, and so does any other time within it,
//     in any zone.
//   - A record counts in CountAudit on the UTC day of its At, in whatever
//     zone At was given; a write that fails counts nothing.
//   - A share that ExpireShare moved to EXPIRED answers OpenAccess, IssueKey
//     and ClaimKey with KindGone session_expired, as an ACTIVE share past its
//     expiry does, and writes nothing; it does so at any now, even one
//     before its ExpiresAt (a caller's clock behind), because the status is
//     final. ExpireShare changes nothing else of the share (views, devices).
//     RevokeShare treats an EXPIRED share as it treats an ACTIVE share past
//     its expiry, which it revokes: revoked=true, status REVOKED, the
//     grantee's notification and the record written.
//   - AbandonUpload changes nothing but the upload's record and its due
//     entry: the appointment of an abandoned chat image keeps its
//     ImageCount.
//   - Tally does not forget a counter before its until, as the store's own
//     clock (Harness.New's now) reads it, whatever other counters it
//     forgets meanwhile.
//
// The suite never sleeps: every time is passed to the port explicitly, and
// the one clock the store reads by itself is the suite's.
//
// The suite runs against an emulator too, so it keeps its stores small: a
// ListDue range spans at most a few days.
package jobtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/storetest"
)

// Store is what the suite runs against: the store ports, the share port and
// the job port, as one adapter provides them.
type Store interface {
	core.Store
	core.ShareStore
	core.JobStore
}

// Harness gives the suite a fresh, empty store per test.
type Harness struct {
	// New returns a fresh, empty store; it registers its own cleanup with
	// t.Cleanup. now is the clock of whatever the store decides without a
	// time from its caller: when it may forget a Tally counter. A store that
	// leaves forgetting to something else (DynamoDB's TTL) ignores it.
	New func(t *testing.T, now func() time.Time) Store
}

// Run runs the whole contract suite against the store that h makes.
func Run(t *testing.T, h Harness) {
	if h.New == nil {
		t.Fatal("jobtest: Harness.New is nil")
	}
	t.Run("ListDue", func(t *testing.T) { testListDue(t, h) })
	t.Run("DueLifecycle", func(t *testing.T) { testDueLifecycle(t, h) })
	t.Run("AbandonUpload", func(t *testing.T) { testAbandonUpload(t, h) })
	t.Run("ExpireShare", func(t *testing.T) { testExpireShare(t, h) })
	t.Run("DeleteExpiredKey", func(t *testing.T) { testDeleteExpiredKey(t, h) })
	t.Run("GetNotification", func(t *testing.T) { testGetNotification(t, h) })
	t.Run("Watermark", func(t *testing.T) { testWatermark(t, h) })
	t.Run("CountAudit", func(t *testing.T) { testCountAudit(t, h) })
	t.Run("DailyReport", func(t *testing.T) { testDailyReport(t, h) })
	t.Run("Tally", func(t *testing.T) { testTally(t, h) })
}

// The suite's clock. t0 has nanoseconds set, so that precision loss and
// rounding show; shares are created at t0 and expire shareTTL later;
// grantees act at tNow.
var (
	t0   = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)
	tNow = t0.Add(10 * time.Minute)
	// day0 is 00:00 UTC of t0's day.
	day0 = time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
)

const (
	shareTTL     = time.Hour
	accessWindow = 15 * time.Minute
	uploadWindow = 15 * time.Minute
)

// elsewhere is a zone that is not UTC, to check that stores return UTC and
// read days in UTC.
var elsewhere = time.FixedZone("UTC+05:30", 5*3600+1800)

// cmpOpts compares stored values: times by instant (cmp uses time.Time.Equal),
// nil and empty slices and maps as equal.
var cmpOpts = cmp.Options{cmpopts.EquateEmpty()}

func ctx(t *testing.T) context.Context { return t.Context() }

// newStore makes a store whose own clock reads the suite's fixed t0.
func newStore(t *testing.T, h Harness) Store {
	t.Helper()
	return h.New(t, func() time.Time { return t0 })
}

// clock is a clock the suite moves by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) read() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
}

// dueAt is when an item that expires (or is created) at tm is due: tm
// rounded up to the whole second, in UTC.
func dueAt(tm time.Time) time.Time {
	tm = tm.UTC()
	if r := tm.Truncate(time.Second); !r.Equal(tm) {
		return r.Add(time.Second)
	}
	return tm
}

// wantCode fails t unless err is of kind want with the stable code code.
func wantCode(t *testing.T, op string, err error, want core.Kind, code string) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: got nil error, want kind %s with code %s", op, storetest.KindName(want), code)
	case core.KindOf(err) != want || core.CodeOf(err) != code:
		t.Errorf("%s: got error %q of kind %s with code %s, want kind %s with code %s",
			op, err, storetest.KindName(core.KindOf(err)), core.CodeOf(err), storetest.KindName(want), code)
	}
}

// Fixtures. Each has every field set, so that a field an adapter drops shows.

// newPhoto returns a PENDING photo of owner whose upload window ends at
// windowEnd.
func newPhoto(owner string, windowEnd time.Time) core.Photo {
	id := core.NewID("ph")
	created := windowEnd.Add(-uploadWindow)
	return core.Photo{
		ID:              id,
		OwnerID:         owner,
		Angle:           "CROWN",
		ContentType:     "image/heic",
		Size:            123457,
		SHA256:          storetest.Digest("ciphertext of " + id),
		WrappedKey:      core.WrappedKey{KeyID: "arn:aws:kms:eu-west-1:111122223333:key/test", Ciphertext: storetest.Digest("wrapped " + id)},
		Metadata:        []byte("\x01client-encrypted metadata of " + id),
		Status:          core.StatusPending,
		CreatedAt:       created,
		UploadExpiresAt: windowEnd,
		UpdatedAt:       created,
	}
}

// createPhoto stores a new PENDING photo of owner whose window ends at
// windowEnd, and returns it.
func createPhoto(t *testing.T, s Store, owner string, windowEnd time.Time) core.Photo {
	t.Helper()
	p := newPhoto(owner, windowEnd)
	storetest.Must(t, "CreatePhoto "+p.ID, s.CreatePhoto(ctx(t), p))
	return p
}

// appointment is the suite's appointment of pat-1 with dr-a and dr-b; it is
// stored by putAppointment.
func appointment() core.Appointment {
	return core.Appointment{
		ID:              "appt-1",
		ClinicID:        "clinic-1",
		PatientID:       "pat-1",
		ProfessionalIDs: []string{"dr-a", "dr-b"},
		StartsAt:        t0.Add(24 * time.Hour),
		EndsAt:          t0.Add(24*time.Hour + 30*time.Minute),
		CreatedAt:       t0,
		UpdatedAt:       t0,
	}
}

func putAppointment(t *testing.T, s Store) core.Appointment {
	t.Helper()
	a := appointment()
	_, err := s.PutAppointment(ctx(t), a)
	storetest.Must(t, "PutAppointment "+a.ID, err)
	return a
}

// createChatImage stores a new PENDING chat image in the suite's
// appointment (which it stores first when it is not there) whose window
// ends at windowEnd, and returns it.
func createChatImage(t *testing.T, s Store, windowEnd time.Time) core.ChatImage {
	t.Helper()
	a, err := s.GetAppointment(ctx(t), "appt-1")
	if core.KindOf(err) == core.KindNotFound {
		a, err = putAppointment(t, s), nil
	}
	storetest.Must(t, "GetAppointment appt-1", err)
	id := core.NewID("ci")
	created := windowEnd.Add(-uploadWindow)
	img := core.ChatImage{
		ID:              id,
		AppointmentID:   a.ID,
		PatientID:       a.PatientID,
		UploaderID:      "dr-a",
		Participants:    a.Participants(),
		ContentType:     "image/png",
		Size:            4242,
		SHA256:          storetest.Digest("chat image " + id),
		Status:          core.StatusPending,
		CreatedAt:       created,
		UploadExpiresAt: windowEnd,
		UpdatedAt:       created,
	}
	storetest.Must(t, "CreateChatImage "+id, s.CreateChatImage(ctx(t), img))
	return img
}

// newShare returns a new ACTIVE share of patient for professional, created
// at created and expiring at expires, allowing 5 views on 1 device.
func newShare(patient, professional string, created, expires time.Time) core.Share {
	return core.Share{
		ID:             core.NewID("sh"),
		PatientID:      patient,
		ProfessionalID: professional,
		Photos: []core.SharedPhoto{{
			PhotoID:     core.NewID("ph"),
			Angle:       "CROWN",
			ContentType: "image/heic",
			Size:        123457,
			SHA256:      storetest.Digest("shared photo of " + patient),
			WrappedKey:  core.WrappedKey{KeyID: "arn:aws:kms:eu-west-1:111122223333:key/test", Ciphertext: storetest.Digest("wrapped")},
		}},
		Purpose:          "second opinion on the crown",
		ScreenshotPolicy: core.ScreenshotWarn,
		MaxViews:         5,
		AccessWindow:     accessWindow,
		MaxDevices:       1,
		Status:           core.ShareActive,
		CreatedAt:        created,
		ExpiresAt:        expires,
	}
}

// storePhotos stores each photo of sh READY, owned by sh's patient, as the
// service's shares are of photos that exist (IssueKey needs them).
func storePhotos(t *testing.T, s Store, sh core.Share) {
	t.Helper()
	created := sh.CreatedAt.Add(-time.Minute)
	for _, sp := range sh.Photos {
		p := core.Photo{
			ID: sp.PhotoID, OwnerID: sh.PatientID, Angle: sp.Angle, ContentType: sp.ContentType,
			Size: sp.Size, SHA256: sp.SHA256, WrappedKey: sp.WrappedKey, Status: core.StatusPending,
			CreatedAt: created, UploadExpiresAt: created.Add(uploadWindow), UpdatedAt: created,
		}
		storetest.Must(t, "CreatePhoto "+sp.PhotoID, s.CreatePhoto(ctx(t), p))
		_, err := s.MarkPhotoReady(ctx(t), sh.PatientID, sp.PhotoID, core.BlobInfo{Size: sp.Size, SHA256: sp.SHA256}, created.Add(time.Second))
		storetest.Must(t, "MarkPhotoReady "+sp.PhotoID, err)
	}
}

// note returns a notification to recipient about share, created at at.
func note(recipient, typ, shareID string, at time.Time) core.Notification {
	return core.Notification{
		ID:          core.NewSortableID("nt", at),
		RecipientID: recipient,
		Type:        typ,
		ShareID:     shareID,
		CreatedAt:   at,
		Data:        map[string]string{"share_id": shareID, "event": typ},
	}
}

// The actions of the suite's records, so that each write counts under its
// own StatKey.
const (
	actCreate    = "share.create"
	actRevoke    = "share.revoke"
	actExpire    = "share.expire"
	actOpen      = "access.open"
	actIssue     = "key.issue"
	actClaim     = "key.claim"
	actSuspicion = "activity.report"
	actAppend    = "photo.list"
)

// record returns an unlinked audit record of patient's chain with every
// field set and a fresh request id.
func record(patient, actor string, role core.Role, action, resource string, at time.Time) core.AuditRecord {
	return core.AuditRecord{
		PatientID:    patient,
		At:           at,
		ActorID:      actor,
		ActorRole:    role,
		Action:       action,
		ResourceType: "share",
		ResourceID:   resource,
		Outcome:      core.OutcomeSuccess,
		SourceIP:     "203.0.113.7",
		UserAgent:    "jobtest/1.0",
		RequestID:    core.NewID("rq"),
	}
}

// expireRecord is the cleanup job's record of expiring sh at now.
func expireRecord(sh core.Share, now time.Time) core.AuditRecord {
	return record(sh.PatientID, core.CleanupID, core.RoleSystem, actExpire, sh.ID, now)
}

// expireNotes are the notifications of expiring sh at now: one to each
// party.
func expireNotes(sh core.Share, now time.Time) []core.Notification {
	return []core.Notification{
		note(sh.PatientID, core.NoteSessionExpired, sh.ID, now),
		note(sh.ProfessionalID, core.NoteSessionExpired, sh.ID, now),
	}
}

// newAccess returns an access of sh's grantee on device, opened at now.
func newAccess(sh core.Share, device string, now time.Time) core.Access {
	return core.Access{
		ID:                core.NewID("ac"),
		ShareID:           sh.ID,
		PatientID:         sh.PatientID,
		ProfessionalID:    sh.ProfessionalID,
		KEM:               0x0020,
		DevicePublicKey:   storetest.Digest("public key of " + device),
		DeviceFingerprint: device,
		SourceIP:          "198.51.100.23",
		UserAgent:         "MedShare/2.1 (iPhone)",
		CreatedAt:         now,
		ExpiresAt:         minTime(now.Add(sh.AccessWindow), sh.ExpiresAt),
		ShareExpiresAt:    sh.ExpiresAt,
		Photos:            sh.Photos,
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// newKey returns a key of sh's first photo for accessID, issued at now and
// expiring at expires.
func newKey(sh core.Share, accessID string, now, expires time.Time) core.EphemeralKey {
	p := sh.Photos[0]
	return core.EphemeralKey{
		ID:             core.NewID("ek"),
		AccessID:       accessID,
		ShareID:        sh.ID,
		PhotoID:        p.PhotoID,
		PatientID:      sh.PatientID,
		ProfessionalID: sh.ProfessionalID,
		ObjectKey:      p.ObjectKey(sh.PatientID),
		Status:         core.KeyIssued,
		CreatedAt:      now,
		ExpiresAt:      expires,
		ShareExpiresAt: sh.ExpiresAt,
	}
}

// linked links rec to the current head of its chain.
func linked(t *testing.T, s Store, rec core.AuditRecord) core.AuditRecord {
	t.Helper()
	head, err := s.AuditHead(ctx(t), rec.PatientID)
	storetest.Must(t, "AuditHead "+rec.PatientID, err)
	return core.Link(rec, head)
}

func headOf(r core.AuditRecord) core.ChainHead { return core.ChainHead{Seq: r.Seq, Hash: r.Hash} }

// chained runs write with rec linked to the head of its chain and, on
// *core.HeadMismatchError, again with rec relinked to the head the error
// carries, as the service does across processes. It returns the record as
// written, or write's error as is.
func chained(ctx context.Context, s Store, rec core.AuditRecord, maxAttempts int, write func(core.AuditRecord) error) (core.AuditRecord, error) {
	head, err := s.AuditHead(ctx, rec.PatientID)
	if err != nil {
		return core.AuditRecord{}, fmt.Errorf("audit head of %s: %w", rec.PatientID, err)
	}
	for range maxAttempts {
		l := core.Link(rec, head)
		err := write(l)
		if err == nil {
			return l, nil
		}
		var moved *core.HeadMismatchError
		if !errors.As(err, &moved) {
			return core.AuditRecord{}, err
		}
		head = moved.Current
	}
	return core.AuditRecord{}, fmt.Errorf("%s: no success in %d attempts", rec.RequestID, maxAttempts)
}

// Operations through the ports, each with its notification and its record
// linked to the current head. The must* forms stop the test on failure.

// written is what one successful operation wrote besides its state change.
type written struct {
	notes []core.Notification
	rec   core.AuditRecord // as linked
}

// createShare stores sh's photos, then creates sh with the grantee's
// notification, created at sh.CreatedAt.
func createShare(t *testing.T, s Store, sh core.Share) written {
	t.Helper()
	storePhotos(t, s, sh)
	n := note(sh.ProfessionalID, core.NoteSessionCreated, sh.ID, sh.CreatedAt)
	rec := linked(t, s, record(sh.PatientID, sh.PatientID, core.RolePatient, actCreate, sh.ID, sh.CreatedAt))
	storetest.Must(t, "CreateShare "+sh.ID, s.CreateShare(ctx(t), sh, n, rec))
	return written{notes: []core.Notification{n}, rec: rec}
}

func mustRevoke(t *testing.T, s Store, sh core.Share, at time.Time) written {
	t.Helper()
	n := note(sh.ProfessionalID, core.NoteSessionRevoked, sh.ID, at)
	rec := linked(t, s, record(sh.PatientID, sh.PatientID, core.RolePatient, actRevoke, sh.ID, at))
	revoked, err := s.RevokeShare(ctx(t), sh.ID, sh.PatientID, at, "revoked in jobtest", n, rec)
	storetest.Must(t, "RevokeShare "+sh.ID, err)
	if !revoked {
		t.Fatalf("RevokeShare %s: got revoked=false, want true", sh.ID)
	}
	return written{notes: []core.Notification{n}, rec: rec}
}

func tryOpen(t *testing.T, s Store, a core.Access, now time.Time) (written, error) {
	t.Helper()
	n := note(a.PatientID, core.NoteSessionAccess, a.ShareID, now)
	rec := linked(t, s, record(a.PatientID, a.ProfessionalID, core.RoleProfessional, actOpen, a.ID, now))
	return written{notes: []core.Notification{n}, rec: rec}, s.OpenAccess(ctx(t), a, now, n, rec)
}

func mustOpen(t *testing.T, s Store, a core.Access, now time.Time) written {
	t.Helper()
	w, err := tryOpen(t, s, a, now)
	storetest.Must(t, "OpenAccess "+a.ID, err)
	return w
}

func tryIssue(t *testing.T, s Store, k core.EphemeralKey, now time.Time) (written, error) {
	t.Helper()
	n := note(k.PatientID, core.NotePhotoViewed, k.ShareID, now)
	rec := linked(t, s, record(k.PatientID, k.ProfessionalID, core.RoleProfessional, actIssue, k.ID, now))
	return written{notes: []core.Notification{n}, rec: rec}, s.IssueKey(ctx(t), k, now, n, rec)
}

func mustIssue(t *testing.T, s Store, k core.EphemeralKey, now time.Time) written {
	t.Helper()
	w, err := tryIssue(t, s, k, now)
	storetest.Must(t, "IssueKey "+k.ID, err)
	return w
}

func tryClaim(t *testing.T, s Store, k core.EphemeralKey, now time.Time) (core.EphemeralKey, written, error) {
	t.Helper()
	rec := linked(t, s, record(k.PatientID, k.ProfessionalID, core.RoleProfessional, actClaim, k.ID, now))
	got, err := s.ClaimKey(ctx(t), k, k.ProfessionalID, now, rec)
	return got, written{rec: rec}, err
}

func tryExpire(t *testing.T, s Store, sh core.Share, now time.Time) (bool, written, error) {
	t.Helper()
	notes := expireNotes(sh, now)
	rec := linked(t, s, expireRecord(sh, now))
	expired, err := s.ExpireShare(ctx(t), sh.ID, now, notes, rec)
	return expired, written{notes: notes, rec: rec}, err
}

// mustExpire expires sh at now and checks that the call reports it expired.
func mustExpire(t *testing.T, s Store, sh core.Share, now time.Time) written {
	t.Helper()
	expired, w, err := tryExpire(t, s, sh, now)
	storetest.Must(t, "ExpireShare "+sh.ID, err)
	if !expired {
		t.Fatalf("ExpireShare %s of an active share past its expiry: got expired=false, want true", sh.ID)
	}
	return w
}

// activeShare creates a share of pat-1 for dr-a, created at t0 and expiring
// at expires, with an open access on device-1 at tNow, and returns them and
// what they wrote.
func activeShare(t *testing.T, s Store, expires time.Time) (core.Share, core.Access, []written) {
	t.Helper()
	sh := newShare("pat-1", "dr-a", t0, expires)
	cw := createShare(t, s, sh)
	a := newAccess(sh, "device-1", tNow)
	ow := mustOpen(t, s, a, tNow)
	return sh, a, []written{cw, ow}
}

// getShare returns the stored share or stops the test.
func getShare(t *testing.T, s Store, id string) core.Share {
	t.Helper()
	sh, err := s.GetShare(ctx(t), id)
	storetest.Must(t, "GetShare "+id, err)
	return sh
}

func wantShare(t *testing.T, s Store, want core.Share) {
	t.Helper()
	got := getShare(t, s, want.ID)
	if diff := cmp.Diff(want, got, cmpOpts, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("GetShare(%s) mismatch (-want +got):\n%s", want.ID, diff)
	}
}

func listInbox(t *testing.T, s Store, recipient string) []core.InboxItem {
	t.Helper()
	return storetest.Flatten(storetest.Collect(t, "ListInbox "+recipient, 100, func(pg core.Page) ([]core.InboxItem, string, error) {
		return s.ListInbox(ctx(t), recipient, pg)
	}))
}

func listChain(t *testing.T, s Store, patient string) []core.AuditRecord {
	t.Helper()
	return storetest.Flatten(storetest.Collect(t, "ListAudit "+patient, 100, func(pg core.Page) ([]core.AuditRecord, string, error) {
		return s.ListAudit(ctx(t), patient, false, pg)
	}))
}

// wantChain checks that patient's chain holds exactly the records want, in
// order, linked without gaps or forks, and that core.VerifyChain accepts it.
func wantChain(t *testing.T, s Store, patient string, want []core.AuditRecord) {
	t.Helper()
	if diff := cmp.Diff(want, listChain(t, s, patient), cmpOpts); diff != "" {
		t.Errorf("ListAudit(%s) mismatch (-want +got):\n%s", patient, diff)
	}
	v, err := core.VerifyChain(ctx(t), s, patient)
	storetest.Must(t, "VerifyChain "+patient, err)
	n := uint64(len(want))
	if !v.Valid || v.Records != n || v.HeadSeq != n {
		t.Errorf("VerifyChain(%s): got valid=%v records=%d head=%d (first bad %d: %s), want valid with %d records",
			patient, v.Valid, v.Records, v.HeadSeq, v.FirstBadSeq, v.Problem, n)
	}
}

// recordsOf returns the records of ws, in order.
func recordsOf(ws ...written) []core.AuditRecord {
	var recs []core.AuditRecord
	for _, w := range ws {
		recs = append(recs, w.rec)
	}
	return recs
}

// notesOf returns the notifications of ws, in order.
func notesOf(ws ...written) []core.Notification {
	var notes []core.Notification
	for _, w := range ws {
		notes = append(notes, w.notes...)
	}
	return notes
}

// unread is n as a new inbox item holds it.
func unread(n core.Notification) core.InboxItem { return core.InboxItem{Notification: n} }

// inboxOf returns the items of notes to recipient, newest first, as a new
// inbox holds them.
func inboxOf(recipient string, notes ...core.Notification) []core.InboxItem {
	var items []core.InboxItem
	for _, n := range notes {
		if n.RecipientID == recipient {
			items = append(items, unread(n))
		}
	}
	slices.SortFunc(items, func(a, b core.InboxItem) int { return strings.Compare(b.ID, a.ID) })
	return items
}

// state is what a test watches to check that a call wrote nothing: the
// chains and inboxes of parties, shares by id, and the due items in the
// watched range.
type state struct {
	Heads   map[string]core.ChainHead
	Chains  map[string][]core.AuditRecord
	Inboxes map[string][]core.InboxItem
	Shares  map[string]*core.Share
	Due     map[core.DueKind][]core.DueItem
}

func observe(t *testing.T, s Store, parties []string, shares ...string) state {
	t.Helper()
	st := state{
		Heads: map[string]core.ChainHead{}, Chains: map[string][]core.AuditRecord{},
		Inboxes: map[string][]core.InboxItem{}, Shares: map[string]*core.Share{}, Due: dueState(t, s),
	}
	for _, p := range parties {
		h, err := s.AuditHead(ctx(t), p)
		storetest.Must(t, "AuditHead "+p, err)
		st.Heads[p] = h
		st.Chains[p] = listChain(t, s, p)
		st.Inboxes[p] = listInbox(t, s, p)
	}
	for _, id := range shares {
		sh, err := s.GetShare(ctx(t), id)
		switch {
		case err == nil:
			st.Shares[id] = &sh
		case core.KindOf(err) != core.KindNotFound:
			t.Fatalf("GetShare %s: %v", id, err)
		}
	}
	return st
}

// wantUnchanged fails t unless the store still holds before.
func wantUnchanged(t *testing.T, s Store, before state, op string, parties []string, shares ...string) {
	t.Helper()
	if diff := cmp.Diff(before, observe(t, s, parties, shares...), cmpOpts); diff != "" {
		t.Errorf("%s wrote something, want nothing written (-before +after):\n%s", op, diff)
	}
}
