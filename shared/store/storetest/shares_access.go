package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
)

const revokeReason = "revoked in sharetest"

func testRevokeShare(t *testing.T, h Harness) {
	t.Run("Revoke", func(t *testing.T) {
		s := newStore(t, h)
		sh, a := activeShare(t, s, nil)
		MustIssue(t, s, NewKey(sh, a.ID, tNow), tNow)
		want := GetShare(t, s, sh.ID) // views and devices survive the revoke
		at := tNow.Add(time.Minute)
		revoked, w, err := tryRevoke(t, s, sh, "pat-1", at.In(elsewhere))
		Must(t, "RevokeShare", err)
		if !revoked {
			t.Errorf("RevokeShare of an active share: got revoked=false, want true")
		}
		want.Status, want.RevokedAt, want.RevokedBy, want.RevokeReason = core.ShareRevoked, at, w.Rec.ActorID, revokeReason
		WantShare(t, s, want)
		WantUTC(t, "Share", shareTimes(GetShare(t, s, sh.ID)))
		items := Flatten(ListInbox(t, s, "dr-a", 10))
		if len(items) == 0 || !cmp.Equal(Unread(w.Notes[0]), items[0], shareCmpOpts) {
			t.Errorf("ListInbox(dr-a): got %+v, want the revoke notification first", items)
		}
		chain := ListChain(t, s, "pat-1")
		if len(chain) == 0 || !cmp.Equal(w.Rec, chain[len(chain)-1], shareCmpOpts) {
			t.Errorf("ListAudit(pat-1): the revoke record is not the last record")
		}
	})

	t.Run("AlreadyRevoked", func(t *testing.T) {
		s := newStore(t, h)
		sh := NewShare("pat-1", "dr-a", t0)
		CreateShare(t, s, sh)
		first := mustRevoke(t, s, sh, tNow)
		w := world{parties: []string{"pat-1", "dr-a"}, shares: []string{sh.ID}}
		before := observe(t, s, w)
		// Later, with another reason: not revoked by this call, the share stays
		// as the first revoke left it, and no second notification or record
		// is written.
		n := Note("dr-a", core.NoteSessionRevoked, sh.ID, tNow.Add(time.Hour))
		rec := Linked(t, s, Record("pat-1", "pat-1", core.RolePatient, core.AuditShareRevoke, sh.ID, tNow.Add(time.Hour)))
		revoked, err := s.RevokeShare(ctx(t), sh.ID, "pat-1", tNow.Add(time.Hour), "another reason", rec, n)
		Must(t, "RevokeShare again", err)
		if revoked {
			t.Errorf("RevokeShare of a revoked share: got revoked=true, want false")
		}
		WantShare(t, s, first)
		wantUnchanged(t, s, w, before, "RevokeShare of a revoked share")
	})

	t.Run("RevokedByTheRecordsActor", func(t *testing.T) {
		// RevokedBy is the actor of the revoking record, which need not be the
		// patient whose share it is.
		s := newStore(t, h)
		sh := NewShare("pat-1", "dr-a", t0)
		CreateShare(t, s, sh)
		n := Note("dr-a", core.NoteSessionRevoked, sh.ID, tNow)
		rec := Linked(t, s, Record("pat-1", "clinic-1", core.RoleClinic, core.AuditShareRevoke, sh.ID, tNow))
		revoked, err := s.RevokeShare(ctx(t), sh.ID, "pat-1", tNow, revokeReason, rec, n)
		Must(t, "RevokeShare", err)
		if !revoked {
			t.Errorf("RevokeShare of an active share: got revoked=false, want true")
		}
		wantRevoked(t, s, sh.ID, tNow, "clinic-1", revokeReason)
		chain := ListChain(t, s, "pat-1")
		if len(chain) == 0 || !cmp.Equal(rec, chain[len(chain)-1], shareCmpOpts) {
			t.Errorf("ListAudit(pat-1): the revoke record is not the last record")
		}
	})

	t.Run("NotThePatients", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			patient string
			revoked bool
			unknown bool
		}{
			{"another patient", "pat-2", false, false},
			{"another patient, revoked share", "pat-2", true, false},
			{"the grantee", "dr-a", false, false},
			{"unknown share", "pat-1", false, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t, h)
				sh := NewShare("pat-1", "dr-a", t0)
				CreateShare(t, s, sh)
				if tc.revoked {
					mustRevoke(t, s, sh, tNow)
				}
				target := sh
				if tc.unknown {
					target.ID = core.NewID("sh")
				}
				w := world{parties: []string{"pat-1", "pat-2", "dr-a"}, shares: []string{sh.ID, target.ID}}
				before := observe(t, s, w)
				revoked, _, err := tryRevoke(t, s, target, tc.patient, tNow.Add(time.Minute))
				WantKind(t, "RevokeShare", err, core.KindNotFound)
				if revoked {
					t.Errorf("RevokeShare: got revoked=true with error %v, want false", err)
				}
				wantUnchanged(t, s, w, before, "RevokeShare")
			})
		}
	})
}

