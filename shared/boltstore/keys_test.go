package boltstore

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/medshare/medshare/shared/core"
)

func TestKeyShapes(t *testing.T) {
	at := time.Date(2026, 3, 14, 15, 9, 26, 5000, time.FixedZone("x", 3600))
	for _, tc := range []struct {
		name string
		got  Key
		want Key
	}{
		{"photo", PhotoKey("pat-1", "ph_abc"), Key{"USER#pat-1", "PHOTO#ph_abc"}},
		{"appointment", AppointmentKey("appt-1"), Key{"APPT#appt-1", "APPT"}},
		{"chat image", ChatImageKey("ci_abc"), Key{"CHATIMG#ci_abc", "CHATIMG"}},
		{"audit record", AuditRecordKey("pat-1", 42), Key{"AUDIT#pat-1", "SEQ#00000000000000000042"}},
		{"audit record, largest seq", AuditRecordKey("pat-1", 1<<64-1), Key{"AUDIT#pat-1", "SEQ#18446744073709551615"}},
		{"audit head", AuditHeadKey("pat-1"), Key{"AUDIT#pat-1", "HEAD"}},
		{"actor index", ActorIndexKey("dr-a", at, "pat-1", 7),
			Key{"ACTOR#dr-a", "2026-03-14T14:09:26.000005000Z#pat-1#00000000000000000007"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.got); diff != "" {
				t.Errorf("key mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestActorSKSortsByTime(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	earlier := ActorIndexKey("dr-a", base.Add(999*time.Millisecond), "pat-9", 99).SK
	later := ActorIndexKey("dr-a", base.Add(time.Second), "pat-1", 1).SK
	if earlier >= later {
		t.Errorf("sort keys out of time order: %q >= %q", earlier, later)
	}
}

func TestParseActorSK(t *testing.T) {
	at := time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)
	for _, patient := range []string{"pat-1", "p", "pat#with#hashes"} {
		sk := ActorIndexKey("dr-a", at, patient, 12345).SK
		gotAt, gotPatient, gotSeq, err := ParseActorSK(sk)
		if err != nil {
			t.Fatalf("ParseActorSK(%q): %v", sk, err)
		}
		if !gotAt.Equal(at) || gotAt.Location() != time.UTC || gotPatient != patient || gotSeq != 12345 {
			t.Errorf("ParseActorSK(%q): got (%v, %q, %d), want (%v, %q, 12345)", sk, gotAt, gotPatient, gotSeq, at, patient)
		}
	}
	good := ActorIndexKey("dr-a", at, "pat-1", 1).SK
	for _, bad := range []string{
		"",
		"SEQ#00000000000000000001",
		good[:len(good)-1],
		strings.Replace(good, "#pat-1#", "##", 1),
		strings.Replace(good, "T15", "X15", 1),
		strings.Replace(good, "00000000000000000001", "0000000000000000000x", 1),
		strings.Replace(good, "00000000000000000001", "+0000000000000000001", 1),
	} {
		if _, _, _, err := ParseActorSK(bad); err == nil {
			t.Errorf("ParseActorSK(%q): got nil error, want one", bad)
		}
	}
}

func TestCursor(t *testing.T) {
	sk := PhotoSKPrefix + "ph_abc"
	c := EncodeCursor(sk)
	if strings.ContainsAny(c, "=+/") {
		t.Errorf("EncodeCursor(%q) = %q: want base64url without padding", sk, c)
	}
	if strings.Contains(c, base64.RawURLEncoding.EncodeToString([]byte(PhotoPKPrefix))) {
		t.Errorf("EncodeCursor(%q) = %q: holds the partition", sk, c)
	}
	got, err := DecodeCursor(c, PhotoSKPrefix)
	if err != nil || got != sk {
		t.Errorf("DecodeCursor(%q) = %q, %v; want %q", c, got, err, sk)
	}
	if got, err := DecodeCursor("", PhotoSKPrefix); err != nil || got != "" {
		t.Errorf(`DecodeCursor("") = %q, %v; want "", nil`, got, err)
	}
	for _, bad := range []string{
		"%%%",
		base64.URLEncoding.EncodeToString([]byte(PhotoSKPrefix + "ph_ab")), // padded
		EncodeCursor("SEQ#00000000000000000001"),
		EncodeCursor(PhotoSKPrefix),
		EncodeCursor(PhotoSKPrefix + "a\x00b"),
	} {
		if _, err := DecodeCursor(bad, PhotoSKPrefix); core.KindOf(err) != core.KindInvalid {
			t.Errorf("DecodeCursor(%q): got %v, want kind invalid", bad, err)
		}
	}
}

// TestIDsCannotEscapeTheirKey checks that an id holding the key separator is
// rejected before it reaches a key.
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
