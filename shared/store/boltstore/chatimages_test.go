package boltstore

import (
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/medshare/medshare/shared/core"
)

// TestChatIndexBackfill: a file written before the by-appointment index
// existed (by main's code, whose chat images name their clinic but are in
// no list) gets the index, built from its chat images under their clinic's
// appointment, when it is opened; a stale index of an earlier build
// (gsi_chat_appointment, whose partitions named no clinic) is dropped.
func TestChatIndexBackfill(t *testing.T) {
	s, path := openFile(t)
	ctx := t.Context()
	now := time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)
	ready := map[string][]string{} // by clinic, newest first
	for _, clinic := range []string{"clinic-1", "clinic-2"} {
		// Two clinics' appointments with one id and the same participants.
		a := core.Appointment{ID: "appt-1", ClinicID: clinic, PatientID: "pat-1", ProfessionalIDs: []string{"dr-a"},
			StartsAt: now, EndsAt: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now}
		if _, err := s.PutAppointment(ctx, a); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			img := core.ChatImage{ID: core.NewID("ci"), AppointmentID: a.ID, ClinicID: clinic, PatientID: a.PatientID, UploaderID: a.PatientID,
				Participants: a.Participants(), ContentType: "image/png", Size: 10, SHA256: make([]byte, 32),
				Status: core.StatusPending, CreatedAt: now.Add(time.Duration(i) * time.Minute), UploadExpiresAt: now.Add(time.Hour)}
			img.UpdatedAt = img.CreatedAt
			if err := s.CreateChatImage(ctx, img); err != nil {
				t.Fatal(err)
			}
			if i != 1 {
				if _, err := s.MarkChatImageReady(ctx, img.ID, core.BlobInfo{Size: 10, SHA256: make([]byte, 32)}, img.CreatedAt); err != nil {
					t.Fatal(err)
				}
				ready[clinic] = append([]string{img.ID}, ready[clinic]...)
			}
		}
	}
	// The file as main's code left it: no index bucket. And a stale index
	// as an earlier build of the portals' branch left it.
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(chatApptBucket); err != nil {
			return err
		}
		stale, err := tx.CreateBucket(staleChatIndexBucket)
		if err != nil {
			return err
		}
		return stale.Put([]byte("APPTIMG#appt-1\x00IMG#x"), []byte("CHATIMG#ci_gone\x00CHATIMG"))
	})
	if err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, path)
	defer s.Close()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after the backfill: %v", err)
	}
	for clinic, want := range ready {
		imgs, next, err := s.ListChatImages(ctx, clinic, "appt-1", "pat-1", core.Page{Limit: 10})
		if err != nil || next != "" {
			t.Fatalf("ListChatImages(%s): %v (cursor %q)", clinic, err, next)
		}
		var got []string
		for _, img := range imgs {
			got = append(got, img.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("ListChatImages(%s) after the backfill: got %v, want the clinic's READY images newest first %v", clinic, got, want)
		}
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(staleChatIndexBucket) != nil {
			t.Error("the stale index is still there")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
