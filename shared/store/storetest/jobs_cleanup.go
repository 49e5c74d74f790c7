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

func testAbandonUpload(t *testing.T, h Harness) {
	t.Run("Photo", func(t *testing.T) {
		s := newStore(t, h)
		p := createPhoto(t, s, "pat-1", t0.Add(uploadWindow))
		other := createPhoto(t, s, "pat-1", t0.Add(uploadWindow))
		// The item as the cleanup job gets it, abandoned at the very end of
		// its window.
		due := listDue(t, s, core.DueUpload, p.UploadExpiresAt, p.UploadExpiresAt.Add(time.Second), 100)
		i := slices.IndexFunc(due, func(it core.DueItem) bool { return it.ID == p.ID })
		if i < 0 {
			t.Fatalf("ListDue(upload): got %+v, want %s among them", due, p.ID)
		}
		Must(t, "AbandonUpload", s.AbandonUpload(ctx(t), due[i], p.UploadExpiresAt))
		_, err := s.GetPhoto(ctx(t), p.OwnerID, p.ID)
		WantKind(t, "GetPhoto of an abandoned photo", err, core.KindNotFound)
		photos, _, err := s.ListPhotos(ctx(t), "pat-1", core.Page{Limit: 10})
		Must(t, "ListPhotos", err)
		if diff := cmp.Diff([]core.Photo{other}, photos, cmpOpts); diff != "" {
			t.Errorf("ListPhotos after AbandonUpload mismatch (-want +got):\n%s", diff)
		}
		wantWatched(t, s, "after AbandonUpload", map[core.DueKind][]core.DueItem{core.DueUpload: {uploadDue(other)}})
	})

	t.Run("ChatImage", func(t *testing.T) {
		s := newStore(t, h)
		img := createChatImage(t, s, t0.Add(uploadWindow))
		other := createChatImage(t, s, t0.Add(uploadWindow))
		appt, err := s.GetAppointment(ctx(t), img.ClinicID, img.AppointmentID)
		Must(t, "GetAppointment", err)
		now := img.UploadExpiresAt.Add(time.Hour)
		Must(t, "AbandonUpload", s.AbandonUpload(ctx(t), chatDue(img), now))
		_, err = s.GetChatImage(ctx(t), img.ID)
		WantKind(t, "GetChatImage of an abandoned image", err, core.KindNotFound)
		got, err := s.GetChatImage(ctx(t), other.ID)
		Must(t, "GetChatImage of the other image", err)
		if diff := cmp.Diff(other, got, cmpOpts); diff != "" {
			t.Errorf("GetChatImage of the other image mismatch (-want +got):\n%s", diff)
		}
		after, err := s.GetAppointment(ctx(t), img.ClinicID, img.AppointmentID)
		Must(t, "GetAppointment", err)
		if diff := cmp.Diff(appt, after, cmpOpts); diff != "" {
			t.Errorf("the appointment changed with AbandonUpload (-before +after):\n%s", diff)
		}
		// The image left the appointment's list with its record: nothing
		// of it is left behind that the list would trip on.
		imgs, next, err := s.ListChatImages(ctx(t), img.ClinicID, img.AppointmentID, img.PatientID, core.Page{Limit: 10})
		if err != nil || len(imgs) != 0 || next != "" {
			t.Errorf("ListChatImages after AbandonUpload: got %d images, cursor %q, error %v; want an empty list", len(imgs), next, err)
		}
		wantWatched(t, s, "after AbandonUpload", map[core.DueKind][]core.DueItem{core.DueUpload: {chatDue(other)}})
	})

	t.Run("Absent", func(t *testing.T) {
		s := newStore(t, h)
		p := createPhoto(t, s, "pat-1", t0.Add(uploadWindow))
		img := createChatImage(t, s, t0.Add(uploadWindow))
		now := t0.Add(time.Hour)
		before := dueState(t, s)
		for _, tc := range []struct {
			name string
			it   core.DueItem
		}{
			{"unknown photo", core.DueItem{Kind: core.DueUpload, Due: dueAt(t0), ID: core.NewID("ph"), Owner: "pat-1"}},
			{"unknown chat image", core.DueItem{Kind: core.DueUpload, Due: dueAt(t0), ID: core.NewID("ci")}},
			{"the photo under another owner", core.DueItem{Kind: core.DueUpload, Due: dueAt(t0), ID: p.ID, Owner: "pat-2"}},
			{"the photo's id as a chat image", core.DueItem{Kind: core.DueUpload, Due: dueAt(t0), ID: p.ID}},
			{"the chat image's id as a photo", core.DueItem{Kind: core.DueUpload, Due: dueAt(t0), ID: img.ID, Owner: "pat-1"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if err := s.AbandonUpload(ctx(t), tc.it, now); err != nil {
					t.Errorf("AbandonUpload of an absent upload: got %v, want nil", err)
				}
			})
		}
		wantWatched(t, s, "after AbandonUpload of absent uploads", before)
		for _, it := range before[core.DueUpload] {
			Must(t, "AbandonUpload "+it.ID, s.AbandonUpload(ctx(t), it, now))
			Must(t, "AbandonUpload again "+it.ID, s.AbandonUpload(ctx(t), it, now))
		}
		wantWatched(t, s, "after AbandonUpload twice", nil)
	})

	t.Run("Refused", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			ready bool
			now   time.Duration // after the window's end
		}{
			{"ready, within the window", true, -time.Minute},
			{"ready, past the window", true, time.Hour},
			{"pending, the window not ended", false, -time.Nanosecond},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t, h)
				p := createPhoto(t, s, "pat-1", t0.Add(uploadWindow))
				img := createChatImage(t, s, t0.Add(uploadWindow))
				if tc.ready {
					var err error
					p, err = s.MarkPhotoReady(ctx(t), p.OwnerID, p.ID, core.BlobInfo{Size: p.Size, SHA256: p.SHA256}, t0.Add(time.Minute))
					Must(t, "MarkPhotoReady", err)
					img, err = s.MarkChatImageReady(ctx(t), img.ID, core.BlobInfo{Size: img.Size, SHA256: img.SHA256}, t0.Add(time.Minute))
					Must(t, "MarkChatImageReady", err)
				}
				before := dueState(t, s)
				now := p.UploadExpiresAt.Add(tc.now)
				WantKind(t, "AbandonUpload of the photo", s.AbandonUpload(ctx(t), uploadDue(p), now), core.KindConflict)
				WantKind(t, "AbandonUpload of the chat image", s.AbandonUpload(ctx(t), chatDue(img), now), core.KindConflict)
				gotP, err := s.GetPhoto(ctx(t), p.OwnerID, p.ID)
				Must(t, "GetPhoto", err)
				if diff := cmp.Diff(p, gotP, cmpOpts); diff != "" {
					t.Errorf("GetPhoto after a refused AbandonUpload mismatch (-want +got):\n%s", diff)
				}
				gotImg, err := s.GetChatImage(ctx(t), img.ID)
				Must(t, "GetChatImage", err)
				if diff := cmp.Diff(img, gotImg, cmpOpts); diff != "" {
					t.Errorf("GetChatImage after a refused AbandonUpload mismatch (-want +got):\n%s", diff)
				}
				wantWatched(t, s, "after a refused AbandonUpload", before)
			})
		}
	})
}

