package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
)

// moveHead appends n records to patient's chain through AppendAudit, as
// another writer would, and returns the new head.
func moveHead(t *testing.T, s core.Store, patient string, n int) core.ChainHead {
	t.Helper()
	var head core.ChainHead
	for i := range n {
		r := Linked(t, s, Record(patient, "dr-other", core.RoleProfessional, "photo.list", fmt.Sprintf("noise-%d", i), tNow))
		Must(t, "AppendAudit", s.AppendAudit(ctx(t), r))
		head = HeadOf(r)
	}
	return head
}

// testWrongHead checks every method that writes a record: linked to a head
// that is not the chain's, it returns *core.HeadMismatchError with the
// current head and writes nothing; linked to the current head, the same call
// then succeeds.
func testWrongHead(t *testing.T, h Harness) {
	// An op is one call ready to run but for its record; setup runs before
	// the head moves.
	type op struct {
		rec   core.AuditRecord // unlinked
		do    func(rec core.AuditRecord) error
		world world
	}
	ops := []struct {
		name  string
		setup func(t *testing.T, s core.Store) op
	}{
		{"CreateShare", func(t *testing.T, s core.Store) op {
			sh := NewShare("pat-1", "dr-a", t0.Add(time.Minute))
			sh.IdempotencyKey, sh.RequestHash = "idem-1", Digest("request 1")
			n := Note("dr-a", core.NoteSessionCreated, sh.ID, sh.CreatedAt)
			return op{
				rec:   Record("pat-1", "pat-1", core.RolePatient, core.AuditShareCreate, sh.ID, sh.CreatedAt),
				do:    func(rec core.AuditRecord) error { return s.CreateShare(ctx(t), sh, rec, n) },
				world: world{parties: []string{"pat-1", "dr-a"}, shares: []string{sh.ID}},
			}
		}},
		{"RevokeShare", func(t *testing.T, s core.Store) op {
			sh := NewShare("pat-1", "dr-a", t0)
			CreateShare(t, s, sh)
			n := Note("dr-a", core.NoteSessionRevoked, sh.ID, tNow)
			return op{
				rec: Record("pat-1", "pat-1", core.RolePatient, core.AuditShareRevoke, sh.ID, tNow),
				do: func(rec core.AuditRecord) error {
					revoked, err := s.RevokeShare(ctx(t), sh.ID, "pat-1", tNow, revokeReason, rec, n)
					if revoked != (err == nil) {
						t.Errorf("RevokeShare of an active share: got revoked=%v with error %v, want true exactly when nil", revoked, err)
					}
					return err
				},
				world: world{parties: []string{"pat-1", "dr-a"}, shares: []string{sh.ID}},
			}
		}},
		{"OpenAccess", func(t *testing.T, s core.Store) op {
			sh := NewShare("pat-1", "dr-a", t0)
			CreateShare(t, s, sh)
			a := NewAccess(sh, "device-1", tNow)
			n := Note("pat-1", core.NoteSessionAccess, sh.ID, tNow)
			return op{
				rec:   Record("pat-1", "dr-a", core.RoleProfessional, core.AuditAccessOpen, a.ID, tNow),
				do:    func(rec core.AuditRecord) error { return s.OpenAccess(ctx(t), a, tNow, rec, n) },
				world: world{parties: []string{"pat-1", "dr-a"}, shares: []string{sh.ID}, accesses: []string{a.ID}},
			}
		}},
		{"IssueKey", func(t *testing.T, s core.Store) op {
			sh, a := activeShare(t, s, nil)
			k := NewKey(sh, a.ID, tNow)
			n := Note("pat-1", core.NotePhotoViewed, sh.ID, tNow)
			return op{
				rec:   Record("pat-1", "dr-a", core.RoleProfessional, core.AuditKeyIssue, k.ID, tNow),
				do:    func(rec core.AuditRecord) error { return s.IssueKey(ctx(t), k, tNow, rec, n) },
				world: world{parties: []string{"pat-1", "dr-a"}, shares: []string{sh.ID}, keys: []string{k.ID}},
			}
		}},
		{"ClaimKey", func(t *testing.T, s core.Store) op {
			sh, a := activeShare(t, s, nil)
			k := issuedKey(t, s, sh, a, tNow)
			return op{
				rec: Record("pat-1", "dr-a", core.RoleProfessional, core.AuditKeyClaim, k.ID, tNow),
				do: func(rec core.AuditRecord) error {
					_, err := s.ClaimKey(ctx(t), k, "dr-a", tNow, rec)
					return err
				},
				world: world{parties: []string{"pat-1", "dr-a"}, shares: []string{sh.ID}, keys: []string{k.ID}},
			}
		}},
		{"AppendAuditNotify", func(t *testing.T, s core.Store) op {
			sh, _ := activeShare(t, s, nil)
			n := Note("pat-1", core.NoteDeviceMismatch, sh.ID, tNow)
			rec := Record("pat-1", "dr-a", core.RoleProfessional, core.AuditAccessOpen, sh.ID, tNow)
			rec.Outcome, rec.Reason = core.OutcomeDenied, core.CodeDeviceMismatch
			return op{
				rec:   rec,
				do:    func(rec core.AuditRecord) error { return s.AppendAudit(ctx(t), rec, n) },
				world: world{parties: []string{"pat-1", "dr-a"}, shares: []string{sh.ID}},
			}
		}},
	}
	stale := []struct {
		name string
		link func(rec core.AuditRecord, old, current core.ChainHead) core.AuditRecord
	}{
		{"stale head", func(rec core.AuditRecord, old, _ core.ChainHead) core.AuditRecord { return core.Link(rec, old) }},
		{"sequence ahead", func(rec core.AuditRecord, _, cur core.ChainHead) core.AuditRecord {
			rec = core.Link(rec, cur)
			rec.Seq++
			rec.Hash = core.AuditHash(rec)
			return rec
		}},
		{"right sequence, wrong previous hash", func(rec core.AuditRecord, old, cur core.ChainHead) core.AuditRecord {
			return core.Link(rec, core.ChainHead{Seq: cur.Seq, Hash: old.Hash})
		}},
	}
	for _, o := range ops {
		for _, sc := range stale {
			t.Run(o.name+"/"+sc.name, func(t *testing.T) {
				s := newStore(t, h)
				op := o.setup(t, s)
				old, err := s.AuditHead(ctx(t), "pat-1")
				Must(t, "AuditHead", err)
				current := moveHead(t, s, "pat-1", 2)
				before := observe(t, s, op.world)

				err = op.do(sc.link(op.rec, old, current))
				var moved *core.HeadMismatchError
				if !errors.As(err, &moved) {
					t.Fatalf("%s: got %v, want *core.HeadMismatchError", o.name, err)
				}
				want := &core.HeadMismatchError{PatientID: "pat-1", Current: current}
				if diff := cmp.Diff(want, moved, shareCmpOpts); diff != "" {
					t.Errorf("%s: HeadMismatchError mismatch (-want +got):\n%s", o.name, diff)
				}
				wantUnchanged(t, s, op.world, before, o.name+" with a wrong head")

				// Relinked to the head the error carries, the same call goes
				// through: nothing of the failed attempt (such as an
				// idempotency claim) stands in its way.
				if err := op.do(core.Link(op.rec, moved.Current)); err != nil {
					t.Errorf("%s relinked to the current head: got %v, want nil", o.name, err)
				}
			})
		}
	}
}
