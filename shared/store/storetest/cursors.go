package storetest

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
)

// testCursors checks that page cursors are bound to the list and the caller
// that got them, and that they name nothing of other parties (issue 10 §2).
func testCursors(t *testing.T, h Harness) {
	t.Run("BoundToCallerAndList", func(t *testing.T) {
		s := newStore(t, h)
		for _, owner := range []string{"pat-1", "pat-2"} {
			createPhotos(t, s, owner, 3)
			appendChain(t, s, owner, 3, nil)
		}
		appendChain(t, s, "pat-3", 3, func(_ int, r *core.AuditRecord) { r.ActorID = "dr-b" })
		photos := firstCursor(t, "ListPhotos pat-1", photoLister(t, s, "pat-1"))
		chainUp := firstCursor(t, "ListAudit pat-1", chainLister(t, s, "pat-1", false))
		chainDown := firstCursor(t, "ListAudit pat-1 newest first", chainLister(t, s, "pat-1", true))
		actor := firstCursor(t, "ListAuditByActor dr-a", actorLister(t, s, "dr-a"))
		wantCursorsRefused(t, []refusedCursor{
			{"photos of another owner", photoLister(t, s, "pat-2"), photos},
			{"chain of another patient", chainLister(t, s, "pat-2", false), chainUp},
			{"ascending chain cursor, newest first", chainLister(t, s, "pat-1", true), chainUp},
			{"newest-first chain cursor, ascending", chainLister(t, s, "pat-1", false), chainDown},
			{"records of another actor", actorLister(t, s, "dr-b"), actor},
			{"actor cursor, the patient's chain", chainLister(t, s, "pat-1", true), actor},
		})
	})

	t.Run("ActorCursorNamesNoPatient", func(t *testing.T) {
		s := newStore(t, h)
		for _, p := range []string{"pat-secret-1", "pat-secret-2"} {
			appendChain(t, s, p, 3, nil)
		}
		page := core.Page{Limit: 1}
		for n := 0; ; n++ {
			_, next, err := s.ListAuditByActor(ctx(t), "dr-a", page)
			Must(t, "ListAuditByActor", err)
			if next == "" {
				if n != 5 {
					t.Errorf("got %d cursors, want 5", n)
				}
				break
			}
			raw, _ := base64.RawURLEncoding.DecodeString(next)
			for _, text := range []string{next, string(raw)} {
				if strings.Contains(text, "pat-secret") || strings.Contains(text, "SEQ#") {
					t.Errorf("cursor %q (decoded %q) names a patient or a record key", next, raw)
				}
			}
			page.Cursor = next
		}
	})

	t.Run("ActorPagesAcrossRecordsOfOneInstant", func(t *testing.T) {
		// Records of one actor at the very same time (a test clock, or a
		// coarse one), across chains: every page size lists each exactly
		// once, in the order of one long page.
		s := newStore(t, h)
		same := t0.Add(time.Hour)
		for i, p := range []string{"pat-a", "pat-b", "pat-c"} {
			appendChain(t, s, p, 3+i, func(j int, r *core.AuditRecord) {
				if j <= 3 {
					r.At = same
				} else {
					r.At = same.Add(time.Duration(j) * time.Second)
				}
			})
		}
		whole, next, err := s.ListAuditByActor(ctx(t), "dr-a", core.Page{Limit: 100})
		Must(t, "ListAuditByActor", err)
		if len(whole) != 12 || next != "" {
			t.Fatalf("one page: %d records and cursor %q, want 12 and none", len(whole), next)
		}
		if !slices.IsSortedFunc(whole, func(a, b core.AuditRecord) int { return b.At.Compare(a.At) }) {
			t.Errorf("one page is not newest first")
		}
		for _, limit := range []int{1, 2, 3, 4, 5, 8, 9} {
			t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
				pages := Collect(t, "ListAuditByActor", limit, func(pg core.Page) ([]core.AuditRecord, string, error) {
					return s.ListAuditByActor(ctx(t), "dr-a", pg)
				})
				if diff := cmp.Diff(whole, Flatten(pages), cmpOpts); diff != "" {
					t.Errorf("pages of %d mismatch one page (-want +got):\n%s", limit, diff)
				}
			})
		}
	})
}