func testExpireShare(t *testing.T, h Harness) {
	parties := []string{"pat-1", "dr-a"}

	t.Run("Expire", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			after time.Duration // now, after the expiry
		}{
			{"at the expiry", 0},
			{"hours after", 3 * time.Hour},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t, h)
				sh, a, ws := activeShareUntil(t, s, t0.Add(shareTTL))
				k := newKey(sh, a.ID, tNow, tNow.Add(core.MaxKeyTTL))
				ws = append(ws, MustIssue(t, s, k, tNow))
				want := GetShare(t, s, sh.ID) // views and devices survive
				now := sh.ExpiresAt.Add(tc.after)
				expired, w, err := tryExpire(t, s, sh, now.In(elsewhere))
				Must(t, "ExpireShare", err)
				if !expired {
					t.Errorf("ExpireShare of an active share past its expiry: got expired=false, want true")
				}
				ws = append(ws, w)
				want.Status = core.ShareExpired
				notes := wantWritten(t, s, want, parties, ws)
				wantWatched(t, s, "after ExpireShare", map[core.DueKind][]core.DueItem{
					core.DueKey: {keyDue(k)}, core.DueNotification: notesDue(notes...),
				})
				listed, _, err := s.ListShares(ctx(t), "dr-a", core.RoleProfessional, core.Page{Limit: 10})
				Must(t, "ListShares", err)
				if len(listed) != 1 || listed[0].Status != core.ShareExpired {
					t.Errorf("ListShares(dr-a): got %+v, want the share, expired", listed)
				}
			})
		}
	})

	t.Run("NothingToDo", func(t *testing.T) {
		// Expired before, or revoked: expired=false and nothing written,
		// with a record linked to the current head.
		for _, tc := range []struct {
			name  string
			setup func(t *testing.T, s core.Store, sh core.Share)
		}{
			{"expired before", func(t *testing.T, s core.Store, sh core.Share) { mustExpire(t, s, sh, sh.ExpiresAt) }},
			{"revoked", func(t *testing.T, s core.Store, sh core.Share) { revokeWritten(t, s, sh, tNow) }},
			{"revoked, past its expiry", func(t *testing.T, s core.Store, sh core.Share) {
				revokeWritten(t, s, sh, sh.ExpiresAt.Add(time.Minute))
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t, h)
				sh := newShare("pat-1", "dr-a", t0, t0.Add(shareTTL))
				CreateShare(t, s, sh)
				tc.setup(t, s, sh)
				stored := GetShare(t, s, sh.ID)
				before := observeJobs(t, s, parties, sh.ID)
				expired, _, err := tryExpire(t, s, sh, sh.ExpiresAt.Add(time.Hour))
				Must(t, "ExpireShare", err)
				if expired {
					t.Errorf("ExpireShare of a share that is not active: got expired=true, want false")
				}
				WantShare(t, s, stored)
				wantJobsUnchanged(t, s, before, "ExpireShare of a share that is not active", parties, sh.ID)
			})
		}
	})

	t.Run("Refused", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			unknown bool
			now     time.Duration // after the expiry
			want    core.Kind
		}{
			{"not yet expired", false, -time.Nanosecond, core.KindConflict},
			{"long before its expiry", false, -50 * time.Minute, core.KindConflict},
			{"unknown share", true, time.Hour, core.KindNotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t, h)
				sh := newShare("pat-1", "dr-a", t0, t0.Add(shareTTL))
				CreateShare(t, s, sh)
				target := sh
				if tc.unknown {
					target.ID = core.NewID("sh")
				}
				before := observeJobs(t, s, parties, sh.ID, target.ID)
				expired, _, err := tryExpire(t, s, target, sh.ExpiresAt.Add(tc.now))
				WantKind(t, "ExpireShare", err, tc.want)
				if expired {
					t.Errorf("ExpireShare: got expired=true with error %v, want false", err)
				}
				wantJobsUnchanged(t, s, before, "a refused ExpireShare", parties, sh.ID, target.ID)
			})
		}
	})

	t.Run("WrongHead", func(t *testing.T) {
		s := newStore(t, h)
		sh := newShare("pat-1", "dr-a", t0, t0.Add(shareTTL))
		cw := CreateShare(t, s, sh)
		old := HeadOf(cw.Rec)
		noise := Linked(t, s, Record("pat-1", "dr-other", core.RoleProfessional, actAppend, "noise", tNow))
		Must(t, "AppendAudit", s.AppendAudit(ctx(t), noise))
		current := HeadOf(noise)
		before := observeJobs(t, s, parties, sh.ID)
		now := sh.ExpiresAt
		notes := expireNotes(sh, now)
		rec := expireRecord(sh, now)
		expired, err := s.ExpireShare(ctx(t), sh.ID, now, core.Link(rec, old), notes...)
		var moved *core.HeadMismatchError
		if !errors.As(err, &moved) {
			t.Fatalf("ExpireShare with a stale head: got %v, want *core.HeadMismatchError", err)
		}
		if expired {
			t.Errorf("ExpireShare with a stale head: got expired=true, want false")
		}
		if diff := cmp.Diff(&core.HeadMismatchError{PatientID: "pat-1", Current: current}, moved, cmpOpts); diff != "" {
			t.Errorf("HeadMismatchError mismatch (-want +got):\n%s", diff)
		}
		wantJobsUnchanged(t, s, before, "ExpireShare with a stale head", parties, sh.ID)

		relinked := core.Link(rec, moved.Current)
		expired, err = s.ExpireShare(ctx(t), sh.ID, now, relinked, notes...)
		Must(t, "ExpireShare relinked", err)
		if !expired {
			t.Errorf("ExpireShare relinked to the current head: got expired=false, want true")
		}
		wantVerifiedChain(t, s, "pat-1", []core.AuditRecord{cw.Rec, noise, relinked})
	})

	t.Run("Concurrent", func(t *testing.T) {
		// Many runs of the job expire one share at once: exactly one
		// reports it, and its record and notifications are the only ones.
		const n = 20
		s := newStore(t, h)
		sh := newShare("pat-1", "dr-a", t0, t0.Add(shareTTL))
		cw := CreateShare(t, s, sh)
		now := func(i int) time.Time { return sh.ExpiresAt.Add(time.Duration(i) * time.Millisecond) }
		got := make([]bool, n)
		recs := make([]core.AuditRecord, n)
		notes := make([][]core.Notification, n)
		errs := RunAll(n, func(i int) error {
			notes[i] = expireNotes(sh, now(i))
			var err error
			recs[i], err = Chained(ctx(t), s, expireRecord(sh, now(i)), 2*n, func(l core.AuditRecord) error {
				var err error
				got[i], err = s.ExpireShare(ctx(t), sh.ID, now(i), l, notes[i]...)
				return err
			})
			return err
		})
		winner := -1
		for i, err := range errs {
			if err != nil {
				t.Fatalf("ExpireShare %d: %v", i, err)
			}
			if got[i] {
				if winner >= 0 {
					t.Errorf("ExpireShare %d and %d both report expired=true, want exactly one", winner, i)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatal("no ExpireShare reported expired=true, want exactly one")
		}
		wantVerifiedChain(t, s, "pat-1", []core.AuditRecord{cw.Rec, recs[winner]})
		all := append(slices.Clone(cw.Notes), notes[winner]...)
		for _, p := range parties {
			if diff := cmp.Diff(inboxOf(p, all...), listInbox(t, s, p), cmpOpts); diff != "" {
				t.Errorf("ListInbox(%s) mismatch (-want +got):\n%s", p, diff)
			}
		}
		wantWatched(t, s, "after the race", map[core.DueKind][]core.DueItem{core.DueNotification: notesDue(all...)})
	})

	t.Run("ExpiredAnswersAsPastExpiry", func(t *testing.T) {
		// The same calls against a share that is ACTIVE past its expiry
		// and against one that ExpireShare moved to EXPIRED get the same
		// answer: session_expired, and nothing written.
		type world struct {
			s  core.Store
			sh core.Share
			a  core.Access
			k  core.EphemeralKey
		}
		setup := func(t *testing.T, expire bool) world {
			s := newStore(t, h)
			sh, a, _ := activeShareUntil(t, s, t0.Add(shareTTL))
			issued := sh.ExpiresAt.Add(-30 * time.Second) // the key outlives the share
			k := newKey(sh, a.ID, issued, issued.Add(core.MaxKeyTTL))
			MustIssue(t, s, k, issued)
			if expire {
				mustExpire(t, s, sh, sh.ExpiresAt)
			}
			return world{s, sh, a, k}
		}
		calls := []struct {
			name string
			do   func(t *testing.T, w world, now time.Time) error
		}{
			{"OpenAccess", func(t *testing.T, w world, now time.Time) error {
				_, err := TryOpen(t, w.s, NewAccess(w.sh, "device-1", now), now)
				return err
			}},
			{"IssueKey", func(t *testing.T, w world, now time.Time) error {
				_, err := TryIssue(t, w.s, newKey(w.sh, w.a.ID, now, now.Add(core.MaxKeyTTL)), now)
				return err
			}},
			{"ClaimKey", func(t *testing.T, w world, now time.Time) error {
				_, _, err := tryClaim(t, w.s, w.k, now)
				return err
			}},
		}
		for _, c := range calls {
			for _, tc := range []struct {
				name   string
				expire bool
				now    time.Duration // after the share's expiry
			}{
				{"active past its expiry", false, 10 * time.Second},
				{"expired", true, 10 * time.Second},
				{"expired, asked with a clock behind", true, -10 * time.Second},
			} {
				t.Run(c.name+"/"+tc.name, func(t *testing.T) {
					w := setup(t, tc.expire)
					before := observeJobs(t, w.s, parties, w.sh.ID)
					err := c.do(t, w, w.sh.ExpiresAt.Add(tc.now))
					WantCode(t, c.name, err, core.KindGone, core.CodeSessionExpired)
					wantJobsUnchanged(t, w.s, before, c.name+" of an expired share", parties, w.sh.ID)
				})
			}
		}
	})

	t.Run("RevokeExpired", func(t *testing.T) {
		// RevokeShare revokes an ACTIVE share past its expiry; it does the
		// same to an EXPIRED one.
		for _, expire := range []bool{false, true} {
			t.Run(fmt.Sprintf("expired by ExpireShare: %v", expire), func(t *testing.T) {
				s := newStore(t, h)
				sh := newShare("pat-1", "dr-a", t0, t0.Add(shareTTL))
				ws := []Written{CreateShare(t, s, sh)}
				if expire {
					ws = append(ws, mustExpire(t, s, sh, sh.ExpiresAt))
				}
				at := sh.ExpiresAt.Add(time.Minute)
				ws = append(ws, revokeWritten(t, s, sh, at))
				want := sh
				want.Status, want.RevokedAt, want.RevokedBy, want.RevokeReason = core.ShareRevoked, at, "pat-1", "revoked in jobtest"
				notes := wantWritten(t, s, want, parties, ws)
				wantWatched(t, s, "after RevokeShare", map[core.DueKind][]core.DueItem{core.DueNotification: notesDue(notes...)})
			})
		}
	})
}

// wantWritten checks that s holds share want, pat-1's chain of the
// records of ws, and the inbox of each of parties with its notifications
// of ws; it returns those notifications.
func wantWritten(t *testing.T, s core.Store, want core.Share, parties []string, ws []Written) []core.Notification {
	t.Helper()
	WantShare(t, s, want)
	wantVerifiedChain(t, s, "pat-1", recordsOf(ws...))
	notes := notesOf(ws...)
	for _, p := range parties {
		if diff := cmp.Diff(inboxOf(p, notes...), listInbox(t, s, p), cmpOpts); diff != "" {
			t.Errorf("ListInbox(%s) mismatch (-want +got):\n%s", p, diff)
		}
	}
	return notes
}

func testDeleteExpiredKey(t *testing.T, h Harness) {
	// keyWorld is a share with an access and two keys issued at tNow: k
	// and other.
	setup := func(t *testing.T) (core.Store, core.Share, core.EphemeralKey, core.EphemeralKey) {
		s := newStore(t, h)
		sh, a, _ := activeShareUntil(t, s, t0.Add(shareTTL))
		k := newKey(sh, a.ID, tNow, tNow.Add(core.MaxKeyTTL))
		other := newKey(sh, a.ID, tNow, tNow.Add(core.MaxKeyTTL+time.Second))
		MustIssue(t, s, k, tNow)
		MustIssue(t, s, other, tNow)
		return s, GetShare(t, s, sh.ID), k, other
	}
	dueKeys := func(t *testing.T, s core.Store, want ...core.EphemeralKey) {
		t.Helper()
		var items []core.DueItem
		for _, k := range want {
			items = append(items, keyDue(k))
		}
		wantDue(t, s, core.DueKey, watchFrom, watchUntil, 100, items)
	}

	t.Run("Expired", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			claim bool
			after time.Duration
		}{
			{"issued, at its expiry", false, 0},
			{"issued, an hour after", false, time.Hour},
			{"used", true, time.Second},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s, sh, k, other := setup(t)
				if tc.claim {
					if _, _, err := tryClaim(t, s, k, tNow.Add(time.Second)); err != nil {
						t.Fatalf("ClaimKey: %v", err)
					}
				}
				Must(t, "DeleteExpiredKey", s.DeleteExpiredKey(ctx(t), k.ID, k.ExpiresAt.Add(tc.after)))
				_, err := s.GetKey(ctx(t), k.ID)
				WantKind(t, "GetKey of a deleted key", err, core.KindNotFound)
				if _, err := s.GetKey(ctx(t), other.ID); err != nil {
					t.Errorf("GetKey of the other key: %v", err)
				}
				WantShare(t, s, sh) // the view stays spent
				dueKeys(t, s, other)
			})
		}
	})

	t.Run("Absent", func(t *testing.T) {
		s, _, k, other := setup(t)
		Must(t, "DeleteExpiredKey of an unknown key", s.DeleteExpiredKey(ctx(t), core.NewID("ek"), tNow))
		Must(t, "DeleteExpiredKey", s.DeleteExpiredKey(ctx(t), k.ID, k.ExpiresAt))
		Must(t, "DeleteExpiredKey again", s.DeleteExpiredKey(ctx(t), k.ID, k.ExpiresAt))
		dueKeys(t, s, other)
	})

	t.Run("NotExpired", func(t *testing.T) {
		s, sh, k, other := setup(t)
		now := k.ExpiresAt.Add(-time.Nanosecond)
		WantKind(t, "DeleteExpiredKey before the expiry", s.DeleteExpiredKey(ctx(t), k.ID, now), core.KindConflict)
		dueKeys(t, s, k, other)
		WantShare(t, s, sh)
		// The key is still there, and still claimable until it expires.
		got, _, err := tryClaim(t, s, k, now)
		Must(t, "ClaimKey after a refused DeleteExpiredKey", err)
		if got.Status != core.KeyUsed {
			t.Errorf("ClaimKey: got status %q, want %q", got.Status, core.KeyUsed)
		}
	})
}
