package storetest

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
)

// maxDuePages stops a ListDue walk whose cursor never ends. A walk may pass
// one empty page per hour of its range, and the suite's ranges span a few
// days.
const maxDuePages = 2000

// listDue follows ListDue's cursors from the first page to "" with pages
// of limit, and returns every item listed, ordered by due time and id. It
// allows empty pages, and fails t when a page is longer than limit, when an
// item is listed twice, when a due time is not in UTC or when the walk does
// not end.
func listDue(t *testing.T, s core.Store, kind core.DueKind, from, until time.Time, limit int) []core.DueItem {
	t.Helper()
	op := fmt.Sprintf("ListDue(%s, %v, %v)", kind, from, until)
	page := core.Page{Limit: limit}
	seen := map[core.DueItem]bool{}
	var all []core.DueItem
	for n := range maxDuePages {
		items, next, err := s.ListDue(ctx(t), kind, from, until, page)
		if err != nil {
			t.Fatalf("%s page %d (cursor %q): %v", op, n+1, page.Cursor, err)
		}
		if len(items) > limit {
			t.Errorf("%s page %d: got %d items, want at most %d", op, n+1, len(items), limit)
		}
		for _, it := range items {
			WantUTC(t, "DueItem "+it.ID, map[string]time.Time{"Due": it.Due})
			key := core.DueItem{Kind: it.Kind, Due: it.Due.UTC(), ID: it.ID, Owner: it.Owner}
			if seen[key] {
				t.Errorf("%s: %+v listed twice", op, it)
			}
			seen[key] = true
		}
		all = append(all, items...)
		if next == "" {
			sortDue(all)
			return all
		}
		page.Cursor = next
	}
	t.Fatalf("%s: no end after %d pages", op, maxDuePages)
	return nil
}

func sortDue(items []core.DueItem) {
	slices.SortFunc(items, func(a, b core.DueItem) int {
		return cmp.Or(a.Due.Compare(b.Due), strings.Compare(a.ID, b.ID), strings.Compare(a.Owner, b.Owner))
	})
}

// wantDue fails t unless ListDue of kind over [from, until], read in pages
// of limit, lists exactly want (in any order).
func wantDue(t *testing.T, s core.Store, kind core.DueKind, from, until time.Time, limit int, want []core.DueItem) {
	t.Helper()
	want = slices.Clone(want)
	sortDue(want)
	got := listDue(t, s, kind, from, until, limit)
	if diff := gocmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("ListDue(%s, %v, %v) with limit %d mismatch (-want +got):\n%s", kind, from, until, limit, diff)
	}
}

// The range the suite watches when it checks that a write changed no due
// item, or only some: every due time of the fixtures near t0.
var (
	watchFrom  = t0.Add(-3 * time.Hour)
	watchUntil = t0.Add(21 * time.Hour)
)

// dueState returns every item of each kind due in the watched range.
func dueState(t *testing.T, s core.Store) map[core.DueKind][]core.DueItem {
	t.Helper()
	st := map[core.DueKind][]core.DueItem{}
	for _, k := range core.DueKinds {
		st[k] = listDue(t, s, k, watchFrom, watchUntil, 100)
	}
	return st
}

// wantWatched fails t unless the items due in the watched range are want,
// kind by kind (a kind missing from want has none).
func wantWatched(t *testing.T, s core.Store, what string, want map[core.DueKind][]core.DueItem) {
	t.Helper()
	full := map[core.DueKind][]core.DueItem{}
	for _, k := range core.DueKinds {
		full[k] = slices.Clone(want[k])
		sortDue(full[k])
	}
	if diff := gocmp.Diff(full, dueState(t, s), cmpOpts); diff != "" {
		t.Errorf("%s: due items mismatch (-want +got):\n%s", what, diff)
	}
}

// DueItems as ListDue names them.

func uploadDue(p core.Photo) core.DueItem {
	return core.DueItem{Kind: core.DueUpload, Due: dueAt(p.UploadExpiresAt), ID: p.ID, Owner: p.OwnerID}
}

func chatDue(c core.ChatImage) core.DueItem {
	return core.DueItem{Kind: core.DueUpload, Due: dueAt(c.UploadExpiresAt), ID: c.ID}
}

func shareDue(sh core.Share) core.DueItem {
	return core.DueItem{Kind: core.DueShare, Due: dueAt(sh.ExpiresAt), ID: sh.ID}
}

