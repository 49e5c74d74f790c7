package boltstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/store/storeitem"
	"github.com/medshare/medshare/shared/store/storekeys"
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
	_, calls["GetAppointment"] = s.GetAppointment(ctx, "clinic-1", "appt\x00")
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
	img := core.ChatImage{ID: "ci_x", AppointmentID: "appt-1", ClinicID: a.ClinicID, PatientID: "pat-1", Participants: a.Participants()}
	rec := core.Link(core.AuditRecord{PatientID: "pat-1", ActorID: "dr-a", At: at, Outcome: core.OutcomeSuccess}, core.ChainHead{})
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
		"APPT#appt-1\x00CLINIC#clinic-1",
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

// TestShareIDsCannotEscapeTheirKey is TestIDsCannotEscapeTheirKey for the
// sharing items: every id that goes into a key is checked, and a refused
// call writes nothing.
func TestShareIDsCannotEscapeTheirKey(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	at := time.Date(2026, 3, 14, 15, 9, 26, 1, time.UTC)
	const evil = "pat-1\x00AUDIT#pat-2"
	sh := core.Share{ID: "sh_x", PatientID: "pat-1", ProfessionalID: "dr-a", MaxViews: 1, MaxDevices: 1, Status: core.ShareActive, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	n := core.Notification{ID: "nt_x", RecipientID: "dr-a", CreatedAt: at}
	rec := core.Link(core.AuditRecord{PatientID: "pat-1", ActorID: "pat-1", At: at}, core.ChainHead{})
	with := func(f func(*core.Share)) core.Share { c := sh; f(&c); return c }
	withNote := func(f func(*core.Notification)) core.Notification { c := n; f(&c); return c }
	withRec := func(f func(*core.AuditRecord)) core.AuditRecord { c := rec; f(&c); return c }
	calls := map[string]error{
		"CreateShare id":              s.CreateShare(ctx, with(func(s *core.Share) { s.ID = "sh\x00" }), rec, n),
		"CreateShare patient":         s.CreateShare(ctx, with(func(s *core.Share) { s.PatientID = evil }), rec, n),
		"CreateShare professional":    s.CreateShare(ctx, with(func(s *core.Share) { s.ProfessionalID = "dr\xff" }), rec, n),
		"CreateShare idempotency key": s.CreateShare(ctx, with(func(s *core.Share) { s.IdempotencyKey = "k\x00" }), rec, n),
		"CreateShare recipient":       s.CreateShare(ctx, sh, rec, withNote(func(n *core.Notification) { n.RecipientID = "dr\x00" })),
		"CreateShare notification":    s.CreateShare(ctx, sh, rec, withNote(func(n *core.Notification) { n.ID = "" })),
		"CreateShare record patient":  s.CreateShare(ctx, sh, withRec(func(r *core.AuditRecord) { r.PatientID = evil }), n),
		"CreateShare record actor":    s.CreateShare(ctx, sh, withRec(func(r *core.AuditRecord) { r.ActorID = "a\x00" }), n),
		"OpenAccess":                  s.OpenAccess(ctx, core.Access{ID: "ac\x00", ShareID: "sh_x"}, at, rec, n),
		"IssueKey":                    s.IssueKey(ctx, core.EphemeralKey{ID: "ek_x", ShareID: "sh\x00"}, at, rec, n),
		"MarkPublished":               s.MarkPublished(ctx, "dr\x00", "nt_x"),
	}
	_, calls["RevokeShare"] = s.RevokeShare(ctx, "sh\x00", "pat-1", at, "", rec, n)
	_, calls["ClaimKey"] = s.ClaimKey(ctx, core.EphemeralKey{ID: "ek\x00", ShareID: "sh_x"}, "dr-a", at, rec)
	_, calls["GetShare"] = s.GetShare(ctx, "sh\x00")
	_, calls["GetAccess"] = s.GetAccess(ctx, "ac\x00")
	_, calls["GetKey"] = s.GetKey(ctx, "")
	_, _, calls["ListShares"] = s.ListShares(ctx, "pat\x00", core.RolePatient, core.Page{Limit: 1})
	_, _, calls["ListInbox"] = s.ListInbox(ctx, "dr\x00", core.Page{Limit: 1})
	_, calls["MarkRead"] = s.MarkRead(ctx, "dr-a", "nt\x00")
	_, _, calls["ListShares, clinic"] = s.ListShares(ctx, "clinic-1", core.RoleClinic, core.Page{Limit: 1})
	for name, err := range calls {
		if core.KindOf(err) != core.KindInvalid {
			t.Errorf("%s: got %v, want kind invalid", name, err)
		}
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		for _, name := range buckets {
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

// TestShareItemsLiveUnderTheDocumentedKeys checks where the sharing items
// go: the items bucket under the storekeys keys, and the share indexes in
// gsi_share_patient and gsi_share_grantee pointing at the share item.
func TestShareItemsLiveUnderTheDocumentedKeys(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	at := time.Date(2026, 3, 14, 15, 9, 26, 1, time.UTC)
	// The shared photo exists, READY: IssueKey releases only the key of a
	// photo that does.
	p := core.Photo{ID: "ph_x", OwnerID: "pat-1", Size: 10, SHA256: []byte("sha of ph_x"), Status: core.StatusPending,
		CreatedAt: at, UploadExpiresAt: at.Add(15 * time.Minute)}
	sh := core.Share{ID: "sh_x", PatientID: "pat-1", ProfessionalID: "dr-a", MaxViews: 1, MaxDevices: 1,
		Photos: []core.SharedPhoto{{PhotoID: p.ID, Size: p.Size, SHA256: p.SHA256}},
		Status: core.ShareActive, CreatedAt: at, ExpiresAt: at.Add(time.Hour), IdempotencyKey: "idem-1"}
	link := func(rec core.AuditRecord) core.AuditRecord {
		head, err := s.AuditHead(ctx, rec.PatientID)
		if err != nil {
			t.Fatal(err)
		}
		return core.Link(rec, head)
	}
	a := core.Access{ID: "ac_x", ShareID: "sh_x", PatientID: "pat-1", ProfessionalID: "dr-a", DeviceFingerprint: "d1"}
	k := core.EphemeralKey{ID: "ek_x", ShareID: "sh_x", PhotoID: "ph_x", PatientID: "pat-1", ProfessionalID: "dr-a", Status: core.KeyIssued, ExpiresAt: at.Add(time.Minute)}
	steps := []func() error{
		func() error { return s.CreatePhoto(ctx, p) },
		func() error {
			_, err := s.MarkPhotoReady(ctx, p.OwnerID, p.ID, core.BlobInfo{Size: p.Size, SHA256: p.SHA256}, at)
			return err
		},
		func() error {
			return s.CreateShare(ctx, sh, link(core.AuditRecord{PatientID: "pat-1", At: at}), core.Notification{ID: "nt_1", RecipientID: "dr-a"})
		},
		func() error {
			return s.OpenAccess(ctx, a, at, link(core.AuditRecord{PatientID: "pat-1", At: at}), core.Notification{ID: "nt_2", RecipientID: "pat-1"})
		},
		func() error {
			return s.IssueKey(ctx, k, at, link(core.AuditRecord{PatientID: "pat-1", At: at}), core.Notification{ID: "nt_3", RecipientID: "pat-1"})
		},
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	dump := func(name []byte) []string {
		var out []string
		err := s.db.View(func(tx *bolt.Tx) error {
			return tx.Bucket(name).ForEach(func(k, v []byte) error {
				if bytes.Equal(name, itemsBucket) {
					out = append(out, string(k))
				} else {
					out = append(out, string(k)+" -> "+string(v))
				}
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, tc := range []struct {
		bucket []byte
		want   []string
	}{
		{itemsBucket, []string{
			"ACCESS#ac_x\x00ACCESS",
			"AUDIT#pat-1\x00HEAD",
			"AUDIT#pat-1\x00SEQ#00000000000000000001",
			"AUDIT#pat-1\x00SEQ#00000000000000000002",
			"AUDIT#pat-1\x00SEQ#00000000000000000003",
			"EKEY#ek_x\x00EKEY",
			"IDEM#pat-1\x00KEY#idem-1",
			"INBOX#dr-a\x00NOTE#nt_1",
			"INBOX#pat-1\x00NOTE#nt_2",
			"INBOX#pat-1\x00NOTE#nt_3",
			"SHARE#sh_x\x00SHARE",
			"USER#pat-1\x00PHOTO#ph_x",
		}},
		{sharePatientBucket, []string{"SHAREPAT#pat-1\x002026-03-14T15:09:26.000000001Z#sh_x -> SHARE#sh_x\x00SHARE"}},
		{shareGranteeBucket, []string{"SHAREPRO#dr-a\x002026-03-14T15:09:26.000000001Z#sh_x -> SHARE#sh_x\x00SHARE"}},
		{actorBucket, nil}, // records without an actor are not indexed
	} {
		if diff := cmp.Diff(tc.want, dump(tc.bucket)); diff != "" {
			t.Errorf("%s keys mismatch (-want +got):\n%s", tc.bucket, diff)
		}
	}
}

// TestOpenAddsShareBuckets checks that a store file made before the sharing
// items opens, gains the index buckets and serves the share port.
func TestOpenAddsShareBuckets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "medshare.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{itemsBucket, actorBucket} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if _, _, err := s.ListShares(t.Context(), "pat-1", core.RolePatient, core.Page{Limit: 1}); err != nil {
		t.Errorf("ListShares: %v", err)
	}
}

// TestAccessWithoutScoreReadsZero checks that an access stored before there
// were suspicion scores (no "score" in its JSON) reads score 0, and that
// AddSuspicion moves it from 0; with no "flags" either, it has none, so a
// flag counts once.
func TestAccessWithoutScoreReadsZero(t *testing.T) {
	s := openTemp(t)
	at := time.Date(2026, 3, 14, 15, 9, 26, 1, time.UTC)
	raw, err := json.Marshal(storeitem.AccessOf(core.Access{ID: "ac_old", ShareID: "sh_x", PatientID: "pat-1", ProfessionalID: "dr-a", CreatedAt: at}))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "score")
	delete(m, "flags")
	if raw, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(itemsBucket).Put(boltKey(storekeys.AccessKey("ac_old")), raw)
	}); err != nil {
		t.Fatal(err)
	}
	a, err := s.GetAccess(t.Context(), "ac_old")
	if err != nil || a.Score != 0 || a.ID != "ac_old" {
		t.Fatalf("GetAccess of an access without a score: got %+v, %v; want score 0", a, err)
	}
	head, err := s.AuditHead(t.Context(), "pat-1")
	if err != nil {
		t.Fatal(err)
	}
	rec := core.Link(core.AuditRecord{PatientID: "pat-1", At: at}, head)
	if err := s.AddSuspicion(t.Context(), "ac_old", 0, 5, "ip:10.0.0.2", rec); err != nil {
		t.Fatalf("AddSuspicion 0→5 of an access without a score: %v", err)
	}
	if a, err = s.GetAccess(t.Context(), "ac_old"); err != nil || a.Score != 5 {
		t.Fatalf("GetAccess after AddSuspicion: got score %d, %v; want 5", a.Score, err)
	}
	rec = core.Link(core.AuditRecord{PatientID: "pat-1", At: at}, core.ChainHead{Seq: rec.Seq, Hash: rec.Hash})
	if err := s.AddSuspicion(t.Context(), "ac_old", 5, 10, "ip:10.0.0.2", rec); !errors.Is(err, core.ErrAlreadyFlagged) {
		t.Fatalf("AddSuspicion with the flag again: got %v, want core.ErrAlreadyFlagged", err)
	}
}
