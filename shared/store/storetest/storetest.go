// Package storetest is the contract suite of core.Store, the one store
// port, with a file per interface of it: photos.go (core.PhotoStore),
// chat*.go (core.ChatStore), audit*.go (core.AuditStore), shares*.go
// (core.ShareStore), inbox.go (core.InboxStore), jobs*.go (core.JobStore)
// and counter.go (core.Counter); cursors.go checks the lists of all of
// them. Every implementation (the embedded bbolt store in every `go test`,
// the DynamoDB store against the emulator) runs it from its own tests:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, storetest.Harness{New: newStore, Tamper: tamper})
//	}
//
// Besides the contracts written on the port in shared/core/store.go, the
// suite fixes what the port leaves to the adapters, and every adapter must
// do the same:
//
//   - Times round-trip at nanosecond precision and come back in UTC
//     (Location() == time.UTC) whatever zone they were stored in
//     (DueItem.Due, watermarks and reports included).
//   - A nil and an empty byte slice, string list or map are the same value.
//   - Slices keep their order (Participants, ProfessionalIDs), but for
//     Share.Devices, which is a set: its order is not part of the contract.
//   - A photo's key is (owner, id): the same id under another owner is another
//     photo.
//   - A list ends with the cursor "". When the last page is exactly full an
//     adapter may return one more, empty, page before "". ListDue may also
//     return empty pages before its last (DynamoDB reads one hour's bucket
//     per call), so the suite follows its cursors to "" without Collect's
//     rule against empty pages; it bounds the number of pages, and an item
//     must appear once in the whole walk.
//   - A cursor that the store did not issue for that kind of list (garbage, or
//     a cursor of another list: shares and inbox, the due items of another
//     kind) is KindInvalid. An unknown DueKind is KindInvalid.
//   - Page.Limit > 0 is honoured exactly; the suite does not use Limit <= 0.
//   - MarkPhotoReady and MarkChatImageReady check the window first: at or after
//     UploadExpiresAt a PENDING upload is KindNotFound whatever was observed; a
//     READY upload never expires, and observing another object for it is
//     KindConflict.
//   - "Participants change" means the patient or the set of professionals
//     changes, as core.Appointment.SameParticipants defines it; reordering the
//     professionals is not a change.
//   - A failed write writes nothing at all: not the state change, not the
//     record, head or by-actor index entry, not the notification, not the
//     idempotency claim, not a due item or an audit counter. The record a
//     state change writes is indexed by actor as AppendAudit's are, and
//     counted as AppendAudit's are.
//   - Expiry is checked at read time (ARCHITECTURE §2.2) with the `now` the
//     method is given: a share or key is expired at and after its
//     ExpiresAt. A share's idempotency claim lasts core.IdempotencyTTL from
//     the share's CreatedAt (CreateShare has no other clock); a claim that
//     is present but expired at the new share's CreatedAt counts as absent
//     and is replaced.
//   - A caller who is not the grantee (OpenAccess, IssueKey, ClaimKey) or the
//     patient (RevokeShare) gets KindNotFound whatever state the share or key
//     is in: never a hint that it exists (ARCHITECTURE §2.1). Among the
//     reasons a share is gone, session_revoked wins over session_expired
//     (core.Share.StatusAt), and both win over views_exhausted. A refusal is
//     the entity's own rule (core.Share.RefuseUse, RefuseView, RefuseDevice,
//     core.EphemeralKey.RefuseClaim): the suite checks the kind and code of
//     each, and that the store answers with the rule's message.
//   - A state change's record may belong to any patient's chain: the store
//     checks it against that chain's head and nothing else. The concurrency
//     tests run twice, once with every record in the share patient's chain
//     (as the service writes them) and once with a chain per writer,
//     because in one chain the head condition alone serializes the writers
//     and would hide a views or claim condition that is not part of the
//     write (ARCHITECTURE §2.3, §2.4, §2.5).
//   - ClaimKey checks the key it is given against the stored key: a key whose
//     share id is not the stored key's share id is KindNotFound, so that the
//     share condition is always checked on the key's own share.
//   - RevokeShare reports revoked=true exactly when it wrote the revocation:
//     of a share that is already revoked it reports false, writes nothing and
//     leaves the stored share as the first revocation left it, whatever
//     reason and time it is given; of many concurrent revokes exactly one
//     reports true. RevokedBy is the record's actor. RevokeShare treats an
//     EXPIRED share as it treats an ACTIVE share past its expiry, which it
//     revokes: revoked=true, status REVOKED, the grantee's notification and
//     the record written.
//   - ListShares returns the shares as stored now (status, views, devices,
//     revocation), newest CreatedAt first; the suite gives shares distinct
//     CreatedAt times. ListInbox returns items newest first by notification
//     id (core.NewSortableID ids sort by time).
//   - OpenAccess stores a new access at suspicion score 0, whatever
//     Access.Score it is given; only AddSuspicion moves the score.
//   - MarkRead and MarkPublished change only their own flag. MarkPublished of
//     a notification that is not the recipient's is KindNotFound and creates
//     nothing.
//   - ListDue's bounds are whole seconds, truncated: an item is in [from,
//     until] when from.Unix() <= Due.Unix() <= until.Unix(). Due is the
//     item's time rounded up to the second, so an item due 0.4 s before an
//     hour is listed in the range that starts at that hour.
//   - An item is due from the write that stores it (CreatePhoto and
//     CreateChatImage of a PENDING upload, CreateShare of an ACTIVE share,
//     IssueKey, every notification any state change writes) until the write
//     that the port names; a ClaimKey or a MarkRead changes nothing.
//   - A day (CountAudit, GetDailyReport) is the UTC day that contains the
//     time given: 00:00 UTC names it, and so does any other time within it,
//     in any zone. A record counts in CountAudit on the UTC day of its At,
//     in whatever zone At was given.
//   - A share that ExpireShare moved to EXPIRED answers OpenAccess, IssueKey
//     and ClaimKey with KindGone session_expired, as an ACTIVE share past its
//     expiry does, and writes nothing; it does so at any now, even one
//     before its ExpiresAt (a caller's clock behind), because the status is
//     final. ExpireShare changes nothing else of the share (views, devices).
//   - AbandonUpload changes nothing but the upload's record and its due
//     entry: the appointment of an abandoned chat image keeps its
//     ImageCount.
//   - Tally does not forget a counter before its until, as the store's own
//     clock (Harness.New's now) reads it, whatever other counters it
//     forgets meanwhile.
//
// The suite's shares are of photos that exist, as the service's are: before
// it creates a share, CreateShare stores each of its photos READY (through
// core.PhotoStore, owned by the share's patient), because IssueKey releases
// the key of a photo only while the photo exists.
//
// Every fixture sets every field it can, and together the fixtures of an
// entity set every field of it: a field an adapter drops shows in a round
// trip, and TestFixturesFillEveryField (fixtures.go's list) fails when a
// field is added to an entity and no fixture sets it.
//
// The suite never sleeps: every time is passed to the port explicitly, and
// the one clock the store reads by itself (Counter.Tally's forgetting) is
// the suite's. It runs against an emulator too, so it keeps its stores
// small: a ListDue range spans at most a few days.
//
// The concurrency tests of shares also record every call they make on
// their share (sharemodel.History) and check the history for
// linearizability against the sequential model of a share in
// shared/devtools/sharemodel, with Porcupine: one order of the calls, consistent
// with real time, must explain every answer.
//
// The package also exports the fixtures and operations that tests of the
// service reuse to plant items through the port (NewShare, CreateShare,
// NewAccess, MustOpen, NewKey, MustIssue, GetShare), and the checks every
// part of the suite reads lists, compares error kinds, checks chains and
// races writers with: Collect, Flatten, RunAll, WantKind, WantCode,
// KindName, WantUTC, WantVerified, HeadOf, Must and Digest.
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/medshare/medshare/shared/core"
)

