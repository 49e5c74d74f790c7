package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
)

func shareTimes(s core.Share) map[string]time.Time {
	return map[string]time.Time{"CreatedAt": s.CreatedAt, "ExpiresAt": s.ExpiresAt, "RevokedAt": s.RevokedAt}
}

// wantReplay fails t unless err is *core.IdempotencyReplayError naming first.
func wantReplay(t *testing.T, op string, err error, first core.Share) {
	t.Helper()
	var replay *core.IdempotencyReplayError
	if !errors.As(err, &replay) {
		t.Errorf("%s: got %v, want *core.IdempotencyReplayError", op, err)
		return
	}
	want := &core.IdempotencyReplayError{ShareID: first.ID, RequestHash: first.RequestHash}
	if diff := cmp.Diff(want, replay, shareCmpOpts); diff != "" {
		t.Errorf("%s: replay error mismatch (-want +got):\n%s", op, diff)
	}
}

func testCreateShare(t *testing.T, h Harness) {
	t.Run("RoundTrip", func(t *testing.T) {
		s := newStore(t, h)
		// Every field set (fixtures.go), so that one that a store drops shows.
		sh := everyFieldShare("pat-1", "dr-a", t0.In(elsewhere))
		sh.ExpiresAt = t0.Add(shareTTL + time.Nanosecond).In(elsewhere)
		w := CreateShare(t, s, sh)

		got := GetShare(t, s, sh.ID)
		if diff := cmp.Diff(sh, got, shareCmpOpts); diff != "" {
			t.Errorf("GetShare mismatch (-want +got):\n%s", diff)
		}
		WantUTC(t, "Share", shareTimes(got))
		// The grantee's notification, the record, its head and its by-actor
		// entry, and both index entries were written with the share.
		want := state{
			Heads:     map[string]core.ChainHead{"pat-1": HeadOf(w.Rec), "dr-a": {}},
			Chains:    map[string][]core.AuditRecord{"pat-1": {w.Rec}, "dr-a": nil},
			ByActor:   map[string][]core.AuditRecord{"pat-1": {w.Rec}, "dr-a": nil},
			Inboxes:   map[string][]core.InboxItem{"pat-1": nil, "dr-a": {Unread(w.Notes[0])}},
			ByPatient: map[string][]core.Share{"pat-1": {sh}, "dr-a": nil},
			ByGrantee: map[string][]core.Share{"pat-1": nil, "dr-a": {sh}},
			Shares:    map[string]*core.Share{sh.ID: &sh}, Accesses: map[string]*core.Access{}, Keys: map[string]*core.EphemeralKey{},
		}
		if diff := cmp.Diff(want, observe(t, s, world{parties: []string{"pat-1", "dr-a"}, shares: []string{sh.ID}}), shareCmpOpts); diff != "" {
			t.Errorf("store after CreateShare mismatch (-want +got):\n%s", diff)
		}
		items, _, err := s.ListInbox(ctx(t), "dr-a", core.Page{Limit: 10})
		Must(t, "ListInbox", err)
		for _, it := range items {
			WantUTC(t, "Notification", map[string]time.Time{"CreatedAt": it.CreatedAt})
		}
		recs, _, err := s.ListAudit(ctx(t), "pat-1", false, core.Page{Limit: 10})
		Must(t, "ListAudit", err)
		for _, r := range recs {
			WantUTC(t, "AuditRecord", map[string]time.Time{"At": r.At})
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t, h)
		CreateShare(t, s, NewShare("pat-1", "dr-a", t0))
		_, err := s.GetShare(ctx(t), core.NewID("sh"))
		WantKind(t, "GetShare of an unknown id", err, core.KindNotFound)
		_, err = s.GetAccess(ctx(t), core.NewID("ac"))
		WantKind(t, "GetAccess of an unknown id", err, core.KindNotFound)
		_, err = s.GetKey(ctx(t), core.NewID("ek"))
		WantKind(t, "GetKey of an unknown id", err, core.KindNotFound)
	})

	t.Run("DuplicateID", func(t *testing.T) {
		for _, patient := range []string{"pat-1", "pat-2"} {
			t.Run("by "+patient, func(t *testing.T) {
				s := newStore(t, h)
				sh := NewShare("pat-1", "dr-a", t0)
				sh.IdempotencyKey, sh.RequestHash = "idem-1", Digest("request 1")
				CreateShare(t, s, sh)
				dup := NewShare(patient, "dr-b", t0.Add(time.Minute))
				dup.ID = sh.ID
				dup.IdempotencyKey, dup.RequestHash = "idem-2", Digest("request 2")
				w := world{parties: []string{"pat-1", "pat-2", "dr-a", "dr-b"}, shares: []string{sh.ID}}
				before := observe(t, s, w)
				_, err := tryCreate(t, s, dup)
				WantKind(t, "CreateShare of an existing id", err, core.KindConflict)
				wantUnchanged(t, s, w, before, "CreateShare of an existing id")
				// The failed create did not claim its idempotency key.
				other := NewShare(patient, "dr-b", t0.Add(2*time.Minute))
				other.IdempotencyKey, other.RequestHash = "idem-2", Digest("request 3")
				_, err = tryCreate(t, s, other)
				if err != nil {
					t.Errorf("CreateShare with the key of a failed create: got %v, want nil (the key was not claimed)", err)
				}
			})
		}
	})

	t.Run("IdempotencyReplay", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			hash []byte
		}{
			{"same request", Digest("request 1")},
			{"another request", Digest("request 2")},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t, h)
				first := NewShare("pat-1", "dr-a", t0)
				first.IdempotencyKey, first.RequestHash = "idem-1", Digest("request 1")
				CreateShare(t, s, first)
				second := NewShare("pat-1", "dr-b", t0.Add(time.Hour))
				second.IdempotencyKey, second.RequestHash = "idem-1", tc.hash
				w := world{parties: []string{"pat-1", "dr-a", "dr-b"}, shares: []string{first.ID, second.ID}}
				before := observe(t, s, w)
				_, err := tryCreate(t, s, second)
				wantReplay(t, "CreateShare with a used key", err, first)
				wantUnchanged(t, s, w, before, "CreateShare with a used key")
			})
		}
	})

	t.Run("IdempotencyPerPatient", func(t *testing.T) {
		s := newStore(t, h)
		first := NewShare("pat-1", "dr-a", t0)
		first.IdempotencyKey, first.RequestHash = "idem-1", Digest("request 1")
		CreateShare(t, s, first)
		other := NewShare("pat-2", "dr-a", t0.Add(time.Minute))
		other.IdempotencyKey, other.RequestHash = "idem-1", Digest("request 1")
		CreateShare(t, s, other)
		WantShare(t, s, other)
		// Both claims stand.
		for _, sh := range []core.Share{first, other} {
			again := NewShare(sh.PatientID, "dr-b", t0.Add(2*time.Minute))
			again.IdempotencyKey, again.RequestHash = "idem-1", Digest("request 2")
			_, err := tryCreate(t, s, again)
			wantReplay(t, "CreateShare again by "+sh.PatientID, err, sh)
		}
	})

	t.Run("IdempotencyExpires", func(t *testing.T) {
		s := newStore(t, h)
		first := NewShare("pat-1", "dr-a", t0)
		first.IdempotencyKey, first.RequestHash = "idem-1", Digest("request 1")
		CreateShare(t, s, first)
		withKey := func(created time.Time, request string) core.Share {
			sh := NewShare("pat-1", "dr-a", created)
			sh.IdempotencyKey, sh.RequestHash = "idem-1", Digest(request)
			return sh
		}
		// One nanosecond before the claim expires, it holds.
		_, err := tryCreate(t, s, withKey(t0.Add(core.IdempotencyTTL-time.Nanosecond), "request 2"))
		wantReplay(t, "CreateShare just before the claim expires", err, first)
		// At its expiry the claim is absent (ARCHITECTURE §2.2), whether or not it
		// was cleaned up, and the new share claims the key afresh.
		second := withKey(t0.Add(core.IdempotencyTTL), "request 3")
		if _, err := tryCreate(t, s, second); err != nil {
			t.Fatalf("CreateShare when the claim has expired: got %v, want nil", err)
		}
		WantShare(t, s, second)
		_, err = tryCreate(t, s, withKey(second.CreatedAt.Add(time.Second), "request 4"))
		wantReplay(t, "CreateShare after the key was claimed again", err, second)
	})

	t.Run("NoIdempotencyKey", func(t *testing.T) {
		s := newStore(t, h)
		a := NewShare("pat-1", "dr-a", t0)
		b := NewShare("pat-1", "dr-a", t0.Add(time.Second))
		CreateShare(t, s, a)
		CreateShare(t, s, b)
		WantShare(t, s, a)
		WantShare(t, s, b)
	})
}