func keyDue(k core.EphemeralKey) core.DueItem {
	return core.DueItem{Kind: core.DueKey, Due: dueAt(k.ExpiresAt), ID: k.ID}
}

func noteDue(n core.Notification) core.DueItem {
	return core.DueItem{Kind: core.DueNotification, Due: dueAt(n.CreatedAt), ID: n.ID, Owner: n.RecipientID}
}

func notesDue(notes ...core.Notification) []core.DueItem {
	var items []core.DueItem
	for _, n := range notes {
		items = append(items, noteDue(n))
	}
	return items
}

// dueMakers are the ways the suite makes a due item of each kind. maker
// returns a function that stores, in s, a new item of its kind whose time
// (upload window end, expiry, creation) is tm, and returns the item as
// ListDue names it: due at dueAt(tm).
var dueMakers = []struct {
	kind  core.DueKind
	maker func(t *testing.T, s core.Store) func(tm time.Time) core.DueItem
}{
	{core.DueUpload, func(t *testing.T, s core.Store) func(time.Time) core.DueItem {
		// Photos of two owners and chat images, in turn.
		i := 0
		return func(tm time.Time) core.DueItem {
			i++
			switch i % 3 {
			case 0:
				return chatDue(createChatImage(t, s, tm))
			case 1:
				return uploadDue(createPhoto(t, s, "pat-1", tm))
			}
			return uploadDue(createPhoto(t, s, "pat-2", tm))
		}
	}},
	{core.DueShare, func(t *testing.T, s core.Store) func(time.Time) core.DueItem {
		return func(tm time.Time) core.DueItem {
			sh := newShare("pat-1", "dr-a", tm.Add(-time.Hour), tm)
			CreateShare(t, s, sh)
			return shareDue(sh)
		}
	}},
	{core.DueKey, func(t *testing.T, s core.Store) func(time.Time) core.DueItem {
		// Keys of one share that is active all along, each issued a
		// minute before it expires.
		var sh core.Share
		var a core.Access
		return func(tm time.Time) core.DueItem {
			if sh.ID == "" {
				sh, a = longShare(t, s, "pat-k", "dr-k")
			}
			issued := tm.Add(-core.MaxKeyTTL)
			k := newKey(sh, a.ID, issued, tm)
			MustIssue(t, s, k, issued)
			return keyDue(k)
		}
	}},
	{core.DueNotification, func(t *testing.T, s core.Store) func(time.Time) core.DueItem {
		// Notifications of AddSuspicion on one access, whose share's own
		// notifications are published, so that only the made ones are due.
		var a core.Access
		score := 0
		return func(tm time.Time) core.DueItem {
			if a.ID == "" {
				_, a = longShare(t, s, "pat-n", "dr-n")
				for _, it := range append(listInbox(t, s, "pat-n"), listInbox(t, s, "dr-n")...) {
					Must(t, "MarkPublished "+it.ID, s.MarkPublished(ctx(t), it.RecipientID, it.ID))
				}
			}
			n := Note(a.PatientID, core.NoteSuspicious, a.ShareID, tm)
			rec := Linked(t, s, Record(a.PatientID, a.ProfessionalID, core.RoleProfessional, actSuspicion, a.ID, tm))
			Must(t, "AddSuspicion "+a.ID, s.AddSuspicion(ctx(t), a.ID, score, score+1, "", rec, n))
			score++
			return noteDue(n)
		}
	}},
}

// longShare creates a share of patient for professional that is active
// from two days before day0 to six days after, with views to spare, and an
// access to it, and returns them.
func longShare(t *testing.T, s core.Store, patient, professional string) (core.Share, core.Access) {
	t.Helper()
	created := day0.Add(-48 * time.Hour)
	sh := newShare(patient, professional, created, day0.Add(6*24*time.Hour))
	sh.MaxViews = 1000
	CreateShare(t, s, sh)
	a := NewAccess(sh, "device-1", created.Add(time.Minute))
	MustOpen(t, s, a, created.Add(time.Minute))
	return sh, a
}