// Harness gives the suite a fresh, empty store per test, and a way to
// tamper with stored audit records.
type Harness struct {
	// New returns a fresh, empty store; it registers its own cleanup with
	// t.Cleanup. now is the clock of whatever the store decides without a
	// time from its caller: when it may forget a Tally counter. A store that
	// leaves forgetting to something else (DynamoDB's TTL) ignores it.
	New func(t *testing.T, now func() time.Time) core.Store
	// Tamper rewrites the stored audit record (patientID, seq) in place by
	// applying mutate, bypassing every check (simulates an attacker with raw DB
	// access). It changes neither the record's key nor the chain head.
	Tamper func(t *testing.T, s core.Store, patientID string, seq uint64, mutate func(*core.AuditRecord))
}

// Run runs the whole contract suite against the store that h makes: a
// group of subtests per interface of the port.
func Run(t *testing.T, h Harness) {
	if h.New == nil {
		t.Fatal("storetest: Harness.New is nil")
	}
	t.Run("Ping", func(t *testing.T) {
		if err := newStore(t, h).Ping(t.Context()); err != nil {
			t.Errorf("Ping: got %v, want nil", err)
		}
	})
	// core.PhotoStore and core.ChatStore.
	t.Run("Photos", func(t *testing.T) { testPhotos(t, h) })
	t.Run("Chat", func(t *testing.T) { testChat(t, h) })
	// core.AuditStore.
	t.Run("Audit", func(t *testing.T) { testAudit(t, h) })
	t.Run("AuditNotifications", func(t *testing.T) { testAppendAuditNotify(t, h) })
	t.Run("AuditCounts", func(t *testing.T) { testCountAudit(t, h) })
	t.Run("ActorHistory", func(t *testing.T) { testActorHistory(t, h) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, h) })
	t.Run("Tamper", func(t *testing.T) {
		if h.Tamper == nil {
			t.Skip("storetest: Harness.Tamper is nil")
		}
		testTamper(t, h)
	})
	// The lists of every interface.
	t.Run("Cursors", func(t *testing.T) { testCursors(t, h) })
	// core.ShareStore.
	t.Run("Shares", func(t *testing.T) {
		t.Run("CreateShare", func(t *testing.T) { testCreateShare(t, h) })
		t.Run("ListShares", func(t *testing.T) { testListShares(t, h) })
		t.Run("RevokeShare", func(t *testing.T) { testRevokeShare(t, h) })
		t.Run("OpenAccess", func(t *testing.T) { testOpenAccess(t, h) })
		t.Run("IssueKey", func(t *testing.T) { testIssueKey(t, h) })
		t.Run("ClaimKey", func(t *testing.T) { testClaimKey(t, h) })
		t.Run("WrongHead", func(t *testing.T) { testWrongHead(t, h) })
		t.Run("MalformedCursor", func(t *testing.T) { testMalformedCursor(t, h) })
		t.Run("Concurrency", func(t *testing.T) { testShareConcurrency(t, h) })
		t.Run("AddSuspicion", func(t *testing.T) { testAddSuspicion(t, h) })
	})
	// core.InboxStore.
	t.Run("Inbox", func(t *testing.T) {
		testInbox(t, h)
		t.Run("GetNotification", func(t *testing.T) { testGetNotification(t, h) })
	})
	// core.JobStore.
	t.Run("Jobs", func(t *testing.T) {
		t.Run("ListDue", func(t *testing.T) { testListDue(t, h) })
		t.Run("DueLifecycle", func(t *testing.T) { testDueLifecycle(t, h) })
		t.Run("AbandonUpload", func(t *testing.T) { testAbandonUpload(t, h) })
		t.Run("ExpireShare", func(t *testing.T) { testExpireShare(t, h) })
		t.Run("DeleteExpiredKey", func(t *testing.T) { testDeleteExpiredKey(t, h) })
		t.Run("Watermark", func(t *testing.T) { testWatermark(t, h) })
		t.Run("DailyReport", func(t *testing.T) { testDailyReport(t, h) })
	})
	// core.Counter.
	t.Run("Counter", func(t *testing.T) { testTally(t, h) })
}