func accessTimes(a core.Access) map[string]time.Time {
	return map[string]time.Time{"CreatedAt": a.CreatedAt, "ExpiresAt": a.ExpiresAt, "ShareExpiresAt": a.ShareExpiresAt}
}

func testOpenAccess(t *testing.T, h Harness) {
	t.Run("FirstDeviceBinds", func(t *testing.T) {
		s := newStore(t, h)
		sh := NewShare("pat-1", "dr-a", t0)
		cw := CreateShare(t, s, sh)
		a := NewAccess(sh, "device-1", tNow)
		a.CreatedAt, a.ExpiresAt, a.ShareExpiresAt = a.CreatedAt.In(elsewhere), a.ExpiresAt.In(elsewhere), a.ShareExpiresAt.In(elsewhere)
		w := MustOpen(t, s, a, tNow.In(elsewhere))

		got, err := s.GetAccess(ctx(t), a.ID)
		Must(t, "GetAccess", err)
		if diff := cmp.Diff(a, got, shareCmpOpts); diff != "" {
			t.Errorf("GetAccess mismatch (-want +got):\n%s", diff)
		}
		WantUTC(t, "Access", accessTimes(got))
		sh.Devices = []string{"device-1"}
		want := state{
			Heads:     map[string]core.ChainHead{"pat-1": HeadOf(w.Rec), "dr-a": {}},
			Chains:    map[string][]core.AuditRecord{"pat-1": {cw.Rec, w.Rec}, "dr-a": nil},
			ByActor:   map[string][]core.AuditRecord{"pat-1": {cw.Rec}, "dr-a": {w.Rec}},
			Inboxes:   map[string][]core.InboxItem{"pat-1": {Unread(w.Notes[0])}, "dr-a": {Unread(cw.Notes[0])}},
			ByPatient: map[string][]core.Share{"pat-1": {sh}, "dr-a": nil},
			ByGrantee: map[string][]core.Share{"pat-1": nil, "dr-a": {sh}},
			Shares:    map[string]*core.Share{sh.ID: &sh},
			Accesses:  map[string]*core.Access{a.ID: &a},
			Keys:      map[string]*core.EphemeralKey{},
		}
		if diff := cmp.Diff(want, observe(t, s, world{parties: []string{"pat-1", "dr-a"}, shares: []string{sh.ID}, accesses: []string{a.ID}}), shareCmpOpts); diff != "" {
			t.Errorf("store after OpenAccess mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("Devices", func(t *testing.T) {
		for _, tc := range []struct {
			name       string
			maxDevices int
			opens      []string // devices, in order
			refused    map[int]bool
			bound      []string
		}{
			{"same device again", 1, []string{"device-1", "device-1", "device-1"}, nil, []string{"device-1"}},
			{"second device, max 1", 1, []string{"device-1", "device-2", "device-1"}, map[int]bool{1: true}, []string{"device-1"}},
			{"third device, max 2", 2, []string{"device-1", "device-2", "device-3", "device-2", "device-1"}, map[int]bool{2: true}, []string{"device-1", "device-2"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t, h)
				sh := NewShare("pat-1", "dr-a", t0)
				sh.MaxDevices = tc.maxDevices
				CreateShare(t, s, sh)
				for i, device := range tc.opens {
					now := tNow.Add(time.Duration(i) * time.Second)
					a := NewAccess(sh, device, now)
					w := world{parties: []string{"pat-1", "dr-a"}, shares: []string{sh.ID}, accesses: []string{a.ID}}
					before := observe(t, s, w)
					_, err := TryOpen(t, s, a, now)
					op := fmt.Sprintf("OpenAccess %d on %s", i, device)
					if tc.refused[i] {
						WantCode(t, op, err, core.KindForbidden, core.CodeDeviceMismatch)
						wantUnchanged(t, s, w, before, op)
						continue
					}
					if err != nil {
						t.Errorf("%s: got %v, want nil", op, err)
						continue
					}
					got, err := s.GetAccess(ctx(t), a.ID)
					Must(t, "GetAccess", err)
					if diff := cmp.Diff(a, got, shareCmpOpts); diff != "" {
						t.Errorf("%s: GetAccess mismatch (-want +got):\n%s", op, diff)
					}
				}
				sh.Devices = tc.bound
				WantShare(t, s, sh)
			})
		}
	})

	t.Run("Refused", func(t *testing.T) {
		for _, tc := range []struct {
			name         string
			revoke       bool
			now          time.Time
			professional string
			unknown      bool
			kind         core.Kind
			code         string
		}{
			// Revocation is the share's state, not a time: an open whose now
			// is before the revoke's time is refused too.
			{"revoked", true, tNow, "dr-a", false, core.KindGone, core.CodeSessionRevoked},
			{"revoked and expired", true, t0.Add(shareTTL), "dr-a", false, core.KindGone, core.CodeSessionRevoked},
			{"expired at now", false, t0.Add(shareTTL), "dr-a", false, core.KindGone, core.CodeSessionExpired},
			{"long expired", false, t0.Add(48 * time.Hour), "dr-a", false, core.KindGone, core.CodeSessionExpired},
			{"another professional", false, tNow, "dr-b", false, core.KindNotFound, core.CodeNotFound},
			{"another professional, revoked", true, tNow, "dr-b", false, core.KindNotFound, core.CodeNotFound},
			{"another professional, expired", false, t0.Add(shareTTL), "dr-b", false, core.KindNotFound, core.CodeNotFound},
			{"the patient", false, tNow, "pat-1", false, core.KindNotFound, core.CodeNotFound},
			{"unknown share", false, tNow, "dr-a", true, core.KindNotFound, core.CodeNotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t, h)
				sh := NewShare("pat-1", "dr-a", t0)
				CreateShare(t, s, sh)
				if tc.revoke {
					mustRevoke(t, s, sh, tNow.Add(5*time.Minute))
				}
				a := NewAccess(sh, "device-1", tc.now)
				a.ProfessionalID = tc.professional
				if tc.unknown {
					a.ShareID = core.NewID("sh")
				}
				w := world{parties: []string{"pat-1", "dr-a", "dr-b"}, shares: []string{sh.ID}, accesses: []string{a.ID}}
				wantRefused(t, s, w, sh.ID, "OpenAccess", tc.kind, tc.code, tc.unknown, func() error {
					_, err := TryOpen(t, s, a, tc.now)
					return err
				}, func(sh core.Share) error { return sh.RefuseDevice(tc.professional, a.DeviceFingerprint, tc.now) })
			})
		}
	})

	t.Run("ExpiryAtReadTime", func(t *testing.T) {
		// One nanosecond before its expiry the share opens; at its expiry it
		// is expired although it is still ACTIVE in the store.
		s := newStore(t, h)
		sh := NewShare("pat-1", "dr-a", t0)
		CreateShare(t, s, sh)
		last := sh.ExpiresAt.Add(-time.Nanosecond)
		MustOpen(t, s, NewAccess(sh, "device-1", last), last)
		_, err := TryOpen(t, s, NewAccess(sh, "device-1", sh.ExpiresAt), sh.ExpiresAt)
		WantCode(t, "OpenAccess at the share's expiry", err, core.KindGone, core.CodeSessionExpired)
		if got := GetShare(t, s, sh.ID); got.Status != core.ShareActive {
			t.Errorf("stored status: got %q, want %q (expiry is derived at read time)", got.Status, core.ShareActive)
		}
	})
}
