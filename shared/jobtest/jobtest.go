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
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/sharetest"
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

// Fixtures. Each has every field set, so that a field an adapter drops shows.
// The shares, accesses, keys, notifications and records are sharetest's
// (sharetest.NewShare, NewAccess, NewKey, Note, Record), so that both suites
// make them the same way.

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
	a, err := s.GetAppointment(ctx(t), "clinic-1", "appt-1")
	if core.KindOf(err) == core.KindNotFound {
		a, err = putAppointment(t, s), nil
	}
	storetest.Must(t, "GetAppointment appt-1", err)
	id := core.NewID("ci")
	created := windowEnd.Add(-uploadWindow)
	img := core.ChatImage{
		ID:              id,
		AppointmentID:   a.ID,
		ClinicID:        a.ClinicID,
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

// newShare returns sharetest.NewShare of patient for professional, created
// at created, with one photo and expiring at expires: a new ACTIVE share
// allowing 5 views on 1 device.
func newShare(patient, professional string, created, expires time.Time) core.Share {
	sh := sharetest.NewShare(patient, professional, created)
	sh.Photos = sh.Photos[:1]
	sh.ExpiresAt = expires
	return sh
}

// The actions of the suite's records, so that each write counts under its
// own StatKey: actCreate, actRevoke, actOpen, actIssue and actClaim are the
// actions that sharetest's operations write.
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

// expireRecord is the cleanup job's record of expiring sh at now.
func expireRecord(sh core.Share, now time.Time) core.AuditRecord {
	return sharetest.Record(sh.PatientID, core.CleanupID, core.RoleSystem, actExpire, sh.ID, now)
}

// expireNotes are the notifications of expiring sh at now: one to each
// party.
func expireNotes(sh core.Share, now time.Time) []core.Notification {
	return []core.Notification{
		sharetest.Note(sh.PatientID, core.NoteSessionExpired, sh.ID, now),
		sharetest.Note(sh.ProfessionalID, core.NoteSessionExpired, sh.ID, now),
	}
}

// newKey returns sharetest.NewKey of sh for accessID, issued at now, but
// expiring at expires.
func newKey(sh core.Share, accessID string, now, expires time.Time) core.EphemeralKey {
	k := sharetest.NewKey(sh, accessID, now)
	k.ExpiresAt = expires
	return k
}

// Operations through the ports, each with its notification and its record
// linked to the current head: sharetest's (sharetest.CreateShare, TryOpen,
// MustOpen, TryIssue, MustIssue), and the ones below. The must* forms stop
// the test on failure.

// mustRevoke revokes sh by its patient at at and checks that the call
// reports it revoked.
func mustRevoke(t *testing.T, s Store, sh core.Share, at time.Time) sharetest.Written {
	t.Helper()
	n := sharetest.Note(sh.ProfessionalID, core.NoteSessionRevoked, sh.ID, at)
	rec := sharetest.Linked(t, s, sharetest.Record(sh.PatientID, sh.PatientID, core.RolePatient, actRevoke, sh.ID, at))
	revoked, err := s.RevokeShare(ctx(t), sh.ID, sh.PatientID, at, "revoked in jobtest", rec, n)
	storetest.Must(t, "RevokeShare "+sh.ID, err)
	if !revoked {
		t.Fatalf("RevokeShare %s: got revoked=false, want true", sh.ID)
	}
	return sharetest.Written{Notes: []core.Notification{n}, Rec: rec}
}

// tryClaim claims k as its own grantee at now.
func tryClaim(t *testing.T, s Store, k core.EphemeralKey, now time.Time) (core.EphemeralKey, sharetest.Written, error) {
	t.Helper()
	return sharetest.TryClaim(t, s, k, k.ProfessionalID, now)
}

func tryExpire(t *testing.T, s Store, sh core.Share, now time.Time) (bool, sharetest.Written, error) {
	t.Helper()
	notes := expireNotes(sh, now)
	rec := sharetest.Linked(t, s, expireRecord(sh, now))
	expired, err := s.ExpireShare(ctx(t), sh.ID, now, rec, notes...)
	return expired, sharetest.Written{Notes: notes, Rec: rec}, err
}

// mustExpire expires sh at now and checks that the call reports it expired.
func mustExpire(t *testing.T, s Store, sh core.Share, now time.Time) sharetest.Written {
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
func activeShare(t *testing.T, s Store, expires time.Time) (core.Share, core.Access, []sharetest.Written) {
	t.Helper()
	sh := newShare("pat-1", "dr-a", t0, expires)
	cw := sharetest.CreateShare(t, s, sh)
	a := sharetest.NewAccess(sh, "device-1", tNow)
	ow := sharetest.MustOpen(t, s, a, tNow)
	return sh, a, []sharetest.Written{cw, ow}
}

// listInbox returns recipient's whole inbox, newest first.
func listInbox(t *testing.T, s Store, recipient string) []core.InboxItem {
	t.Helper()
	return storetest.Flatten(sharetest.ListInbox(t, s, recipient, 100))
}

// wantChain checks that patient's chain holds exactly the records want, in
// order, linked without gaps or forks, and that core.VerifyChain accepts it.
func wantChain(t *testing.T, s Store, patient string, want []core.AuditRecord) {
	t.Helper()
	if diff := cmp.Diff(want, sharetest.ListChain(t, s, patient), cmpOpts); diff != "" {
		t.Errorf("ListAudit(%s) mismatch (-want +got):\n%s", patient, diff)
	}
	storetest.WantVerified(t, s, patient, len(want))
}

// recordsOf returns the records of ws, in order.
func recordsOf(ws ...sharetest.Written) []core.AuditRecord {
	var recs []core.AuditRecord
	for _, w := range ws {
		recs = append(recs, w.Rec)
	}
	return recs
}

// notesOf returns the notifications of ws, in order.
func notesOf(ws ...sharetest.Written) []core.Notification {
	var notes []core.Notification
	for _, w := range ws {
		notes = append(notes, w.Notes...)
	}
	return notes
}

// inboxOf returns the items of notes to recipient, newest first, as a new
// inbox holds them.
func inboxOf(recipient string, notes ...core.Notification) []core.InboxItem {
	var items []core.InboxItem
	for _, n := range notes {
		if n.RecipientID == recipient {
			items = append(items, sharetest.Unread(n))
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
		st.Chains[p] = sharetest.ListChain(t, s, p)
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
