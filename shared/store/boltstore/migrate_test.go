package boltstore

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/store/storeitem"
	"github.com/medshare/medshare/shared/store/storekeys"
	"github.com/medshare/medshare/shared/store/storetest"
)

// TestOpenMigratesFilesBeforeIssue10 writes a file as the version before
// issue 10 §2 left it (a global appointment key, a chat image without its
// clinic, a stranger's denied probe in the by-actor index), opens it, and
// checks the current layout: the appointment under its clinic, found and
// usable by chat; the image's clinic filled in, and the image in its
// appointment's list; the probe out of the stranger's history and still in
// the chain.
func TestOpenMigratesFilesBeforeIssue10(t *testing.T) {
	s, path := openFile(t)
	ctx := t.Context()
	at := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	a := core.Appointment{ID: "appt-1", ClinicID: "clinic-1", PatientID: "pat-1", ProfessionalIDs: []string{"dr-a"},
		StartsAt: at, EndsAt: at.Add(time.Hour), CreatedAt: at, UpdatedAt: at, ImageCount: 1}
	img := core.ChatImage{ID: "ci_x", AppointmentID: "appt-1", PatientID: "pat-1", UploaderID: "pat-1", Participants: a.Participants(),
		ContentType: "image/png", Size: 1, SHA256: make([]byte, 32), Status: core.StatusReady, CreatedAt: at, UpdatedAt: at, UploadExpiresAt: at}
	granted := core.Link(core.AuditRecord{PatientID: "pat-1", At: at, ActorID: "dr-a", ActorRole: core.RoleProfessional,
		Action: core.AuditChatImageSignedURL, Outcome: core.OutcomeSuccess}, core.ChainHead{})
	probe := core.Link(core.AuditRecord{PatientID: "pat-1", At: at.Add(time.Second), ActorID: "dr-x", ActorRole: core.RoleProfessional,
		Action: core.AuditChatImageSignedURL, Outcome: core.OutcomeDenied, Reason: core.CodeNotFound}, core.ChainHead{Seq: granted.Seq, Hash: granted.Hash})
	for _, rec := range []core.AuditRecord{granted, probe} {
		if err := s.AppendAudit(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		items := tx.Bucket(itemsBucket)
		if err := putJSON(items, storekeys.Key{PK: storekeys.AppointmentPKPrefix + "appt-1", SK: legacyAppointmentSK}, storeitem.AppointmentOf(a)); err != nil {
			return err
		}
		if err := putJSON(items, storekeys.ChatImageKey(img.ID), storeitem.ChatImageOf(img)); err != nil {
			return err
		}
		// The earlier version indexed every record with an actor.
		pk := storekeys.ActorIndexKey(probe.ActorID, probe.At, probe.PatientID, probe.Seq)
		if err := tx.Bucket(actorBucket).Put(boltKey(pk), boltKey(storekeys.AuditRecordKey(probe.PatientID, probe.Seq))); err != nil {
			return err
		}
		// It had no by-appointment index of chat images either.
		if err := tx.DeleteBucket(chatApptBucket); err != nil {
			return err
		}
		return tx.DeleteBucket(migrationsBucket)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	for round := range 2 { // the second open finds nothing left to do
		s, err = Open(path)
		if err != nil {
			t.Fatalf("open %d: %v", round+1, err)
		}
		got, err := s.FindAppointments(ctx, "appt-1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]core.Appointment{a}, got); diff != "" {
			t.Errorf("open %d: appointments (-want +got):\n%s", round+1, diff)
		}
		gotImg, err := s.GetChatImage(ctx, img.ID)
		if err != nil || gotImg.ClinicID != "clinic-1" {
			t.Errorf("open %d: chat image clinic %q, %v; want clinic-1", round+1, gotImg.ClinicID, err)
		}
		for actor, want := range map[string]int{"dr-a": 1, "dr-x": 0} {
			recs, _, err := s.ListAuditByActor(ctx, actor, core.Page{Limit: 10})
			if err != nil || len(recs) != want {
				t.Errorf("open %d: %s's history lists %d records (%v), want %d", round+1, actor, len(recs), err, want)
			}
		}
		if chain, _, err := s.ListAudit(ctx, "pat-1", false, core.Page{Limit: 10}); err != nil || len(chain) != 2 {
			t.Errorf("open %d: chain of %d records (%v), want 2", round+1, len(chain), err)
		}
		for _, k := range bucketKeys(t, s, itemsBucket, false) {
			if k == storekeys.AppointmentPKPrefix+"appt-1\x00"+legacyAppointmentSK {
				t.Errorf("open %d: the legacy appointment key is still there", round+1)
			}
		}
		// The index is built after the migration, under the image's
		// clinic: the READY image is in its appointment's list.
		wantList := []string{img.ID}
		if listed, _, err := s.ListChatImages(ctx, "clinic-1", "appt-1", "pat-1", core.Page{Limit: 10}); err != nil || len(listed) != len(wantList) || listed[0].ID != img.ID {
			t.Errorf("open %d: ListChatImages(clinic-1, appt-1) = %d images, %v; want %v", round+1, len(listed), err, wantList)
		}
		if round == 0 {
			// The migrated appointment takes chat images.
			next := img
			next.ID, next.ClinicID, next.Status = "ci_y", "clinic-1", core.StatusPending
			if err := s.CreateChatImage(ctx, next); err != nil {
				t.Errorf("chat image in the migrated appointment: %v", err)
			}
			a.ImageCount++
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOpenDropsWrappedKeyCopies writes a share and an access as versions
// before the photo's record became the only holder of its wrapped key
// stored them (each photo of their snapshot with wrapped_key and
// wrapped_key_id), opens the file, and checks that the copies are gone from
// both, that every other field reads as before, and that the photo's own
// record still holds its wrapped key.
func TestOpenDropsWrappedKeyCopies(t *testing.T) {
	s, path := openFile(t)
	ctx := t.Context()
	at := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	sh := storetest.NewShare("pat-1", "dr-a", at)
	storetest.CreateShare(t, s, sh)
	a := storetest.NewAccess(sh, "device-1", at.Add(time.Minute))
	storetest.MustOpen(t, s, a, at.Add(time.Minute))
	wantShare, err := s.GetShare(ctx, sh.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantAccess, err := s.GetAccess(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	photo, err := s.GetPhoto(ctx, "pat-1", sh.Photos[0].PhotoID)
	if err != nil {
		t.Fatal(err)
	}
	copied := []storekeys.Key{storekeys.ShareKey(sh.ID), storekeys.AccessKey(a.ID)}
	// The earlier version's records: every photo of the snapshot with its
	// wrapped key.
	err = s.db.Update(func(tx *bolt.Tx) error {
		items := tx.Bucket(itemsBucket)
		for _, k := range copied {
			var rec map[string]any
			if err := json.Unmarshal(items.Get(boltKey(k)), &rec); err != nil {
				return err
			}
			for _, p := range rec["photos"].([]any) {
				p.(map[string]any)["wrapped_key_id"] = photo.WrappedKey.KeyID
				p.(map[string]any)["wrapped_key"] = photo.WrappedKey.Ciphertext
			}
			raw, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			if err := items.Put(boltKey(k), raw); err != nil {
				return err
			}
		}
		return tx.Bucket(migrationsBucket).Delete(migrateWrappedKeyCopies)
	})
	if err != nil {
		t.Fatal(err)
	}
	holders := func() []string {
		var out []string
		err := s.db.View(func(tx *bolt.Tx) error {
			return tx.Bucket(itemsBucket).ForEach(func(k, v []byte) error {
				if bytes.Contains(v, []byte(`"wrapped_key`)) {
					out = append(out, strings.ReplaceAll(string(k), "\x00", "/"))
				}
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(out)
		return out
	}
	photoKeys := []string{
		storekeys.PhotoKey("pat-1", sh.Photos[0].PhotoID).PK + "/" + storekeys.PhotoKey("pat-1", sh.Photos[0].PhotoID).SK,
		storekeys.PhotoKey("pat-1", sh.Photos[1].PhotoID).PK + "/" + storekeys.PhotoKey("pat-1", sh.Photos[1].PhotoID).SK,
	}
	want := slices.Sorted(slices.Values(append(slices.Clone(photoKeys), "ACCESS#"+a.ID+"/ACCESS", "SHARE#"+sh.ID+"/SHARE")))
	if diff := cmp.Diff(want, holders()); diff != "" {
		t.Fatalf("before the migration, the records holding a wrapped key (-want +got):\n%s", diff)
	}
	s = reopen(t, s, path)
	defer s.Close()
	if diff := cmp.Diff(slices.Sorted(slices.Values(photoKeys)), holders()); diff != "" {
		t.Errorf("after the migration, the records holding a wrapped key (-want +got):\n%s", diff)
	}
	gotShare, err := s.GetShare(ctx, sh.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantShare, gotShare); diff != "" {
		t.Errorf("share after the migration (-before +after):\n%s", diff)
	}
	gotAccess, err := s.GetAccess(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantAccess, gotAccess); diff != "" {
		t.Errorf("access after the migration (-before +after):\n%s", diff)
	}
	gotPhoto, err := s.GetPhoto(ctx, "pat-1", photo.ID)
	if err != nil || !bytes.Equal(gotPhoto.WrappedKey.Ciphertext, photo.WrappedKey.Ciphertext) {
		t.Errorf("the photo's own wrapped key after the migration: %v, %v", gotPhoto.WrappedKey, err)
	}
}
