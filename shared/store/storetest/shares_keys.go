package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
)

func keyTimes(k core.EphemeralKey) map[string]time.Time {
	return map[string]time.Time{"CreatedAt": k.CreatedAt, "ExpiresAt": k.ExpiresAt, "ShareExpiresAt": k.ShareExpiresAt, "UsedAt": k.UsedAt}
}

func testIssueKey(t *testing.T, h Harness) {
	t.Run("ConsumesOneView", func(t *testing.T) {
		s := newStore(t, h)
		sh, a := activeShare(t, s, nil)
		want := GetShare(t, s, sh.ID)
		for i := range 2 {
			// Later than the access's notification, so that the inbox order
			// is defined (sortable ids have millisecond resolution).
			now := tNow.Add(time.Duration(i+1) * time.Second)
			k := NewKey(sh, a.ID, now)
			k.CreatedAt, k.ExpiresAt, k.ShareExpiresAt = k.CreatedAt.In(elsewhere), k.ExpiresAt.In(elsewhere), k.ShareExpiresAt.In(elsewhere)
			beforeChain := ListChain(t, s, "pat-1")
			beforeInbox := Flatten(ListInbox(t, s, "pat-1", 100))
			w := MustIssue(t, s, k, now.In(elsewhere))

			want.ViewsUsed = i + 1
			WantShare(t, s, want)
			got, err := s.GetKey(ctx(t), k.ID)
			Must(t, "GetKey", err)
			if diff := cmp.Diff(k, got, shareCmpOpts); diff != "" {
				t.Errorf("GetKey mismatch (-want +got):\n%s", diff)
			}
			WantUTC(t, "EphemeralKey", keyTimes(got))
			if diff := cmp.Diff(append(beforeChain, w.Rec), ListChain(t, s, "pat-1"), shareCmpOpts); diff != "" {
				t.Errorf("ListAudit(pat-1) after IssueKey %d mismatch (-want +got):\n%s", i, diff)
			}
			if diff := cmp.Diff(append([]core.InboxItem{Unread(w.Notes[0])}, beforeInbox...), Flatten(ListInbox(t, s, "pat-1", 100)), shareCmpOpts); diff != "" {
				t.Errorf("ListInbox(pat-1) after IssueKey %d mismatch (-want +got):\n%s", i, diff)
			}
		}
	})

	t.Run("ViewsExhausted", func(t *testing.T) {
		s := newStore(t, h)
		sh, a := activeShare(t, s, func(sh *core.Share) { sh.MaxViews = 2 })
		MustIssue(t, s, NewKey(sh, a.ID, tNow), tNow)
		MustIssue(t, s, NewKey(sh, a.ID, tNow), tNow)
		k := NewKey(sh, a.ID, tNow)
		w := world{parties: []string{"pat-1", "dr-a"}, shares: []string{sh.ID}, keys: []string{k.ID}}
		before := observe(t, s, w)
		_, err := TryIssue(t, s, k, tNow)
		WantCode(t, "IssueKey with no views left", err, core.KindGone, core.CodeViewsExhausted)
		wantUnchanged(t, s, w, before, "IssueKey with no views left")
		if got := GetShare(t, s, sh.ID).ViewsUsed; got != 2 {
			t.Errorf("ViewsUsed: got %d, want 2", got)
		}
	})

	t.Run("Refused", func(t *testing.T) {
		for _, tc := range []struct {
			name         string
			revoke       bool
			exhaust      bool
			now          time.Time
			professional string
			unknown      bool
			kind         core.Kind
			code         string
		}{
			// Revocation is the share's state, not a time: an issue whose now is
			// before the revoke's time is refused too.
			{"revoked", true, false, tNow, "dr-a", false, core.KindGone, core.CodeSessionRevoked},
			{"expired at now", false, false, t0.Add(shareTTL), "dr-a", false, core.KindGone, core.CodeSessionExpired},
			{"revoked and expired", true, false, t0.Add(shareTTL), "dr-a", false, core.KindGone, core.CodeSessionRevoked},
			{"revoked and exhausted", true, true, tNow, "dr-a", false, core.KindGone, core.CodeSessionRevoked},
			{"expired and exhausted", false, true, t0.Add(shareTTL), "dr-a", false, core.KindGone, core.CodeSessionExpired},
			{"another professional", false, false, tNow, "dr-b", false, core.KindNotFound, core.CodeNotFound},
			{"another professional, revoked", true, false, tNow, "dr-b", false, core.KindNotFound, core.CodeNotFound},
			{"another professional, exhausted", false, true, tNow, "dr-b", false, core.KindNotFound, core.CodeNotFound},
			{"another professional, expired", false, false, t0.Add(shareTTL), "dr-b", false, core.KindNotFound, core.CodeNotFound},
			{"unknown share", false, false, tNow, "dr-a", true, core.KindNotFound, core.CodeNotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t, h)
				sh, a := activeShare(t, s, func(sh *core.Share) { sh.MaxViews = 1 })
				if tc.exhaust {
					MustIssue(t, s, NewKey(sh, a.ID, tNow), tNow)
				}
				if tc.revoke {
					mustRevoke(t, s, sh, tNow.Add(5*time.Minute))
				}
				k := NewKey(sh, a.ID, tc.now)
				k.ProfessionalID = tc.professional
				if tc.unknown {
					k.ShareID = core.NewID("sh")
				}
				w := world{parties: []string{"pat-1", "dr-a", "dr-b"}, shares: []string{sh.ID}, keys: []string{k.ID}}
				wantRefused(t, s, w, sh.ID, "IssueKey", tc.kind, tc.code, tc.unknown, func() error {
					_, err := TryIssue(t, s, k, tc.now)
					return err
				}, func(sh core.Share) error { return sh.RefuseView(tc.professional, tc.now) })
			})
		}
	})

	t.Run("PhotoDeleted", func(t *testing.T) {
		// A deleted photo's key is never released again: IssueKey of it is
		// KindNotFound and writes nothing (no view, key, notification or
		// record), while the share's other photo stays viewable.
		s := newStore(t, h)
		sh, a := activeShare(t, s, nil)
		deleted, kept := sh.Photos[0], sh.Photos[1]
		MustIssue(t, s, photoKey(sh, deleted, a.ID, tNow), tNow) // viewable before
		_, err := s.DeletePhoto(ctx(t), sh.PatientID, deleted.PhotoID)
		Must(t, "DeletePhoto "+deleted.PhotoID, err)

		now := tNow.Add(time.Second)
		k := photoKey(sh, deleted, a.ID, now)
		w := world{parties: []string{"pat-1", "dr-a"}, shares: []string{sh.ID}, accesses: []string{a.ID}, keys: []string{k.ID}}
		before := observe(t, s, w)
		if got := before.Shares[sh.ID]; got == nil || got.ViewsUsed != 1 {
			t.Fatalf("setup: share %s is %+v, want it stored with 1 view", sh.ID, got)
		}
		_, err = TryIssue(t, s, k, now)
		WantCode(t, "IssueKey of a deleted photo", err, core.KindNotFound, core.CodeNotFound)
		wantUnchanged(t, s, w, before, "IssueKey of a deleted photo")
		if _, err := s.GetPhoto(ctx(t), sh.PatientID, deleted.PhotoID); core.KindOf(err) != core.KindNotFound {
			t.Errorf("GetPhoto of the deleted photo after IssueKey: got %v, want kind not found", err)
		}

		// The share's other photo: its key is issued, and the view counted.
		later := now.Add(time.Second)
		other := photoKey(sh, kept, a.ID, later)
		ow := MustIssue(t, s, other, later)
		wantKey(t, s, other)
		want := *before.Shares[sh.ID]
		want.ViewsUsed = 2
		WantShare(t, s, want)
		if diff := cmp.Diff(append(before.Chains["pat-1"], ow.Rec), ListChain(t, s, "pat-1"), shareCmpOpts); diff != "" {
			t.Errorf("ListAudit(pat-1) after IssueKey of the kept photo mismatch (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(append([]core.InboxItem{Unread(ow.Notes[0])}, before.Inboxes["pat-1"]...), Flatten(ListInbox(t, s, "pat-1", 100)), shareCmpOpts); diff != "" {
			t.Errorf("ListInbox(pat-1) after IssueKey of the kept photo mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("ExpiryAtReadTime", func(t *testing.T) {
		s := newStore(t, h)
		sh, a := activeShare(t, s, nil)
		last := sh.ExpiresAt.Add(-time.Nanosecond)
		MustIssue(t, s, NewKey(sh, a.ID, last), last)
		_, err := TryIssue(t, s, NewKey(sh, a.ID, sh.ExpiresAt), sh.ExpiresAt)
		WantCode(t, "IssueKey at the share's expiry", err, core.KindGone, core.CodeSessionExpired)
		if got := GetShare(t, s, sh.ID); got.Status != core.ShareActive || got.ViewsUsed != 1 {
			t.Errorf("stored share: got status %q with %d views, want %q with 1", got.Status, got.ViewsUsed, core.ShareActive)
		}
	})
}

func testClaimKey(t *testing.T, h Harness) {
	t.Run("ClaimOnce", func(t *testing.T) {
		s := newStore(t, h)
		sh, a := activeShare(t, s, nil)
		k := issuedKey(t, s, sh, a, tNow)
		shareBefore := GetShare(t, s, sh.ID)
		inboxBefore := Flatten(ListInbox(t, s, "pat-1", 100))
		chainBefore := ListChain(t, s, "pat-1")
		at := tNow.Add(time.Second)
		got, w, err := TryClaim(t, s, k, "dr-a", at.In(elsewhere))
		Must(t, "ClaimKey", err)
		want := k
		want.Status, want.UsedAt = core.KeyUsed, at
		if diff := cmp.Diff(want, got, shareCmpOpts); diff != "" {
			t.Errorf("ClaimKey returned (-want +got):\n%s", diff)
		}
		wantKey(t, s, want)
		stored, err := s.GetKey(ctx(t), k.ID)
		Must(t, "GetKey", err)
		WantUTC(t, "EphemeralKey", keyTimes(stored))
		// The claim writes its record, and neither a view nor a notification.
		if diff := cmp.Diff(append(chainBefore, w.Rec), ListChain(t, s, "pat-1"), shareCmpOpts); diff != "" {
			t.Errorf("ListAudit(pat-1) after ClaimKey mismatch (-want +got):\n%s", diff)
		}
		WantShare(t, s, shareBefore)
		if diff := cmp.Diff(inboxBefore, Flatten(ListInbox(t, s, "pat-1", 100)), shareCmpOpts); diff != "" {
			t.Errorf("ListInbox(pat-1) after ClaimKey mismatch (-want +got):\n%s", diff)
		}

		// A second claim fails and writes nothing.
		ww := world{parties: []string{"pat-1", "dr-a"}, shares: []string{sh.ID}, keys: []string{k.ID}}
		before := observe(t, s, ww)
		_, _, err = TryClaim(t, s, k, "dr-a", at.Add(time.Second))
		WantCode(t, "ClaimKey again", err, core.KindGone, core.CodeKeyUsed)
		wantUnchanged(t, s, ww, before, "ClaimKey again")
	})

	t.Run("KeyExpiry", func(t *testing.T) {
		s := newStore(t, h)
		sh, a := activeShare(t, s, nil)
		k := issuedKey(t, s, sh, a, tNow)
		last := k.ExpiresAt.Add(-time.Nanosecond)
		if _, _, err := TryClaim(t, s, issuedKey(t, s, sh, a, tNow), "dr-a", last); err != nil {
			t.Errorf("ClaimKey one nanosecond before the key expires: got %v, want nil", err)
		}
		for _, now := range []time.Time{k.ExpiresAt, k.ExpiresAt.Add(30 * time.Second)} {
			w := world{parties: []string{"pat-1", "dr-a"}, shares: []string{sh.ID}, keys: []string{k.ID}}
			before := observe(t, s, w)
			_, _, err := TryClaim(t, s, k, "dr-a", now)
			op := fmt.Sprintf("ClaimKey %v after the key's expiry", now.Sub(k.ExpiresAt))
			WantCode(t, op, err, core.KindGone, core.CodeKeyExpired)
			wantUnchanged(t, s, w, before, op)
		}
	})

	t.Run("Refused", func(t *testing.T) {
		for _, tc := range []struct {
			name         string
			revoke       bool
			claimed      bool
			now          time.Duration // after the key was issued
			professional string
			kind         core.Kind
			code         string
		}{
			// Keys issued before the revoke can no longer be claimed (ARCHITECTURE
			// §2.5), even unexpired and with a now before the revoke's time.
			{"share revoked", true, false, time.Second, "dr-a", core.KindGone, core.CodeSessionRevoked},
			{"share expired at now", false, false, 20 * time.Second, "dr-a", core.KindGone, core.CodeSessionExpired},
			{"share revoked and expired", true, false, 20 * time.Second, "dr-a", core.KindGone, core.CodeSessionRevoked},
			{"another professional", false, false, time.Second, "dr-b", core.KindNotFound, core.CodeNotFound},
			{"another professional, used key", false, true, time.Second, "dr-b", core.KindNotFound, core.CodeNotFound},
			{"another professional, expired key", false, false, time.Hour, "dr-b", core.KindNotFound, core.CodeNotFound},
			{"another professional, share revoked", true, false, time.Second, "dr-b", core.KindNotFound, core.CodeNotFound},
			{"the patient", false, false, time.Second, "pat-1", core.KindNotFound, core.CodeNotFound},
			// The key's own refusal comes before its share's
			// (core.EphemeralKey.RefuseClaim, then core.Share.RefuseUse).
			{"key expired, share revoked", true, false, core.MaxKeyTTL, "dr-a", core.KindGone, core.CodeKeyExpired},
			{"key used, share revoked", true, true, time.Second, "dr-a", core.KindGone, core.CodeKeyUsed},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t, h)
				sh, a := activeShare(t, s, nil)
				// Issued 10 s before the share expires: the key outlives the
				// share by 50 s, so that share expiry and key expiry differ.
				issued := sh.ExpiresAt.Add(-10 * time.Second)
				k := issuedKey(t, s, sh, a, issued)
				if tc.claimed {
					_, _, err := TryClaim(t, s, k, "dr-a", issued)
					Must(t, "ClaimKey", err)
				}
				if tc.revoke {
					mustRevoke(t, s, sh, issued.Add(time.Hour))
				}
				w := world{parties: []string{"pat-1", "dr-a", "dr-b"}, shares: []string{sh.ID}, keys: []string{k.ID}}
				before := observe(t, s, w)
				_, _, err := TryClaim(t, s, k, tc.professional, issued.Add(tc.now))
				WantCode(t, "ClaimKey", err, tc.kind, tc.code)
				rule := before.Keys[k.ID].RefuseClaim(tc.professional, k.ShareID, issued.Add(tc.now))
				if rule == nil {
					rule = before.Shares[sh.ID].RefuseUse(tc.professional, issued.Add(tc.now))
				}
				wantRule(t, "ClaimKey", err, rule)
				wantUnchanged(t, s, w, before, "ClaimKey")
			})
		}
	})

	t.Run("UnknownKey", func(t *testing.T) {
		s := newStore(t, h)
		sh, a := activeShare(t, s, nil)
		k := NewKey(sh, a.ID, tNow)
		w := world{parties: []string{"pat-1", "dr-a"}, shares: []string{sh.ID}, keys: []string{k.ID}}
		before := observe(t, s, w)
		_, _, err := TryClaim(t, s, k, "dr-a", tNow)
		WantKind(t, "ClaimKey of a key never issued", err, core.KindNotFound)
		wantUnchanged(t, s, w, before, "ClaimKey of a key never issued")
	})

	t.Run("AnotherSharesID", func(t *testing.T) {
		// The key's own share is revoked; a key that names another, active,
		// share of the same grantee is not the stored key, and must not get
		// past the revoke.
		s := newStore(t, h)
		sh, a := activeShare(t, s, nil)
		k := issuedKey(t, s, sh, a, tNow)
		other := NewShare("pat-1", "dr-a", t0.Add(time.Second))
		CreateShare(t, s, other)
		mustRevoke(t, s, sh, tNow)
		forged := k
		forged.ShareID = other.ID
		w := world{parties: []string{"pat-1", "dr-a"}, shares: []string{sh.ID, other.ID}, keys: []string{k.ID}}
		before := observe(t, s, w)
		_, _, err := TryClaim(t, s, forged, "dr-a", tNow.Add(time.Second))
		WantKind(t, "ClaimKey naming another share", err, core.KindNotFound)
		wantUnchanged(t, s, w, before, "ClaimKey naming another share")
	})
}