// newStore makes a fresh store whose own clock reads the suite's fixed t0.
func newStore(t *testing.T, h Harness) core.Store {
	t.Helper()
	return h.New(t, func() time.Time { return t0 })
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

// shareCmpOpts is cmpOpts with a share's devices compared as a set.
var shareCmpOpts = cmp.Options{
	cmpopts.EquateEmpty(),
	cmp.Transformer("deviceSet", func(s core.Share) core.Share {
		s.Devices = slices.Sorted(slices.Values(s.Devices))
		return s
	}),
}

// maxPages stops a list whose cursor never ends.
const maxPages = 1000

var kindNames = map[core.Kind]string{
	core.KindInternal:     "internal",
	core.KindInvalid:      "invalid",
	core.KindUnauthorized: "unauthorized",
	core.KindForbidden:    "forbidden",
	core.KindNotFound:     "not found",
	core.KindConflict:     "conflict",
	core.KindGone:         "gone",
	core.KindTooLarge:     "too large",
	core.KindRateLimited:  "rate limited",
	core.KindUnavailable:  "unavailable",
}

// KindName returns the name of k that failure messages use ("not found"), or
// "kind(N)" for a kind the core does not define.
func KindName(k core.Kind) string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// WantKind fails t unless err is of kind want; op names the call that
// returned err.
func WantKind(t *testing.T, op string, err error, want core.Kind) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: got nil error, want kind %s", op, KindName(want))
	case core.KindOf(err) != want:
		t.Errorf("%s: got error %q of kind %s, want kind %s", op, err, KindName(core.KindOf(err)), KindName(want))
	}
}