// testActorHistory checks which records the by-actor index lists: what the
// actor did, and the denials whose precise reason the actor was told; not
// a denial the actor got as the same 404 an unknown id gets, which would
// tell them the thing exists (issue 10 §2). The chain keeps every record.
func testActorHistory(t *testing.T, h Harness) {
	s := newStore(t, h)
	type rec struct {
		outcome, reason string
		listed          bool
	}
	cases := []rec{
		{core.OutcomeSuccess, "", true},
		{core.OutcomeDenied, core.CodeNotFound, false},
		{core.OutcomeDenied, core.CodeSessionRevoked, true},
		{core.OutcomeDenied, core.CodeViewsExhausted, true},
		{core.OutcomeDenied, core.CodeDeviceMismatch, true},
		{core.OutcomeDenied, core.CodeRateLimited, false},
		{core.OutcomeFailed, core.CodeInternal, false},
	}
	chain := appendChain(t, s, "pat-1", len(cases), func(i int, r *core.AuditRecord) {
		r.Outcome, r.Reason = cases[i-1].outcome, cases[i-1].reason
	})
	var want []core.AuditRecord
	for i, c := range cases {
		if c.listed {
			want = append(want, chain[i])
		}
		if got := chain[i].InActorHistory(); got != c.listed {
			t.Errorf("InActorHistory of a %s record with reason %q = %v, want %v", c.outcome, c.reason, got, c.listed)
		}
	}
	slices.Reverse(want)
	got := Flatten(Collect(t, "ListAuditByActor", 2, func(pg core.Page) ([]core.AuditRecord, string, error) {
		return s.ListAuditByActor(ctx(t), "dr-a", pg)
	}))
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("ListAuditByActor mismatch (-want +got):\n%s", diff)
	}
	wantChain(t, s, "pat-1", chain)
}

// A lister lists the page of one item of one list that follows cursor,
// and returns the next page's cursor.
type lister func(cursor string) (string, error)

// pageOf is the lister of list, a store's list method.
func pageOf[T any](list func(core.Page) ([]T, string, error)) lister {
	return func(c string) (string, error) {
		_, next, err := list(core.Page{Cursor: c, Limit: 1})
		return next, err
	}
}

func photoLister(t *testing.T, s core.Store, owner string) lister {
	return pageOf(func(pg core.Page) ([]core.Photo, string, error) { return s.ListPhotos(ctx(t), owner, pg) })
}

func chainLister(t *testing.T, s core.Store, patient string, newestFirst bool) lister {
	return pageOf(func(pg core.Page) ([]core.AuditRecord, string, error) {
		return s.ListAudit(ctx(t), patient, newestFirst, pg)
	})
}

func actorLister(t *testing.T, s core.Store, actor string) lister {
	return pageOf(func(pg core.Page) ([]core.AuditRecord, string, error) { return s.ListAuditByActor(ctx(t), actor, pg) })
}

func shareLister(t *testing.T, s core.Store, party string, role core.Role) lister {
	return pageOf(func(pg core.Page) ([]core.Share, string, error) { return s.ListShares(ctx(t), party, role, pg) })
}

func inboxLister(t *testing.T, s core.Store, recipient string) lister {
	return pageOf(func(pg core.Page) ([]core.InboxItem, string, error) { return s.ListInbox(ctx(t), recipient, pg) })
}

// firstCursor is the cursor after the first page of list, which must
// have one; name names the list.
func firstCursor(t *testing.T, name string, list lister) string {
	t.Helper()
	c, err := list("")
	Must(t, name, err)
	if c == "" {
		t.Fatalf("%s: got no cursor, want one", name)
	}
	return c
}

// A refusedCursor is a cursor that its list must refuse.
type refusedCursor struct {
	name   string
	list   lister
	cursor string
}

// wantCursorsRefused checks that each list refuses its cursor with
// KindInvalid, in a subtest of each case's name.
func wantCursorsRefused(t *testing.T, cases []refusedCursor) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.list(tc.cursor)
			WantKind(t, tc.name, err, core.KindInvalid)
		})
	}
}
