package boltstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	bolt "go.etcd.io/bbolt"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/legacy/legacytest"
	"github.com/medshare/medshare/shared/store/storeitem"
	"github.com/medshare/medshare/shared/store/storekeys"
	"github.com/medshare/medshare/shared/store/storetest"
)

// newStore opens a fresh store whose own clock (Tally's forgetting) is now.
func newStore(t *testing.T, now func() time.Time) core.Store {
	t.Helper()
	s := openTemp(t)
	s.now = now
	return s
}

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "medshare.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// openFile opens a store on a new file in a temporary directory, and
// returns it with the file's path, for a test that closes it and opens the
// file again (reopen); the test closes what it opens.
func openFile(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "medshare.db")
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s, path
}

// reopen closes s and opens its file, path, again.
func reopen(t *testing.T, s *Store, path string) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open again: %v", err)
	}
	return s
}

// tamper rewrites the JSON of one audit record in place, as someone with the
// file could: no check, no change to the head or the index.
func tamper(t *testing.T, cs core.Store, patientID string, seq uint64, mutate func(*core.AuditRecord)) {
	t.Helper()
	s := cs.(*Store)
	key := boltKey(storekeys.AuditRecordKey(patientID, seq))
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(itemsBucket)
		raw := b.Get(key)
		if raw == nil {
			return errors.New("no such record")
		}
		rec, err := decodeItem[storeitem.AuditRecord](raw, key)
		if err != nil {
			return err
		}
		mutate(&rec)
		out, err := json.Marshal(storeitem.AuditRecordOf(rec))
		if err != nil {
			return err
		}
		return b.Put(key, out)
	})
	if err != nil {
		t.Fatalf("tamper with audit record %d of %s: %v", seq, patientID, err)
	}
}

func TestContract(t *testing.T) {
	storetest.Run(t, storetest.Harness{New: newStore, Tamper: tamper})
}

func TestDurableAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "medshare.db")
	ctx := t.Context()
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	photo := core.Photo{
		ID: core.NewID("ph"), OwnerID: "pat-1", Angle: "FRONT", ContentType: "image/jpeg",
		Size: 10, SHA256: bytes.Repeat([]byte{7}, 32),
		WrappedKey: core.WrappedKey{KeyID: "local-1", Ciphertext: []byte("wrapped")},
		Status:     core.StatusPending, CreatedAt: at, UploadExpiresAt: at.Add(time.Minute), UpdatedAt: at,
	}
	appt := core.Appointment{
		ID: "appt-1", ClinicID: "clinic-1", PatientID: "pat-1", ProfessionalIDs: []string{"dr-a"},
		StartsAt: at, EndsAt: at.Add(time.Hour), CreatedAt: at, UpdatedAt: at,
	}
	rec := core.Link(core.AuditRecord{PatientID: "pat-1", At: at, ActorID: "dr-a", Action: "photo.key", Outcome: core.OutcomeSuccess}, core.ChainHead{})

	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.CreatePhoto(ctx, photo); err != nil {
		t.Fatalf("CreatePhoto: %v", err)
	}
	if _, err := s.PutAppointment(ctx, appt); err != nil {
		t.Fatalf("PutAppointment: %v", err)
	}
	if err := s.AppendAudit(ctx, rec); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Ping(ctx); core.KindOf(err) != core.KindUnavailable {
		t.Errorf("Ping after Close: got %v, want kind unavailable", err)
	}

	s, err = Open(path)
	if err != nil {
		t.Fatalf("Open again: %v", err)
	}
	defer s.Close()
	opts := cmpopts.EquateEmpty()
	gotPhoto, err := s.GetPhoto(ctx, photo.OwnerID, photo.ID)
	if err != nil {
		t.Fatalf("GetPhoto after reopen: %v", err)
	}
	if diff := cmp.Diff(photo, gotPhoto, opts); diff != "" {
		t.Errorf("GetPhoto after reopen mismatch (-want +got):\n%s", diff)
	}
	gotAppt, err := s.GetAppointment(ctx, appt.ClinicID, appt.ID)
	if err != nil {
		t.Fatalf("GetAppointment after reopen: %v", err)
	}
	if diff := cmp.Diff(appt, gotAppt, opts); diff != "" {
		t.Errorf("GetAppointment after reopen mismatch (-want +got):\n%s", diff)
	}
	head, err := s.AuditHead(ctx, "pat-1")
	if err != nil {
		t.Fatalf("AuditHead after reopen: %v", err)
	}
	if diff := cmp.Diff(core.ChainHead{Seq: 1, Hash: rec.Hash}, head); diff != "" {
		t.Errorf("AuditHead after reopen mismatch (-want +got):\n%s", diff)
	}
	v, err := core.VerifyChain(ctx, s, "pat-1")
	if err != nil || !v.Valid || v.Records != 1 {
		t.Errorf("VerifyChain after reopen: got %+v, %v; want valid with 1 record", v, err)
	}
	byActor, _, err := s.ListAuditByActor(ctx, "dr-a", core.Page{Limit: 10})
	if err != nil {
		t.Fatalf("ListAuditByActor after reopen: %v", err)
	}
	if diff := cmp.Diff([]core.AuditRecord{rec}, byActor, opts); diff != "" {
		t.Errorf("ListAuditByActor after reopen mismatch (-want +got):\n%s", diff)
	}
}

func TestSecondOpenFailsWithinTimeout(t *testing.T) {
	s, path := openFile(t)
	defer s.Close()

	start := time.Now()
	second, err := Open(path)
	elapsed := time.Since(start)
	if err == nil {
		second.Close()
		t.Fatal("second Open of a file in use: got nil error, want one")
	}
	if core.KindOf(err) != core.KindUnavailable || !errors.Is(err, bolt.ErrTimeout) {
		t.Errorf("second Open: got %v, want kind unavailable wrapping bolt.ErrTimeout", err)
	}
	// Only a lower bound: a busy machine may take longer than the timeout to
	// give up, never shorter.
	if elapsed < OpenTimeout/2 {
		t.Errorf("second Open failed after %v, want it to wait about %v", elapsed, OpenTimeout)
	}
	// The first store still works.
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping of the first store: %v", err)
	}
}

func TestFileMode(t *testing.T) {
	s, path := openFile(t)
	defer s.Close()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got&0o077 != 0 {
		t.Errorf("file mode: got %v, want no access for group and others", got)
	}
}

func TestLegacyContract(t *testing.T) {
	legacytest.Run(t, legacytest.Harness{New: func(t *testing.T) legacytest.Store { return openTemp(t) }})
}