// WantCode fails t unless err is of kind want with the stable code code; op
// names the call that returned err.
func WantCode(t *testing.T, op string, err error, want core.Kind, code string) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: got nil error, want kind %s with code %s", op, KindName(want), code)
	case core.KindOf(err) != want || core.CodeOf(err) != code:
		t.Errorf("%s: got error %q of kind %s with code %s, want kind %s with code %s",
			op, err, KindName(core.KindOf(err)), core.CodeOf(err), KindName(want), code)
	}
}

// wantRule fails t unless err is the refusal rule (one of the entities'
// rules, core.Share.RefuseUse and the others, asked of the items as stored
// before the call) gives: the same kind, code and message, so that a store
// answers as the service and the other store do.
func wantRule(t *testing.T, op string, err, rule error) {
	t.Helper()
	var got, want *core.Error
	if !errors.As(rule, &want) {
		t.Fatalf("%s: the rule refuses nothing (%v): a refusal case the rule does not cover", op, rule)
	}
	if !errors.As(err, &got) || got.Kind != want.Kind || got.Code != want.Code || got.Message != want.Message {
		t.Errorf("%s: got %v, want the rule's refusal: kind %s, code %s, message %q", op, err, KindName(want.Kind), want.Code, want.Message)
	}
}

// Must stops the test when a setup step fails; op names the step.
func Must(t *testing.T, op string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
}

// WantUTC fails t for every time in times that is not in UTC (Location() ==
// time.UTC); what names the value the times are fields of, keyed by field
// name.
func WantUTC(t *testing.T, what string, times map[string]time.Time) {
	t.Helper()
	for name, tm := range times {
		if tm.Location() != time.UTC {
			t.Errorf("%s.%s: got location %q, want UTC", what, name, tm.Location())
		}
	}
}

// Digest returns the SHA-256 of s, as fixtures give their content digests.
func Digest(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// Collect follows a list's cursors to the end and returns its pages: it calls
// list with core.Page{Limit: limit}, then with each cursor list returns, until
// the cursor "". It drops the one empty last page an adapter may return after
// an exactly full page, and fails t when a page is longer than limit, when any
// other page is empty, or when the list does not end within 1000 pages.
func Collect[T any](t *testing.T, op string, limit int, list func(core.Page) ([]T, string, error)) [][]T {
	t.Helper()
	var pages [][]T
	page := core.Page{Limit: limit}
	for range maxPages {
		items, next, err := list(page)
		if err != nil {
			t.Fatalf("%s (page %d, cursor %q): %v", op, len(pages)+1, page.Cursor, err)
		}
		if len(items) > limit {
			t.Errorf("%s page %d: got %d items, want at most %d", op, len(pages)+1, len(items), limit)
		}
		pages = append(pages, items)
		if next == "" {
			return trimEmptyLast(t, op, pages)
		}
		page.Cursor = next
	}
	t.Fatalf("%s: no end after %d pages", op, maxPages)
	return nil
}

// trimEmptyLast drops the one empty last page an adapter may return after an
// exactly full page; any other empty page is an error.
func trimEmptyLast[T any](t *testing.T, op string, pages [][]T) [][]T {
	t.Helper()
	if n := len(pages); n > 1 && len(pages[n-1]) == 0 {
		pages = pages[:n-1]
	}
	for i, p := range pages {
		if len(p) == 0 && len(pages) > 1 {
			t.Errorf("%s: page %d of %d is empty", op, i+1, len(pages))
		}
	}
	return pages
}

func pageSizes[T any](pages [][]T) []int {
	sizes := make([]int, len(pages))
	for i, p := range pages {
		sizes[i] = len(p)
	}
	return sizes
}

// Flatten returns the items of pages, in order.
func Flatten[T any](pages [][]T) []T {
	var all []T
	for _, p := range pages {
		all = append(all, p...)
	}
	return all
}

// ctx is the context of one test.
func ctx(t *testing.T) context.Context { return t.Context() }
