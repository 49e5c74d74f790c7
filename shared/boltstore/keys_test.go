package boltstore

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/storekeys"
)

// The key shapes themselves are tested in package storekeys; these tests
// check how this store lays them out in bbolt.

// TestIDsCannotEscapeTheirKey checks that an id holding the key separator, or
// breaking another rule of storekeys.CheckIDs, is rejected before it reaches a
// key and nothing is written.
func TestIDsCannotEscapeTheirKey(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	const evil = "pat-1\x00PHOTO#ph_x"
	p := core.Photo{ID: "ph_x", OwnerID: evil, Status: core.StatusPending}
	a := core.Appointment{ID: "appt\x00", ClinicID: "clinic-1", PatientID: "pat-1"}
	calls := map[string]error{
		"CreatePhoto owner":   s.CreatePhoto(ctx, p),
		"CreatePhoto id":      s.CreatePhoto(ctx, core.Photo{ID: "ph\x00", OwnerID: "pat-1"}),
		"CreatePhoto empty":   s.CreatePhoto(ctx, core.Photo{OwnerID: "pat-1"}),
		"CreatePhoto UTF-8":   s.CreatePhoto(ctx, core.Photo{ID: "ph\xff", OwnerID: "pat-1"}),
		"CreatePhoto long":    s.CreatePhoto(ctx, core.Photo{ID: strings.Repeat("x", storekeys.MaxIDBytes+1), OwnerID: "pat-1"}),
		"PutAppointment":      errOf(s.PutAppointment(ctx, a)),
		"CreateChatImage":     s.CreateChatImage(ctx, core.ChatImage{ID: "ci\x00", AppointmentID: "appt-1"}),
		"AppendAudit patient": s.AppendAudit(ctx, core.AuditRecord{PatientID: "pat\x00", Seq: 1}),
		"AppendAudit actor":   s.AppendAudit(ctx, core.AuditRecord{PatientID: "pat-1", ActorID: "dr\x00", Seq: 1}),
	}
	_, calls["GetPhoto"] = s.GetPhoto(ctx, evil, "ph_x")
	_, _, calls["ListPhotos"] = s.ListPhotos(ctx, "pat\x00", core.Page{Limit: 1})
	_, calls["DeletePhoto"] = s.DeletePhoto(ctx, "pat-1", "ph\x00")
	_, calls["MarkPhotoReady"] = s.MarkPhotoReady(ctx, "pat-1", "ph\x00", core.BlobInfo{}, time.Now())
	_, calls["GetAppointment"] = s.GetAppointment(ctx, "appt\x00")
	_, calls["GetChatImage"] = s.GetChatImage(ctx, "ci\x00")
	_, calls["MarkChatImageReady"] = s.MarkChatImageReady(ctx, "ci\x00", core.BlobInfo{}, time.Now())
	_, calls["AuditHead"] = s.AuditHead(ctx, "pat\x00")
	_, _, calls["ListAudit"] = s.ListAudit(ctx, "pat\x00", false, core.Page{Limit: 1})
	_, _, calls["ListAuditByActor"] = s.ListAuditByActor(ctx, "dr\x00", core.Page{Limit: 1})
	for name, err := range calls {
		if core.KindOf(err) != core.KindInvalid {
			t.Errorf("%s: got %v, want kind invalid", name, err)
		}
	}
	// Nothing was written.
	err := s.db.View(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{itemsBucket, actorBucket} {
			if n := tx.Bucket(name).Stats().KeyN; n != 0 {
				t.Errorf("bucket %s: got %d keys, want 0", name, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func errOf(_ bool, err error) error { return err }

// TestItemsLiveUnderTheDocumentedKeys checks the bbolt layout that mirrors the
// DynamoDB table: PK "\x00" SK in items, and the by-actor index in gsi_actor.
func TestItemsLiveUnderTheDocumentedKeys(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	at := time.Date(2026, 3, 14, 15, 9, 26, 1, time.UTC)
	a := core.Appointment{ID: "appt-1", ClinicID: "clinic-1", PatientID: "pat-1", ProfessionalIDs: []string{"dr-a"}}
	img := core.ChatImage{ID: "ci_x", AppointmentID: "appt-1", PatientID: "pat-1", Participants: a.Participants()}
	rec := core.Link(core.AuditRecord{PatientID: "pat-1", ActorID: "dr-a", At: at}, core.ChainHead{})
	steps := []error{
		s.CreatePhoto(ctx, core.Photo{ID: "ph_x", OwnerID: "pat-1"}),
		errOf(s.PutAppointment(ctx, a)),
		s.CreateChatImage(ctx, img),
		s.AppendAudit(ctx, rec),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	var items, index []string
	err := s.db.View(func(tx *bolt.Tx) error {
		_ = tx.Bucket(itemsBucket).ForEach(func(k, v []byte) error {
			items = append(items, string(k))
			return nil
		})
		return tx.Bucket(actorBucket).ForEach(func(k, v []byte) error {
			index = append(index, string(k)+" -> "+string(v))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	wantItems := []string{
		"APPT#appt-1\x00APPT",
		"AUDIT#pat-1\x00HEAD",
		"AUDIT#pat-1\x00SEQ#00000000000000000001",
		"CHATIMG#ci_x\x00CHATIMG",
		"USER#pat-1\x00PHOTO#ph_x",
	}
	if diff := cmp.Diff(wantItems, items); diff != "" {
		t.Errorf("items keys mismatch (-want +got):\n%s", diff)
	}
	wantIndex := []string{
		"ACTOR#dr-a\x002026-03-14T15:09:26.000000001Z#pat-1#00000000000000000001 -> AUDIT#pat-1\x00SEQ#00000000000000000001",
	}
	if diff := cmp.Diff(wantIndex, index); diff != "" {
		t.Errorf("gsi_actor keys mismatch (-want +got):\n%s", diff)
	}
}
