// Package storetest is the contract suite of the core.Store port. Every
// implementation (the embedded bbolt store in every `go test`, the DynamoDB
// store against the emulator) runs it from its own tests:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, storetest.Harness{New: newStore, Tamper: tamper})
//	}
//
// Besides the contracts written on the port in shared/core/ports.go, the suite
// fixes what the port leaves to the adapters, and every adapter must do the
// same:
//
//   - Times round-trip at nanosecond precision and come back in UTC
//     (Location() == time.UTC) whatever zone they were stored in.
//   - A nil and an empty byte slice or string list are the same value.
//   - Slices keep their order (Participants, ProfessionalIDs).
//   - A photo's key is (owner, id): the same id under another owner is another
//     photo.
//   - A list ends with the cursor "". When the last page is exactly full an
//     adapter may return one more, empty, page before "".
//   - A cursor that the store did not issue for that kind of list (garbage, or
//     a cursor of another list) is KindInvalid.
//   - Page.Limit > 0 is honoured exactly; the suite does not use Limit <= 0.
//   - MarkPhotoReady and MarkChatImageReady check the window first: at or after
//     UploadExpiresAt a PENDING upload is KindNotFound whatever was observed; a
//     READY upload never expires, and observing another object for it is
//     KindConflict.
//   - "Participants change" means the patient or the set of professionals
//     changes, as core.Appointment.SameParticipants defines it; reordering the
//     professionals is not a change.
//   - A failed AppendAudit writes nothing, not even to the by-actor index.
//
// The suite never sleeps: every time is passed to the port explicitly.
//
// The package also exports the checks and helpers that the suites of the
// other store ports (sharetest, jobtest) share with this one, so that every
// suite reads lists, compares error kinds, checks chains and races writers
// the same way: Collect, Flatten, RunAll, WantKind, WantCode, KindName,
// WantUTC, WantVerified, HeadOf, Must and Digest.
package storetest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/medshare/medshare/shared/core"
)

// Harness gives the suite a fresh, empty store per test and a way to tamper
// with stored audit records.
type Harness struct {
	// New returns a fresh, empty store; it registers its own cleanup with
	// t.Cleanup.
	New func(t *testing.T) core.Store
	// Tamper rewrites the stored audit record (patientID, seq) in place by
	// applying mutate, bypassing every check (simulates an attacker with raw DB
	// access). It changes neither the record's key nor the chain head.
	Tamper func(t *testing.T, s core.Store, patientID string, seq uint64, mutate func(*core.AuditRecord))
}

// Run runs the whole contract suite against the store that h makes.
func Run(t *testing.T, h Harness) {
	if h.New == nil {
		t.Fatal("storetest: Harness.New is nil")
	}
	t.Run("Ping", func(t *testing.T) {
		if err := h.New(t).Ping(t.Context()); err != nil {
			t.Errorf("Ping: got %v, want nil", err)
		}
	})
	t.Run("Photos", func(t *testing.T) { testPhotos(t, h) })
	t.Run("Chat", func(t *testing.T) { testChat(t, h) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, h) })
	t.Run("Cursors", func(t *testing.T) { testCursors(t, h) })
	t.Run("ActorHistory", func(t *testing.T) { testActorHistory(t, h) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, h) })
	t.Run("Tamper", func(t *testing.T) {
		if h.Tamper == nil {
			t.Skip("storetest: Harness.Tamper is nil")
		}
		testTamper(t, h)
	})
}

// t0 is the suite's "now": nanoseconds set, so that precision loss shows.
var t0 = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

// elsewhere is a zone that is not UTC, to check that stores return UTC.
var elsewhere = time.FixedZone("UTC+05:30", 5*3600+1800)

// cmpOpts compares stored values: times by instant (cmp uses time.Time.Equal),
// nil and empty slices as equal.
var cmpOpts = cmp.Options{cmpopts.EquateEmpty()}

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
