package boltstore

import (
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/medshare/medshare/shared/core"
)

// TestChatIndexBackfill: a file written before the by-appointment index
// existed gets the index, built from its chat images, when it is opened.
func TestChatIndexBackfill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "medshare.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	now := time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)
	a := core.Appointment{ID: "appt-1", ClinicID: "clinic-1", PatientID: "pat-1", ProfessionalIDs: []string{"dr-a"},
		StartsAt: now, EndsAt: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now}
	if _, err := s.PutAppointment(ctx, a); err != nil {
		t.Fatal(err)
	}
	var ready []string
	for i := range 3 {
		img := core.ChatImage{ID: core.NewID("ci"), AppointmentID: a.ID, PatientID: a.PatientID, UploaderID: a.PatientID,
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
			ready = append([]string{img.ID}, ready...)
		}
	}
	// The file as an earlier version left it: no index bucket.
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(chatApptBucket) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after the backfill: %v", err)
	}
	imgs, next, err := s.ListChatImages(ctx, a.ID, core.Page{Limit: 10})
	if err != nil || next != "" {
		t.Fatalf("ListChatImages: %v (cursor %q)", err, next)
	}
	var got []string
	for _, img := range imgs {
		got = append(got, img.ID)
	}
	if len(got) != 2 || got[0] != ready[0] || got[1] != ready[1] {
		t.Errorf("ListChatImages after the backfill: got %v, want the READY images newest first %v", got, ready)
	}
}