func testListDue(t *testing.T, h Harness) {
	t.Run("Kinds", func(t *testing.T) {
		// One store with items of every kind: each kind lists its own, due
		// at their time rounded up, with the owner the port names.
		s := newStore(t, h)
		photo := createPhoto(t, s, "pat-1", t0.Add(uploadWindow))
		img := createChatImage(t, s, t0.Add(uploadWindow+time.Second))
		sh, a, ws := activeShareUntil(t, s, t0.Add(shareTTL))
		k := newKey(sh, a.ID, tNow, tNow.Add(core.MaxKeyTTL))
		ws = append(ws, MustIssue(t, s, k, tNow))
		from, until := t0.Add(-time.Hour), t0.Add(2*time.Hour)
		for _, limit := range []int{1, 100} {
			t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
				wantDue(t, s, core.DueUpload, from, until, limit, []core.DueItem{uploadDue(photo), chatDue(img)})
				wantDue(t, s, core.DueShare, from, until, limit, []core.DueItem{shareDue(sh)})
				wantDue(t, s, core.DueKey, from, until, limit, []core.DueItem{keyDue(k)})
				wantDue(t, s, core.DueNotification, from, until, limit, notesDue(notesOf(ws...)...))
			})
		}
		// The values themselves, spelled out once: the photo's window ends
		// at 15:24:26.535897932, so it is due at 15:24:27; the chat image
		// carries no owner; the notification's owner is its recipient.
		got := listDue(t, s, core.DueUpload, from, until, 100)
		want := []core.DueItem{
			{Kind: core.DueUpload, Due: time.Date(2026, 3, 14, 15, 24, 27, 0, time.UTC), ID: photo.ID, Owner: "pat-1"},
			{Kind: core.DueUpload, Due: time.Date(2026, 3, 14, 15, 24, 28, 0, time.UTC), ID: img.ID, Owner: ""},
		}
		if diff := gocmp.Diff(want, got, cmpOpts); diff != "" {
			t.Errorf("ListDue(upload) mismatch (-want +got):\n%s", diff)
		}
		n := ws[0].Notes[0]
		if got := listDue(t, s, core.DueNotification, t0, t0.Add(time.Second), 100); !slices.ContainsFunc(got, func(it core.DueItem) bool {
			return it.ID == n.ID && it.Owner == "dr-a" && it.Due.Equal(time.Date(2026, 3, 14, 15, 9, 27, 0, time.UTC))
		}) {
			t.Errorf("ListDue(notification) around t0: got %+v, want %s of dr-a due at 15:09:27", got, n.ID)
		}
	})

	t.Run("Bounds", func(t *testing.T) {
		// Both bounds are inclusive and taken in whole seconds, truncated;
		// an item's due time is its time rounded up.
		from := day0.Add(10 * time.Hour)
		until := from.Add(2 * time.Hour)
		for _, m := range dueMakers {
			t.Run(string(m.kind), func(t *testing.T) {
				s := newStore(t, h)
				mk := m.maker(t, s)
				var (
					beforeFrom  = mk(from.Add(-time.Second))
					justBefore  = mk(from.Add(-time.Nanosecond)) // due at from
					atFrom      = mk(from)
					afterFrom   = mk(from.Add(400 * time.Millisecond)) // due at from+1s
					justBelow   = mk(until.Add(-time.Nanosecond))      // due at until
					atUntil     = mk(until)
					justAfter   = mk(until.Add(time.Nanosecond)) // due at until+1s
					secondAfter = mk(until.Add(time.Second))
				)
				inRange := []core.DueItem{justBefore, atFrom, afterFrom, justBelow, atUntil}
				for _, tc := range []struct {
					name        string
					from, until time.Time
					want        []core.DueItem
				}{
					{"whole seconds", from, until, inRange},
					{"fractions of a second are truncated", from.Add(500 * time.Millisecond), until.Add(999999999), inRange},
					{"a second in", from.Add(time.Second), until.Add(-time.Second), []core.DueItem{afterFrom}},
					{"the second after", until.Add(time.Second), until.Add(time.Second), []core.DueItem{justAfter, secondAfter}},
					{"the second before", from.Add(-time.Second), from.Add(-time.Second), []core.DueItem{beforeFrom}},
					{"one second", from, from, []core.DueItem{justBefore, atFrom}},
					{"nothing due", until.Add(time.Hour), until.Add(3 * time.Hour), nil},
					{"in another zone", from.In(elsewhere), until.In(elsewhere), inRange},
				} {
					t.Run(tc.name, func(t *testing.T) {
						for _, limit := range []int{1, 100} {
							wantDue(t, s, m.kind, tc.from, tc.until, limit, tc.want)
						}
					})
				}
			})
		}
	})

	t.Run("AcrossHoursAndDays", func(t *testing.T) {
		// Items due over three days, in many UTC hours, on hour and day
		// boundaries, rounded up across them, and three within one second:
		// one walk over the range finds each once, whatever the page size.
		times := []time.Time{
			day0,
			day0.Add(time.Hour - time.Nanosecond), // due at 01:00:00
			day0.Add(time.Hour + time.Nanosecond), // due at 01:00:01
			day0.Add(5*time.Hour + 30*time.Minute),
			day0.Add(24*time.Hour - 500*time.Millisecond), // due at 00:00 of the next day
			day0.Add(36*time.Hour + 100*time.Millisecond),
			day0.Add(36*time.Hour + 200*time.Millisecond),
			day0.Add(36*time.Hour + 300*time.Millisecond), // the three due at the same second
			day0.Add(49*time.Hour + 17*time.Minute + 3*time.Second),
			day0.Add(72*time.Hour - time.Second),
			day0.Add(72*time.Hour - time.Nanosecond), // due at the end of the range
		}
		outside := []time.Time{day0.Add(-time.Second), day0.Add(72*time.Hour + time.Nanosecond)}
		for _, m := range dueMakers {
			t.Run(string(m.kind), func(t *testing.T) {
				s := newStore(t, h)
				mk := m.maker(t, s)
				var all []core.DueItem
				for _, tm := range times {
					all = append(all, mk(tm))
				}
				for _, tm := range outside {
					mk(tm)
				}
				for _, limit := range []int{1, 2, 3, 100} {
					t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
						wantDue(t, s, m.kind, day0, day0.Add(72*time.Hour), limit, all)
					})
				}
				t.Run("one hour", func(t *testing.T) {
					wantDue(t, s, m.kind, day0.Add(time.Hour), day0.Add(2*time.Hour-time.Second), 1, all[1:3])
				})
				t.Run("the first day", func(t *testing.T) {
					wantDue(t, s, m.kind, day0, day0.Add(24*time.Hour-time.Second), 2, all[:4])
				})
				t.Run("from the second day", func(t *testing.T) {
					wantDue(t, s, m.kind, day0.Add(24*time.Hour), day0.Add(72*time.Hour), 2, all[4:])
				})
			})
		}
	})

	t.Run("MalformedCursor", func(t *testing.T) {
		s := newStore(t, h)
		for range 2 {
			createPhoto(t, s, "pat-1", t0.Add(uploadWindow))
			sh := newShare("pat-1", "dr-a", t0, t0.Add(shareTTL))
			CreateShare(t, s, sh)
		}
		from, until := t0.Add(-time.Hour), t0.Add(2*time.Hour)
		cursorOf := func(kind core.DueKind) string {
			t.Helper()
			_, next, err := s.ListDue(ctx(t), kind, from, until, core.Page{Limit: 1})
			Must(t, "ListDue "+string(kind), err)
			if next == "" {
				t.Fatalf("ListDue(%s) of two items with limit 1: got no cursor", kind)
			}
			return next
		}
		uploadCursor, shareCursor := cursorOf(core.DueUpload), cursorOf(core.DueShare)
		_, inboxCursor, err := s.ListInbox(ctx(t), "dr-a", core.Page{Limit: 1})
		Must(t, "ListInbox", err)
		for _, tc := range []struct {
			name   string
			kind   core.DueKind
			cursor string
		}{
			{"not base64", core.DueUpload, "%%% not a cursor"},
			{"base64 of nothing the store made", core.DueUpload, "bm90IGEgY3Vyc29y"},
			{"a share cursor for uploads", core.DueUpload, shareCursor},
			{"an upload cursor for shares", core.DueShare, uploadCursor},
			{"an upload cursor for keys", core.DueKey, uploadCursor},
			{"an inbox cursor", core.DueNotification, inboxCursor},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, _, err := s.ListDue(ctx(t), tc.kind, from, until, core.Page{Cursor: tc.cursor, Limit: 1})
				WantKind(t, "ListDue", err, core.KindInvalid)
			})
		}
		// The cursors themselves work.
		if items, _, err := s.ListDue(ctx(t), core.DueShare, from, until, core.Page{Cursor: shareCursor, Limit: 10}); err != nil || len(items) > 2 {
			t.Errorf("ListDue(share) from its own cursor: got %d items, %v; want at most 2 and nil", len(items), err)
		}
	})

	t.Run("UnknownKind", func(t *testing.T) {
		s := newStore(t, h)
		_, _, err := s.ListDue(ctx(t), core.DueKind("photo"), t0, t0.Add(time.Hour), core.Page{Limit: 10})
		WantKind(t, "ListDue of an unknown kind", err, core.KindInvalid)
	})
}