func testListShares(t *testing.T, h Harness) {
	s := newStore(t, h)
	// Created in an order that is not time order; parties whose ids start
	// like others' must never leak into their lists.
	specs := []struct {
		patient, professional string
		minute                int
	}{
		{"pat-1", "dr-a", 3}, {"pat-1", "dr-b", 1}, {"pat-10", "dr-a", 5}, {"pat-1", "dr-a", 0},
		{"pat-1", "dr-a10", 4}, {"pat-2", "dr-a", 2}, {"pat-1", "dr-a", 6}, {"pat-", "dr-", 7},
	}
	var all []core.Share
	for _, sp := range specs {
		sh := NewShare(sp.patient, sp.professional, t0.Add(time.Duration(sp.minute)*time.Minute+time.Duration(sp.minute)))
		CreateShare(t, s, sh)
		all = append(all, sh)
	}
	// Some shares change after they are created: lists show them as stored
	// now, not as indexed then.
	revoked := mustRevoke(t, s, all[0], tNow)
	a := NewAccess(all[3], "device-1", tNow)
	MustOpen(t, s, a, tNow)
	MustIssue(t, s, NewKey(all[3], a.ID, tNow), tNow)
	for i := range all {
		all[i] = GetShare(t, s, all[i].ID)
	}
	if all[0].Status != core.ShareRevoked || all[0].RevokedAt.IsZero() || revoked.Status != core.ShareRevoked {
		t.Fatalf("setup: share %s was not revoked", all[0].ID)
	}
	if all[3].ViewsUsed != 1 || len(all[3].Devices) != 1 {
		t.Fatalf("setup: share %s has %d views and %d devices, want 1 and 1", all[3].ID, all[3].ViewsUsed, len(all[3].Devices))
	}
	newestFirst := slices.Clone(all)
	slices.SortFunc(newestFirst, func(a, b core.Share) int { return b.CreatedAt.Compare(a.CreatedAt) })

	for _, tc := range []struct {
		party string
		role  core.Role
	}{
		{"pat-1", core.RolePatient}, {"pat-10", core.RolePatient}, {"pat-2", core.RolePatient}, {"pat-", core.RolePatient},
		{"pat-nobody", core.RolePatient},
		{"dr-a", core.RoleProfessional}, {"dr-b", core.RoleProfessional}, {"dr-a10", core.RoleProfessional},
		{"dr-", core.RoleProfessional}, {"dr-nobody", core.RoleProfessional},
		// A party's id under the other role names no share.
		{"dr-a", core.RolePatient}, {"pat-1", core.RoleProfessional},
	} {
		for _, limit := range []int{1, 2, 100} {
			t.Run(fmt.Sprintf("%s as %s, limit %d", tc.party, tc.role, limit), func(t *testing.T) {
				var want []core.Share
				for _, sh := range newestFirst {
					if (tc.role == core.RolePatient && sh.PatientID == tc.party) || (tc.role == core.RoleProfessional && sh.ProfessionalID == tc.party) {
						want = append(want, sh)
					}
				}
				got := Flatten(listShares(t, s, tc.party, tc.role, limit))
				if diff := cmp.Diff(want, got, shareCmpOpts); diff != "" {
					t.Errorf("ListShares(%s, %s) mismatch (-want +got):\n%s", tc.party, tc.role, diff)
				}
			})
		}
	}
}
