package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
)

func testInbox(t *testing.T, h Harness) {
	t.Run("NewestFirst", func(t *testing.T) {
		s := newStore(t, h)
		// Notifications written out of time order, one millisecond or more
		// apart (the resolution of a sortable id); dr-a10's and dr-'s
		// inboxes start like dr-a's and must never leak into it.
		var want []core.InboxItem
		for i, ms := range []int{3, 1, 4, 0, 5, 2, 6} {
			sh := NewShare(fmt.Sprintf("pat-%d", i), "dr-a", t0.Add(time.Duration(ms)*time.Millisecond))
			want = append(want, Unread(CreateShare(t, s, sh).Notes[0]))
		}
		CreateShare(t, s, NewShare("pat-1", "dr-a10", t0.Add(time.Minute)))
		CreateShare(t, s, NewShare("pat-1", "dr-", t0.Add(time.Minute)))
		slices.SortFunc(want, func(a, b core.InboxItem) int { return strings.Compare(b.ID, a.ID) })
		for _, limit := range []int{1, 3, 7, 100} {
			t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
				got := Flatten(ListInbox(t, s, "dr-a", limit))
				if diff := cmp.Diff(want, got, shareCmpOpts); diff != "" {
					t.Errorf("ListInbox(dr-a) mismatch (-want +got):\n%s", diff)
				}
			})
		}
		if got := Flatten(ListInbox(t, s, "dr-nobody", 10)); len(got) != 0 {
			t.Errorf("ListInbox(dr-nobody): got %d items, want none", len(got))
		}
	})

	t.Run("MarkRead", func(t *testing.T) {
		s := newStore(t, h)
		n := CreateShare(t, s, NewShare("pat-1", "dr-a", t0)).Notes[0]
		other := CreateShare(t, s, NewShare("pat-1", "dr-b", t0.Add(time.Second))).Notes[0]
		want := core.InboxItem{Notification: n, Read: true}
		for i := range 2 { // marking read twice is harmless
			got, err := s.MarkRead(ctx(t), "dr-a", n.ID)
			Must(t, "MarkRead", err)
			if diff := cmp.Diff(want, got, shareCmpOpts); diff != "" {
				t.Errorf("MarkRead %d returned (-want +got):\n%s", i, diff)
			}
		}
		w := world{parties: []string{"pat-1", "dr-a", "dr-b"}}
		before := observe(t, s, w)
		if diff := cmp.Diff([]core.InboxItem{want}, before.Inboxes["dr-a"], shareCmpOpts); diff != "" {
			t.Errorf("ListInbox(dr-a) after MarkRead mismatch (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]core.InboxItem{Unread(other)}, before.Inboxes["dr-b"], shareCmpOpts); diff != "" {
			t.Errorf("ListInbox(dr-b) after dr-a's MarkRead mismatch (-want +got):\n%s", diff)
		}
		for _, tc := range []struct{ name, recipient, id string }{
			{"another recipient's notification", "dr-a", other.ID},
			{"as another recipient", "dr-b", n.ID},
			{"as the patient", "pat-1", n.ID},
			{"unknown notification", "dr-a", core.NewSortableID("nt", t0)},
		} {
			_, err := s.MarkRead(ctx(t), tc.recipient, tc.id)
			WantKind(t, "MarkRead, "+tc.name, err, core.KindNotFound)
		}
		wantUnchanged(t, s, w, before, "MarkRead of a notification that is not the recipient's")
	})

	t.Run("MarkPublished", func(t *testing.T) {
		s := newStore(t, h)
		n := CreateShare(t, s, NewShare("pat-1", "dr-a", t0)).Notes[0]
		other := CreateShare(t, s, NewShare("pat-1", "dr-b", t0.Add(time.Second))).Notes[0]
		// New items start unpublished.
		if got := Flatten(ListInbox(t, s, "dr-a", 10)); len(got) != 1 || got[0].Published || got[0].Read {
			t.Fatalf("ListInbox(dr-a): got %+v, want one item neither read nor published", got)
		}
		Must(t, "MarkPublished", s.MarkPublished(ctx(t), "dr-a", n.ID))
		Must(t, "MarkPublished again", s.MarkPublished(ctx(t), "dr-a", n.ID))
		w := world{parties: []string{"pat-1", "dr-a", "dr-b", "dr-c"}}
		before := observe(t, s, w)
		if diff := cmp.Diff([]core.InboxItem{{Notification: n, Published: true}}, before.Inboxes["dr-a"], shareCmpOpts); diff != "" {
			t.Errorf("ListInbox(dr-a) after MarkPublished mismatch (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]core.InboxItem{Unread(other)}, before.Inboxes["dr-b"], shareCmpOpts); diff != "" {
			t.Errorf("ListInbox(dr-b) after dr-a's MarkPublished mismatch (-want +got):\n%s", diff)
		}
		// Not the recipient's: not found, and no item appears anywhere.
		for _, tc := range []struct{ name, recipient, id string }{
			{"another recipient's notification", "dr-a", other.ID},
			{"as another recipient", "dr-c", n.ID},
			{"unknown notification", "dr-a", core.NewSortableID("nt", t0)},
		} {
			WantKind(t, "MarkPublished, "+tc.name, s.MarkPublished(ctx(t), tc.recipient, tc.id), core.KindNotFound)
		}
		wantUnchanged(t, s, w, before, "MarkPublished of a notification that is not the recipient's")

		// Each flag is its own.
		got, err := s.MarkRead(ctx(t), "dr-a", n.ID)
		Must(t, "MarkRead", err)
		if diff := cmp.Diff(core.InboxItem{Notification: n, Read: true, Published: true}, got, shareCmpOpts); diff != "" {
			t.Errorf("MarkRead of a published item returned (-want +got):\n%s", diff)
		}
	})
}

func testMalformedCursor(t *testing.T, h Harness) {
	s := newStore(t, h)
	for i := range 3 {
		CreateShare(t, s, NewShare("pat-1", "dr-a", t0.Add(time.Duration(i)*time.Second)))
	}
	byPatient := shareLister(t, s, "pat-1", core.RolePatient)
	byGrantee := shareLister(t, s, "dr-a", core.RoleProfessional)
	inbox := inboxLister(t, s, "dr-a")
	shareCursor := firstCursor(t, "ListShares", byPatient)
	inboxCursor := firstCursor(t, "ListInbox", inbox)
	chainCursor := firstCursor(t, "ListAudit", chainLister(t, s, "pat-1", false))
	// Cursors are bound to their caller, too (issue 10 §2).
	CreateShare(t, s, NewShare("pat-2", "dr-b", t0))
	CreateShare(t, s, NewShare("pat-2", "dr-b", t0.Add(time.Second)))
	otherPatient := shareLister(t, s, "pat-2", core.RolePatient)
	otherGrantee := shareLister(t, s, "dr-b", core.RoleProfessional)
	otherInbox := inboxLister(t, s, "dr-b")
	granteeCursor := firstCursor(t, "ListShares by grantee", byGrantee)
	wantCursorsRefused(t, []refusedCursor{
		{"ListShares by patient, not base64", byPatient, "%%% not a cursor"},
		{"ListShares by grantee, not base64", byGrantee, "%%% not a cursor"},
		{"ListShares by patient, inbox cursor", byPatient, inboxCursor},
		{"ListShares by grantee, inbox cursor", byGrantee, inboxCursor},
		{"ListShares by patient, audit cursor", byPatient, chainCursor},
		{"ListInbox, not base64", inbox, "%%% not a cursor"},
		{"ListInbox, share cursor", inbox, shareCursor},
		{"ListInbox, audit cursor", inbox, chainCursor},
		{"ListShares by patient, another patient's cursor", otherPatient, shareCursor},
		{"ListShares by grantee, another grantee's cursor", otherGrantee, granteeCursor},
		{"ListShares by grantee, the patient list's cursor", byGrantee, shareCursor},
		{"ListShares by patient, the grantee list's cursor", byPatient, granteeCursor},
		{"ListInbox, another recipient's cursor", otherInbox, inboxCursor},
	})
}

func testGetNotification(t *testing.T, h Harness) {
	s := newStore(t, h)
	n := CreateShare(t, s, newShare("pat-1", "dr-a", t0, t0.Add(shareTTL))).Notes[0]
	other := CreateShare(t, s, newShare("pat-1", "dr-b", t0.Add(time.Second), t0.Add(shareTTL))).Notes[0]

	get := func(t *testing.T, recipient, id string, want core.InboxItem) {
		t.Helper()
		got, err := s.GetNotification(ctx(t), recipient, id)
		Must(t, "GetNotification", err)
		if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
			t.Errorf("GetNotification(%s, %s) mismatch (-want +got):\n%s", recipient, id, diff)
		}
		WantUTC(t, "InboxItem", map[string]time.Time{"CreatedAt": got.CreatedAt})
	}
	t.Run("Found", func(t *testing.T) {
		get(t, "dr-a", n.ID, Unread(n))
		get(t, "dr-b", other.ID, Unread(other))
	})
	t.Run("Flags", func(t *testing.T) {
		Must(t, "MarkPublished", s.MarkPublished(ctx(t), "dr-a", n.ID))
		get(t, "dr-a", n.ID, core.InboxItem{Notification: n, Published: true})
		_, err := s.MarkRead(ctx(t), "dr-a", n.ID)
		Must(t, "MarkRead", err)
		get(t, "dr-a", n.ID, core.InboxItem{Notification: n, Read: true, Published: true})
	})
	t.Run("NotFound", func(t *testing.T) {
		for _, tc := range []struct{ name, recipient, id string }{
			{"another recipient's notification", "dr-a", other.ID},
			{"as another recipient", "dr-b", n.ID},
			{"as the patient", "pat-1", n.ID},
			{"as a recipient with no inbox", "dr-nobody", n.ID},
			{"unknown notification", "dr-a", core.NewSortableID("nt", t0)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.GetNotification(ctx(t), tc.recipient, tc.id)
				WantKind(t, "GetNotification", err, core.KindNotFound)
			})
		}
	})
}
