package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
)

// dueAt is when an item that expires (or is created) at tm is due: tm
// rounded up to the whole second, in UTC.
func dueAt(tm time.Time) time.Time {
	tm = tm.UTC()
	if r := tm.Truncate(time.Second); !r.Equal(tm) {
		return r.Add(time.Second)
	}
	return tm
}

// The fixtures and operations of the jobs' tests. Their photos, shares,
// accesses, keys, notifications and records are the shares' tests'
// (pendingPhoto, NewShare, NewAccess, NewKey, Note, Record), so that every
// part of the suite makes them the same way.

// createPhoto stores a new PENDING photo of owner whose window ends at
// windowEnd, and returns it.
func createPhoto(t *testing.T, s core.Store, owner string, windowEnd time.Time) core.Photo {
	t.Helper()
	p := pendingPhoto(owner, windowEnd)
	Must(t, "CreatePhoto "+p.ID, s.CreatePhoto(ctx(t), p))
	return p
}

// putJobAppointment stores the jobs' appointment, appt-1 of clinic-1
// (newAppointment), and returns it.
func putJobAppointment(t *testing.T, s core.Store) core.Appointment {
	t.Helper()
	a := newAppointment("appt-1")
	_, err := s.PutAppointment(ctx(t), a)
	Must(t, "PutAppointment "+a.ID, err)
	return a
}

// createChatImage stores a new PENDING chat image in the suite's
// appointment (which it stores first when it is not there) whose window
// ends at windowEnd, and returns it.
func createChatImage(t *testing.T, s core.Store, windowEnd time.Time) core.ChatImage {
	t.Helper()
	a, err := s.GetAppointment(ctx(t), "clinic-1", "appt-1")
	if core.KindOf(err) == core.KindNotFound {
		a, err = putJobAppointment(t, s), nil
	}
	Must(t, "GetAppointment appt-1", err)
	img := newChatImage(a)
	img.UploaderID = "dr-a"
	img.CreatedAt, img.UpdatedAt, img.UploadExpiresAt = windowEnd.Add(-uploadWindow), windowEnd.Add(-uploadWindow), windowEnd
	Must(t, "CreateChatImage "+img.ID, s.CreateChatImage(ctx(t), img))
	return img
}

// newShare returns NewShare of patient for professional, created
// at created, with one photo and expiring at expires: a new ACTIVE share
// allowing 5 views on 1 device.
func newShare(patient, professional string, created, expires time.Time) core.Share {
	sh := NewShare(patient, professional, created)
	sh.Photos = sh.Photos[:1]
	sh.ExpiresAt = expires
	return sh
}

// The actions of the suite's records, so that each write counts under its
// own StatKey: actCreate, actRevoke, actOpen, actIssue and actClaim are the
// actions that the shares' operations (shares_kit.go) write.
const (
	actCreate    = core.AuditShareCreate
	actRevoke    = core.AuditShareRevoke
	actExpire    = core.AuditShareExpire
	actOpen      = core.AuditAccessOpen
	actIssue     = core.AuditKeyIssue
	actClaim     = core.AuditKeyClaim
	actSuspicion = core.AuditActivityReport
	actAppend    = core.AuditPhotoFinalize // appended alone, through AuditStore.AppendAudit
)

// expireRecord is the cleanup job's record of expiring sh at now.
func expireRecord(sh core.Share, now time.Time) core.AuditRecord {
	return Record(sh.PatientID, core.CleanupID, core.RoleSystem, actExpire, sh.ID, now)
}

// expireNotes are the notifications of expiring sh at now: one to each
// party.
func expireNotes(sh core.Share, now time.Time) []core.Notification {
	return []core.Notification{
		Note(sh.PatientID, core.NoteSessionExpired, sh.ID, now),
		Note(sh.ProfessionalID, core.NoteSessionExpired, sh.ID, now),
	}
}

// newKey returns NewKey of sh for accessID, issued at now, but
// expiring at expires.
func newKey(sh core.Share, accessID string, now, expires time.Time) core.EphemeralKey {
	k := NewKey(sh, accessID, now)
	k.ExpiresAt = expires
	return k
}

// Operations through the ports, each with its notification and its record
// linked to the current head: shares_kit.go's (CreateShare, TryOpen,
// MustOpen, TryIssue, MustIssue), and the ones below. The must* forms stop
// the test on failure.

// revokeWritten revokes sh by its patient at at and checks that the call
// reports it revoked.
func revokeWritten(t *testing.T, s core.Store, sh core.Share, at time.Time) Written {
	t.Helper()
	n := Note(sh.ProfessionalID, core.NoteSessionRevoked, sh.ID, at)
	rec := Linked(t, s, Record(sh.PatientID, sh.PatientID, core.RolePatient, actRevoke, sh.ID, at))
	revoked, err := s.RevokeShare(ctx(t), sh.ID, sh.PatientID, at, "revoked in jobtest", rec, n)
	Must(t, "RevokeShare "+sh.ID, err)
	if !revoked {
		t.Fatalf("RevokeShare %s: got revoked=false, want true", sh.ID)
	}
	return Written{Notes: []core.Notification{n}, Rec: rec}
}

