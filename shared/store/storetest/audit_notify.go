package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
)

// refusal is the record and notification of a device refused on sh at at:
// what core writes with AppendAuditNotify.
func refusal(sh core.Share, device string, at time.Time) (core.AuditRecord, core.Notification) {
	rec := Record(sh.PatientID, sh.ProfessionalID, core.RoleProfessional, core.AuditAccessOpen, sh.ID, at)
	rec.Outcome, rec.Reason = core.OutcomeDenied, core.CodeDeviceMismatch
	rec.ShareID, rec.Device = sh.ID, device
	n := Note(sh.PatientID, core.NoteDeviceMismatch, sh.ID, at)
	n.Data = map[string]string{"professional_id": sh.ProfessionalID, "device": device}
	return rec, n
}

func testAppendAuditNotify(t *testing.T, h Harness) {
	t.Run("RecordAndNotification", func(t *testing.T) {
		s := newStore(t, h)
		sh, _ := activeShare(t, s, nil)
		w := world{parties: []string{"pat-1", "dr-a"}, shares: []string{sh.ID}}
		before := observe(t, s, w)
		rec, n := refusal(sh, "sha256:device-2", tNow.In(elsewhere))
		rec = Linked(t, s, rec)
		Must(t, "AppendAuditNotify", s.AppendAudit(ctx(t), rec, n))

		// Exactly the record (chain, head, by-actor index) and the unread,
		// unpublished notification were added; the share is as it was.
		want := before
		want.Heads = map[string]core.ChainHead{"pat-1": HeadOf(rec), "dr-a": before.Heads["dr-a"]}
		want.Chains = map[string][]core.AuditRecord{"pat-1": append(slices.Clip(before.Chains["pat-1"]), rec), "dr-a": nil}
		want.ByActor = map[string][]core.AuditRecord{"pat-1": before.ByActor["pat-1"], "dr-a": append([]core.AuditRecord{rec}, before.ByActor["dr-a"]...)}
		want.Inboxes = map[string][]core.InboxItem{"pat-1": append([]core.InboxItem{Unread(n)}, before.Inboxes["pat-1"]...), "dr-a": before.Inboxes["dr-a"]}
		if diff := cmp.Diff(want, observe(t, s, w), shareCmpOpts); diff != "" {
			t.Errorf("after AppendAuditNotify (-want +got):\n%s", diff)
		}
		got := ListChain(t, s, "pat-1")
		if last := got[len(got)-1]; last.ShareID != sh.ID || last.Device != "sha256:device-2" || !core.VerifyRecord(last) {
			t.Errorf("stored record %+v: want the share, the device and a hash that verifies", last)
		}
		WantVerified(t, s, "pat-1", len(got))
	})

	t.Run("NotificationExists", func(t *testing.T) {
		s := newStore(t, h)
		sh, _ := activeShare(t, s, nil)
		rec, n := refusal(sh, "sha256:device-2", tNow)
		Must(t, "AppendAuditNotify", s.AppendAudit(ctx(t), Linked(t, s, rec), n))
		w := world{parties: []string{"pat-1", "dr-a"}, shares: []string{sh.ID}}
		before := observe(t, s, w)
		again, _ := refusal(sh, "sha256:device-3", tNow.Add(time.Second))
		err := s.AppendAudit(ctx(t), Linked(t, s, again), n)
		WantKind(t, "AppendAuditNotify with a notification id that exists", err, core.KindConflict)
		wantUnchanged(t, s, w, before, "AppendAuditNotify with a notification id that exists")
	})

	t.Run("Concurrent", func(t *testing.T) {
		// Many refusals at once into one chain: every record and every
		// notification lands, the chain stays linear and verifies.
		s := newStore(t, h)
		sh, _ := activeShare(t, s, nil)
		const writers = 12
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for i := range writers {
			wg.Go(func() {
				rec, n := refusal(sh, fmt.Sprintf("sha256:device-%d", i), tNow.Add(time.Duration(i)*time.Millisecond))
				_, err := Chained(ctx(t), s, rec, writers+1, func(l core.AuditRecord) error { return s.AppendAudit(ctx(t), l, n) })
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		notes := 0
		for _, it := range Flatten(ListInbox(t, s, "pat-1", 100)) {
			if it.Type == core.NoteDeviceMismatch {
				notes++
			}
		}
		refused := 0
		chain := ListChain(t, s, "pat-1")
		for _, r := range chain {
			if r.Reason == core.CodeDeviceMismatch {
				refused++
			}
		}
		if notes != writers || refused != writers {
			t.Errorf("got %d notifications and %d records of refusals, want %d of each", notes, refused, writers)
		}
		WantVerified(t, s, "pat-1", len(chain))
	})
}
