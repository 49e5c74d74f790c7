package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/medshare/medshare/shared/core"
)

// testDueLifecycle checks that each write that makes an item due or not due
// keeps the due index, and that writes that fail keep it as it was.
func testDueLifecycle(t *testing.T, h Harness) {
	t.Run("PhotoReady", func(t *testing.T) {
		s := newStore(t, h)
		p := createPhoto(t, s, "pat-1", t0.Add(uploadWindow))
		other := createPhoto(t, s, "pat-1", t0.Add(uploadWindow))
		wantWatched(t, s, "after CreatePhoto", map[core.DueKind][]core.DueItem{core.DueUpload: {uploadDue(p), uploadDue(other)}})
		for range 2 { // the second is the idempotent repeat
			_, err := s.MarkPhotoReady(ctx(t), p.OwnerID, p.ID, core.BlobInfo{Size: p.Size, SHA256: p.SHA256}, t0.Add(time.Minute))
			Must(t, "MarkPhotoReady", err)
			wantWatched(t, s, "after MarkPhotoReady", map[core.DueKind][]core.DueItem{core.DueUpload: {uploadDue(other)}})
		}
	})

	t.Run("ChatImageReady", func(t *testing.T) {
		s := newStore(t, h)
		img := createChatImage(t, s, t0.Add(uploadWindow))
		other := createChatImage(t, s, t0.Add(uploadWindow))
		wantWatched(t, s, "after CreateChatImage", map[core.DueKind][]core.DueItem{core.DueUpload: {chatDue(img), chatDue(other)}})
		for range 2 {
			_, err := s.MarkChatImageReady(ctx(t), img.ID, core.BlobInfo{Size: img.Size, SHA256: img.SHA256}, t0.Add(time.Minute))
			Must(t, "MarkChatImageReady", err)
			wantWatched(t, s, "after MarkChatImageReady", map[core.DueKind][]core.DueItem{core.DueUpload: {chatDue(other)}})
		}
	})

	t.Run("PhotoDeleted", func(t *testing.T) {
		s := newStore(t, h)
		p := createPhoto(t, s, "pat-1", t0.Add(uploadWindow))
		other := createPhoto(t, s, "pat-2", t0.Add(uploadWindow))
		_, err := s.DeletePhoto(ctx(t), p.OwnerID, p.ID)
		Must(t, "DeletePhoto", err)
		wantWatched(t, s, "after DeletePhoto", map[core.DueKind][]core.DueItem{core.DueUpload: {uploadDue(other)}})
	})

	t.Run("ShareRevoked", func(t *testing.T) {
		s := newStore(t, h)
		sh := newShare("pat-1", "dr-a", t0, t0.Add(shareTTL))
		other := newShare("pat-1", "dr-a", t0.Add(time.Second), t0.Add(shareTTL+time.Second))
		ws := []Written{CreateShare(t, s, sh), CreateShare(t, s, other)}
		wantWatched(t, s, "after CreateShare", map[core.DueKind][]core.DueItem{
			core.DueShare: {shareDue(sh), shareDue(other)}, core.DueNotification: notesDue(notesOf(ws...)...),
		})
		ws = append(ws, revokeWritten(t, s, sh, tNow))
		wantWatched(t, s, "after RevokeShare", map[core.DueKind][]core.DueItem{
			core.DueShare: {shareDue(other)}, core.DueNotification: notesDue(notesOf(ws...)...),
		})
	})

	t.Run("ShareExpired", func(t *testing.T) {
		s := newStore(t, h)
		sh := newShare("pat-1", "dr-a", t0, t0.Add(shareTTL))
		other := newShare("pat-1", "dr-a", t0.Add(time.Second), t0.Add(shareTTL+time.Second))
		ws := []Written{CreateShare(t, s, sh), CreateShare(t, s, other)}
		ws = append(ws, mustExpire(t, s, sh, sh.ExpiresAt))
		wantWatched(t, s, "after ExpireShare", map[core.DueKind][]core.DueItem{
			core.DueShare: {shareDue(other)}, core.DueNotification: notesDue(notesOf(ws...)...),
		})
	})

	t.Run("KeyClaimedStaysDue", func(t *testing.T) {
		s := newStore(t, h)
		sh, a, ws := activeShareUntil(t, s, t0.Add(shareTTL))
		k := newKey(sh, a.ID, tNow, tNow.Add(core.MaxKeyTTL))
		ws = append(ws, MustIssue(t, s, k, tNow))
		want := map[core.DueKind][]core.DueItem{
			core.DueShare: {shareDue(sh)}, core.DueKey: {keyDue(k)}, core.DueNotification: notesDue(notesOf(ws...)...),
		}
		wantWatched(t, s, "after IssueKey", want)
		if _, _, err := tryClaim(t, s, k, tNow.Add(time.Second)); err != nil {
			t.Fatalf("ClaimKey: %v", err)
		}
		wantWatched(t, s, "after ClaimKey (a used key is due until it is deleted)", want)
	})

	t.Run("NotificationsOfEveryWrite", func(t *testing.T) {
		// Every notification written is due at its creation, whichever
		// method wrote it, until MarkPublished; MarkRead changes nothing.
		s := newStore(t, h)
		sh, a, ws := activeShareUntil(t, s, t0.Add(shareTTL))
		k := newKey(sh, a.ID, tNow, tNow.Add(core.MaxKeyTTL))
		ws = append(ws, MustIssue(t, s, k, tNow))
		if _, _, err := tryClaim(t, s, k, tNow.Add(time.Second)); err != nil { // writes no notification
			t.Fatalf("ClaimKey: %v", err)
		}
		at := tNow.Add(2 * time.Second)
		n := Note("pat-1", core.NoteSuspicious, sh.ID, at)
		rec := Linked(t, s, Record("pat-1", "dr-a", core.RoleProfessional, actSuspicion, a.ID, at))
		Must(t, "AddSuspicion with a notification", s.AddSuspicion(ctx(t), a.ID, 0, 30, "", rec, n))
		ws = append(ws, Written{Notes: []core.Notification{n}, Rec: rec})
		rec = Linked(t, s, Record("pat-1", "pat-1", core.RolePatient, actSuspicion, a.ID, at))
		Must(t, "AddSuspicion without one", s.AddSuspicion(ctx(t), a.ID, 30, 40, "", rec))
		ws = append(ws, revokeWritten(t, s, sh, tNow.Add(3*time.Second)))
		other := newShare("pat-1", "dr-b", t0.Add(time.Millisecond), t0.Add(shareTTL))
		ws = append(ws, CreateShare(t, s, other), mustExpire(t, s, other, other.ExpiresAt.Add(time.Minute)))

		notes := notesOf(ws...)
		if len(notes) != 8 {
			t.Fatalf("the writes made %d notifications, want 8", len(notes))
		}
		want := map[core.DueKind][]core.DueItem{core.DueKey: {keyDue(k)}, core.DueNotification: notesDue(notes...)}
		wantWatched(t, s, "after every write", want)

		_, err := s.MarkRead(ctx(t), notes[0].RecipientID, notes[0].ID)
		Must(t, "MarkRead", err)
		wantWatched(t, s, "after MarkRead", want)
		for i, n := range notes {
			Must(t, "MarkPublished "+n.ID, s.MarkPublished(ctx(t), n.RecipientID, n.ID))
			want[core.DueNotification] = notesDue(notes[i+1:]...)
			wantWatched(t, s, "after MarkPublished", want)
		}
		// Published twice: nothing comes back.
		Must(t, "MarkPublished again", s.MarkPublished(ctx(t), notes[0].RecipientID, notes[0].ID))
		wantWatched(t, s, "after MarkPublished again", want)
	})

	t.Run("FailedWritesChangeNothing", func(t *testing.T) {
		s := newStore(t, h)
		p := createPhoto(t, s, "pat-1", t0.Add(uploadWindow))
		img := createChatImage(t, s, t0.Add(uploadWindow))
		sh, a, _ := activeShareUntil(t, s, t0.Add(shareTTL))
		other := newShare("pat-1", "dr-a", t0.Add(time.Second), t0.Add(shareTTL))
		other.MaxViews = 1
		CreateShare(t, s, other)
		oa := NewAccess(other, "device-1", tNow)
		MustOpen(t, s, oa, tNow)
		MustIssue(t, s, newKey(other, oa.ID, tNow, tNow.Add(core.MaxKeyTTL)), tNow) // its only view
		before := dueState(t, s)

		fails := []struct {
			name string
			do   func(t *testing.T) error
		}{
			{"CreatePhoto of an existing id, with another window", func(t *testing.T) error {
				dup := p
				dup.UploadExpiresAt = p.UploadExpiresAt.Add(time.Hour)
				return s.CreatePhoto(ctx(t), dup)
			}},
			{"MarkPhotoReady of another object", func(t *testing.T) error {
				_, err := s.MarkPhotoReady(ctx(t), p.OwnerID, p.ID, core.BlobInfo{Size: p.Size + 1, SHA256: p.SHA256}, t0.Add(time.Minute))
				return err
			}},
			{"MarkPhotoReady past the window", func(t *testing.T) error {
				_, err := s.MarkPhotoReady(ctx(t), p.OwnerID, p.ID, core.BlobInfo{Size: p.Size, SHA256: p.SHA256}, p.UploadExpiresAt)
				return err
			}},
			{"MarkChatImageReady past the window", func(t *testing.T) error {
				_, err := s.MarkChatImageReady(ctx(t), img.ID, core.BlobInfo{Size: img.Size, SHA256: img.SHA256}, img.UploadExpiresAt)
				return err
			}},
			{"CreateShare with a stale head", func(t *testing.T) error {
				dup := newShare("pat-1", "dr-a", t0.Add(2*time.Second), t0.Add(2*shareTTL))
				StorePhotos(t, s, dup)
				rec := core.Link(Record("pat-1", "pat-1", core.RolePatient, actCreate, dup.ID, dup.CreatedAt), core.ChainHead{})
				return s.CreateShare(ctx(t), dup, rec, Note("dr-a", core.NoteSessionCreated, dup.ID, dup.CreatedAt))
			}},
			{"CreateShare of an existing id", func(t *testing.T) error {
				dup := sh
				dup.ExpiresAt = sh.ExpiresAt.Add(time.Hour)
				rec := Linked(t, s, Record("pat-1", "pat-1", core.RolePatient, actCreate, dup.ID, dup.CreatedAt))
				return s.CreateShare(ctx(t), dup, rec, Note("dr-a", core.NoteSessionCreated, dup.ID, dup.CreatedAt))
			}},
			{"OpenAccess on another device", func(t *testing.T) error {
				_, err := TryOpen(t, s, NewAccess(sh, "device-2", tNow), tNow)
				return err
			}},
			{"IssueKey with no views left", func(t *testing.T) error {
				_, err := TryIssue(t, s, newKey(other, oa.ID, tNow, tNow.Add(core.MaxKeyTTL)), tNow)
				return err
			}},
			{"IssueKey past the share's expiry", func(t *testing.T) error {
				_, err := TryIssue(t, s, newKey(sh, a.ID, sh.ExpiresAt, sh.ExpiresAt.Add(core.MaxKeyTTL)), sh.ExpiresAt)
				return err
			}},
			{"RevokeShare by another patient", func(t *testing.T) error {
				n := Note("dr-a", core.NoteSessionRevoked, sh.ID, tNow)
				rec := Linked(t, s, Record("pat-2", "pat-2", core.RolePatient, actRevoke, sh.ID, tNow))
				_, err := s.RevokeShare(ctx(t), sh.ID, "pat-2", tNow, "not mine", rec, n)
				return err
			}},
			{"AddSuspicion from a score that moved", func(t *testing.T) error {
				n := Note("pat-1", core.NoteSuspicious, sh.ID, tNow)
				rec := Linked(t, s, Record("pat-1", "dr-a", core.RoleProfessional, actSuspicion, a.ID, tNow))
				return s.AddSuspicion(ctx(t), a.ID, 7, 8, "", rec, n)
			}},
			{"ExpireShare before the expiry", func(t *testing.T) error {
				_, _, err := tryExpire(t, s, sh, sh.ExpiresAt.Add(-time.Nanosecond))
				return err
			}},
			{"ExpireShare with a stale head", func(t *testing.T) error {
				rec := core.Link(expireRecord(sh, sh.ExpiresAt), core.ChainHead{})
				_, err := s.ExpireShare(ctx(t), sh.ID, sh.ExpiresAt, rec, expireNotes(sh, sh.ExpiresAt)...)
				if moved := new(core.HeadMismatchError); err != nil && !errors.As(err, &moved) {
					t.Errorf("ExpireShare with a stale head: got %v, want *core.HeadMismatchError", err)
				}
				return err
			}},
		}
		for _, f := range fails {
			t.Run(f.name, func(t *testing.T) {
				if err := f.do(t); err == nil {
					t.Fatalf("%s: got nil error, want one", f.name)
				}
				wantWatched(t, s, f.name, before)
			})
		}
	})
}
