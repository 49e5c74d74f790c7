package boltstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/medshare/medshare/shared/core"
)

// bucketKeys returns the keys of bucket name, in order, each followed by
// " -> " and its value when withValues.
func bucketKeys(t *testing.T, s *Store, name []byte, withValues bool) []string {
	t.Helper()
	var keys []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(name).ForEach(func(k, v []byte) error {
			if withValues {
				keys = append(keys, string(k)+" -> "+string(v))
			} else {
				keys = append(keys, string(k))
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestDueIndexLayout checks the due index entries a pending photo, a
// pending chat image, an active share, a key and a notification get:
// kind, due second, items key; the value is the items key.
func TestDueIndexLayout(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	at := time.Date(2026, 3, 14, 15, 9, 26, 1, time.UTC) // due at 15:09:27
	a := core.Appointment{ID: "appt-1", ClinicID: "clinic-1", PatientID: "pat-1", ProfessionalIDs: []string{"dr-a"}}
	steps := []error{
		s.CreatePhoto(ctx, core.Photo{ID: "ph_x", OwnerID: "pat-1", Status: core.StatusPending, UploadExpiresAt: at}),
		s.CreatePhoto(ctx, core.Photo{ID: "ph_ready", OwnerID: "pat-1", Status: core.StatusReady, UploadExpiresAt: at}),
		errOf(s.PutAppointment(ctx, a)),
		s.CreateChatImage(ctx, core.ChatImage{ID: "ci_x", AppointmentID: "appt-1", ClinicID: a.ClinicID, PatientID: "pat-1", Participants: a.Participants(),
			Status: core.StatusPending, UploadExpiresAt: at.Add(time.Hour - time.Nanosecond - 1)}),
		s.CreateShare(ctx, core.Share{ID: "sh_x", PatientID: "pat-1", ProfessionalID: "dr-a", Status: core.ShareActive, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}, core.Link(core.AuditRecord{PatientID: "pat-1", At: at, Action: core.AuditShareCreate}, core.ChainHead{}), core.Notification{ID: "nt_x", RecipientID: "dr-a", Type: core.NoteSessionCreated, CreatedAt: at}),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	want := []string{
		"notification\x0020260314T150927Z\x00INBOX#dr-a\x00NOTE#nt_x -> INBOX#dr-a\x00NOTE#nt_x",
		"share\x0020260314T160927Z\x00SHARE#sh_x\x00SHARE -> SHARE#sh_x\x00SHARE",
		"upload\x0020260314T150927Z\x00USER#pat-1\x00PHOTO#ph_x -> USER#pat-1\x00PHOTO#ph_x",
		"upload\x0020260314T160926Z\x00CHATIMG#ci_x\x00CHATIMG -> CHATIMG#ci_x\x00CHATIMG",
	}
	if diff := cmp.Diff(want, bucketKeys(t, s, dueBucket, true)); diff != "" {
		t.Errorf("gsi_due mismatch (-want +got):\n%s", diff)
	}
	wantCounts := []string{"2026-03-14\x00share.create||"} // the record has no outcome or role
	if diff := cmp.Diff(wantCounts, bucketKeys(t, s, auditCountsBucket, false)); diff != "" {
		t.Errorf("audit_counts keys mismatch (-want +got):\n%s", diff)
	}
}

// TestOpenBuildsJobIndexes checks that a store file made before the job
// indexes opens with them built from its items: the due items and the
// audit counts are what the same writes would have made.
func TestOpenBuildsJobIndexes(t *testing.T) {
	ctx := t.Context()
	s, path := openFile(t)
	at := time.Date(2026, 3, 14, 15, 9, 26, 1, time.UTC)
	a := core.Appointment{ID: "appt-1", ClinicID: "clinic-1", PatientID: "pat-1", ProfessionalIDs: []string{"dr-a"}}
	head := core.ChainHead{}
	rec := func(action core.AuditAction) core.AuditRecord {
		r := core.Link(core.AuditRecord{PatientID: "pat-1", At: at, ActorID: "pat-1", ActorRole: core.RolePatient, Action: action, Outcome: core.OutcomeSuccess}, head)
		head = core.ChainHead{Seq: r.Seq, Hash: r.Hash}
		return r
	}
	share := func(id string) core.Share {
		return core.Share{ID: id, PatientID: "pat-1", ProfessionalID: "dr-a", Status: core.ShareActive, MaxViews: 5, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	}
	note := func(id string) core.Notification {
		return core.Notification{ID: id, RecipientID: "dr-a", Type: core.NoteSessionCreated, CreatedAt: at}
	}
	steps := []error{
		s.CreatePhoto(ctx, core.Photo{ID: "ph_pending", OwnerID: "pat-1", Status: core.StatusPending, UploadExpiresAt: at}),
		s.CreatePhoto(ctx, core.Photo{ID: "ph_ready", OwnerID: "pat-1", Status: core.StatusReady, UploadExpiresAt: at}),
		errOf(s.PutAppointment(ctx, a)),
		s.CreateChatImage(ctx, core.ChatImage{ID: "ci_x", AppointmentID: "appt-1", ClinicID: a.ClinicID, PatientID: "pat-1", Participants: a.Participants(),
			Status: core.StatusPending, UploadExpiresAt: at}),
		s.CreateShare(ctx, share("sh_active"), rec(core.AuditShareCreate), note("nt_1")),
		s.CreateShare(ctx, share("sh_revoked"), rec(core.AuditShareCreate), note("nt_2")),
		errOf(s.RevokeShare(ctx, "sh_revoked", "pat-1", at, "", rec(core.AuditShareRevoke), note("nt_3"))),
		s.MarkPublished(ctx, "dr-a", "nt_1"),
		s.AppendAudit(ctx, rec("photo.list")),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	// The same store without its job indexes, as a file made before them.
	before := map[string][]string{}
	for _, name := range jobBuckets {
		before[string(name)] = bucketKeys(t, s, name, true)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range jobBuckets {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, path)
	defer s.Close()
	for _, name := range jobBuckets {
		if diff := cmp.Diff(before[string(name)], bucketKeys(t, s, name, true)); diff != "" {
			t.Errorf("bucket %s, built by Open, mismatch (-as written +as built):\n%s", name, diff)
		}
	}
	if len(before[string(dueBucket)]) != 5 { // two uploads, a share, two unpublished notifications
		t.Errorf("the store holds %d due items, want 5: the test wrote less than it meant to", len(before[string(dueBucket)]))
	}
	if n, err := s.CountAudit(ctx, at, "share.create|success|patient"); err != nil || n != 2 {
		t.Errorf("CountAudit(share.create) after Open: got %d, %v; want 2", n, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// TestTallyForgets checks that counters past their until are forgotten as
// later tallies run, so that a detector's per-minute counters do not pile
// up, and that a counter read past its until starts again from 1.
func TestTallyForgets(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	t0 := time.Date(2026, 3, 14, 15, 9, 0, 0, time.UTC)
	now := t0
	s.now = func() time.Time { return now }
	// Two hours of a detector: each minute, five accesses tally three calls
	// each in a counter that ends with the minute: 600 counters in all.
	for m := range 120 {
		now = t0.Add(time.Duration(m) * time.Minute)
		until := now.Add(time.Minute)
		for a := range 5 {
			for i := range 3 {
				got, err := s.Tally(ctx, fmt.Sprintf("burst:ac_%d:%d", a, m), until)
				if err != nil || got != int64(i+1) {
					t.Fatalf("Tally minute %d access %d call %d: got %d, %v; want %d", m, a, i, got, err, i+1)
				}
			}
		}
	}
	if n := len(s.tallies.m); n > tallySweepMin {
		t.Errorf("after two hours: %d counters kept, want at most %d (the live ones and those since the last sweep)", n, tallySweepMin)
	}
	// A counter past its until starts again.
	now = t0.Add(3 * time.Hour)
	got, err := s.Tally(ctx, "burst:ac_0:119", now.Add(time.Minute))
	if err != nil || got != 1 {
		t.Errorf("Tally of a counter past its until: got %d, %v; want 1", got, err)
	}
}