// tryClaim claims k as its own grantee at now.
func tryClaim(t *testing.T, s core.Store, k core.EphemeralKey, now time.Time) (core.EphemeralKey, Written, error) {
	t.Helper()
	return TryClaim(t, s, k, k.ProfessionalID, now)
}

func tryExpire(t *testing.T, s core.Store, sh core.Share, now time.Time) (bool, Written, error) {
	t.Helper()
	notes := expireNotes(sh, now)
	rec := Linked(t, s, expireRecord(sh, now))
	expired, err := s.ExpireShare(ctx(t), sh.ID, now, rec, notes...)
	return expired, Written{Notes: notes, Rec: rec}, err
}

// mustExpire expires sh at now and checks that the call reports it expired.
func mustExpire(t *testing.T, s core.Store, sh core.Share, now time.Time) Written {
	t.Helper()
	expired, w, err := tryExpire(t, s, sh, now)
	Must(t, "ExpireShare "+sh.ID, err)
	if !expired {
		t.Fatalf("ExpireShare %s of an active share past its expiry: got expired=false, want true", sh.ID)
	}
	return w
}

// activeShareUntil creates a share of pat-1 for dr-a, created at t0 and expiring
// at expires, with an open access on device-1 at tNow, and returns them and
// what they wrote.
func activeShareUntil(t *testing.T, s core.Store, expires time.Time) (core.Share, core.Access, []Written) {
	t.Helper()
	sh := newShare("pat-1", "dr-a", t0, expires)
	cw := CreateShare(t, s, sh)
	a := NewAccess(sh, "device-1", tNow)
	ow := MustOpen(t, s, a, tNow)
	return sh, a, []Written{cw, ow}
}

// listInbox returns recipient's whole inbox, newest first.
func listInbox(t *testing.T, s core.Store, recipient string) []core.InboxItem {
	t.Helper()
	return Flatten(ListInbox(t, s, recipient, 100))
}

// wantVerifiedChain checks that patient's chain holds exactly the records want, in
// order, linked without gaps or forks, and that core.VerifyChain accepts it.
func wantVerifiedChain(t *testing.T, s core.Store, patient string, want []core.AuditRecord) {
	t.Helper()
	if diff := cmp.Diff(want, ListChain(t, s, patient), cmpOpts); diff != "" {
		t.Errorf("ListAudit(%s) mismatch (-want +got):\n%s", patient, diff)
	}
	WantVerified(t, s, patient, len(want))
}

// recordsOf returns the records of ws, in order.
func recordsOf(ws ...Written) []core.AuditRecord {
	var recs []core.AuditRecord
	for _, w := range ws {
		recs = append(recs, w.Rec)
	}
	return recs
}

// notesOf returns the notifications of ws, in order.
func notesOf(ws ...Written) []core.Notification {
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
			items = append(items, Unread(n))
		}
	}
	slices.SortFunc(items, func(a, b core.InboxItem) int { return strings.Compare(b.ID, a.ID) })
	return items
}

// jobState is what a test watches to check that a call wrote nothing: the
// chains and inboxes of parties, shares by id, and the due items in the
// watched range.
type jobState struct {
	Heads   map[string]core.ChainHead
	Chains  map[string][]core.AuditRecord
	Inboxes map[string][]core.InboxItem
	Shares  map[string]*core.Share
	Due     map[core.DueKind][]core.DueItem
}

// observeJobs reads what jobState names.
func observeJobs(t *testing.T, s core.Store, parties []string, shares ...string) jobState {
	t.Helper()
	st := jobState{
		Heads: map[string]core.ChainHead{}, Chains: map[string][]core.AuditRecord{},
		Inboxes: map[string][]core.InboxItem{}, Shares: map[string]*core.Share{}, Due: dueState(t, s),
	}
	for _, p := range parties {
		h, err := s.AuditHead(ctx(t), p)
		Must(t, "AuditHead "+p, err)
		st.Heads[p] = h
		st.Chains[p] = ListChain(t, s, p)
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

// wantJobsUnchanged fails t unless the store still holds before.
func wantJobsUnchanged(t *testing.T, s core.Store, before jobState, op string, parties []string, shares ...string) {
	t.Helper()
	if diff := cmp.Diff(before, observeJobs(t, s, parties, shares...), cmpOpts); diff != "" {
		t.Errorf("%s wrote something, want nothing written (-before +after):\n%s", op, diff)
	}
}
