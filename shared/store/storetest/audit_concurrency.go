package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
)

// appendWithRetry appends rec the way the service does across processes: one
// read of the head, then on *core.HeadMismatchError a relink to the head the
// store returned and another try. Every mismatch means another append won, so
// a correct store never needs more attempts than there are appenders.
func appendWithRetry(ctx context.Context, s core.Store, rec core.AuditRecord, maxAttempts int) (core.AuditRecord, error) {
	head, err := s.AuditHead(ctx, rec.PatientID)
	if err != nil {
		return core.AuditRecord{}, fmt.Errorf("audit head of %s: %w", rec.PatientID, err)
	}
	for range maxAttempts {
		linked := core.Link(rec, head)
		err := s.AppendAudit(ctx, linked)
		if err == nil {
			return linked, nil
		}
		var moved *core.HeadMismatchError
		if !errors.As(err, &moved) {
			return core.AuditRecord{}, fmt.Errorf("append %s to %s: %w", rec.RequestID, rec.PatientID, err)
		}
		if moved.Current.Seq < head.Seq {
			return core.AuditRecord{}, fmt.Errorf("append %s to %s: head went back from %d to %d", rec.RequestID, rec.PatientID, head.Seq, moved.Current.Seq)
		}
		head = moved.Current
	}
	return core.AuditRecord{}, fmt.Errorf("append %s to %s: no success in %d attempts", rec.RequestID, rec.PatientID, maxAttempts)
}

// WantVerified fails t unless core.VerifyChain accepts patient's chain as
// valid with exactly n records, its head at sequence n.
func WantVerified(t *testing.T, s core.AuditStore, patient string, n int) {
	t.Helper()
	v, err := core.VerifyChain(ctx(t), s, patient)
	Must(t, "VerifyChain "+patient, err)
	if want := uint64(n); !v.Valid || v.Records != want || v.HeadSeq != want {
		t.Errorf("VerifyChain(%s): got valid=%v records=%d head=%d (first bad %d: %s), want valid with %d records",
			patient, v.Valid, v.Records, v.HeadSeq, v.FirstBadSeq, v.Problem, want)
	}
}

// RunAll runs f(0) to f(n-1) at once, each in its own goroutine, released
// together so that they contend, and returns their errors by index when all
// have returned.
func RunAll(n int, f func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func testConcurrency(t *testing.T, h Harness) {
	t.Run("AppendSameChain", func(t *testing.T) {
		const n = 200
		s := newStore(t, h)
		var ids []string
		errs := RunAll(n, func(i int) error {
			_, err := appendWithRetry(ctx(t), s, auditRecord("pat-1", "dr-a", i), 2*n)
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("appender %d: %v", i, err)
			}
			ids = append(ids, auditRecord("pat-1", "dr-a", i).RequestID)
		}
		wantLinearChain(t, s, "pat-1", ids)
	})

	t.Run("AppendManyChains", func(t *testing.T) {
		const patients, perPatient = 20, 10
		s := newStore(t, h)
		rec := func(i int) core.AuditRecord {
			r := auditRecord(fmt.Sprintf("pat-%d", i%patients), "dr-conc", i)
			r.At = t0.Add(time.Duration(i)) // distinct, so that by-actor order is defined
			return r
		}
		errs := RunAll(patients*perPatient, func(i int) error {
			_, err := appendWithRetry(ctx(t), s, rec(i), 2*perPatient)
			return err
		})
		ids := map[string][]string{}
		var byTime []string
		for i, err := range errs {
			if err != nil {
				t.Errorf("appender %d: %v", i, err)
			}
			r := rec(i)
			ids[r.PatientID] = append(ids[r.PatientID], r.RequestID)
			byTime = append(byTime, r.RequestID)
		}
		for p := range patients {
			patient := fmt.Sprintf("pat-%d", p)
			wantLinearChain(t, s, patient, ids[patient])
		}
		// The by-actor index holds every record once, newest first.
		slices.Reverse(byTime)
		var got []string
		for _, r := range Flatten(Collect(t, "ListAuditByActor", 37, func(pg core.Page) ([]core.AuditRecord, string, error) {
			return s.ListAuditByActor(ctx(t), "dr-conc", pg)
		})) {
			got = append(got, r.RequestID)
		}
		if diff := cmp.Diff(byTime, got); diff != "" {
			t.Errorf("ListAuditByActor request ids mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("CreateChatImagesCounted", func(t *testing.T) {
		const n = 50
		s := newStore(t, h)
		a := newAppointment("appt-1")
		putAppointment(t, s, a)
		imgs := make([]core.ChatImage, n)
		for i := range imgs {
			imgs[i] = newChatImage(a)
		}
		for i, err := range RunAll(n, func(i int) error { return s.CreateChatImage(ctx(t), imgs[i]) }) {
			if err != nil {
				t.Errorf("CreateChatImage %d: %v", i, err)
			}
		}
		a.ImageCount = n
		wantAppointment(t, s, a)
		for _, img := range imgs {
			wantChatImage(t, s, img)
		}
	})

	t.Run("CreatePhotoSameID", func(t *testing.T) {
		const n = 20
		s := newStore(t, h)
		base := newPhoto("pat-1")
		version := func(i int) core.Photo {
			p := base
			p.Size = int64(1000 + i)
			return p
		}
		errs := RunAll(n, func(i int) error { return s.CreatePhoto(ctx(t), version(i)) })
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("CreatePhoto %d and %d both succeeded, want exactly one", winner, i)
			case err == nil:
				winner = i
			default:
				WantKind(t, fmt.Sprintf("CreatePhoto %d", i), err, core.KindConflict)
			}
		}
		if winner < 0 {
			t.Fatal("no CreatePhoto succeeded, want exactly one")
		}
		wantPhoto(t, s, version(winner))
	})

	t.Run("MarkPhotoReadySamePhoto", func(t *testing.T) {
		const n = 20
		s := newStore(t, h)
		p := newPhoto("pat-1")
		Must(t, "CreatePhoto", s.CreatePhoto(ctx(t), p))
		got := make([]core.Photo, n)
		errs := RunAll(n, func(i int) error {
			var err error
			got[i], err = s.MarkPhotoReady(ctx(t), p.OwnerID, p.ID, core.BlobInfo{Size: p.Size, SHA256: p.SHA256}, t0.Add(time.Duration(i+1)*time.Second))
			return err
		})
		stored, err := s.GetPhoto(ctx(t), p.OwnerID, p.ID)
		Must(t, "GetPhoto", err)
		if stored.Status != core.StatusReady {
			t.Errorf("stored status: got %q, want %q", stored.Status, core.StatusReady)
		}
		for i, err := range errs {
			if err != nil {
				t.Errorf("MarkPhotoReady %d: %v", i, err)
				continue
			}
			if diff := cmp.Diff(stored, got[i], cmpOpts); diff != "" {
				t.Errorf("MarkPhotoReady %d returned another photo than the one stored (-stored +got):\n%s", i, diff)
			}
		}
	})

	t.Run("DeletePhotoOnce", func(t *testing.T) {
		const n = 10
		s := newStore(t, h)
		p := newPhoto("pat-1")
		Must(t, "CreatePhoto", s.CreatePhoto(ctx(t), p))
		deleted := 0
		for i, err := range RunAll(n, func(int) error { _, err := s.DeletePhoto(ctx(t), p.OwnerID, p.ID); return err }) {
			if err == nil {
				deleted++
				continue
			}
			WantKind(t, fmt.Sprintf("DeletePhoto %d", i), err, core.KindNotFound)
		}
		if deleted != 1 {
			t.Errorf("DeletePhoto succeeded %d times, want exactly once", deleted)
		}
	})

	t.Run("ParticipantsChangeRacesImage", func(t *testing.T) {
		// Changing the participants and creating an image race: exactly one
		// wins, and an image never ends up with other participants than its
		// appointment.
		const rounds = 20
		s := newStore(t, h)
		for r := range rounds {
			a := newAppointment(fmt.Sprintf("appt-%d", r))
			putAppointment(t, s, a)
			img := newChatImage(a)
			changed := a
			changed.ProfessionalIDs = []string{"dr-b", "dr-a", "dr-c"}
			errs := RunAll(2, func(i int) error {
				if i == 0 {
					_, err := s.PutAppointment(ctx(t), changed)
					return err
				}
				return s.CreateChatImage(ctx(t), img)
			})
			putErr, imgErr := errs[0], errs[1]
			got, err := s.GetAppointment(ctx(t), a.ClinicID, a.ID)
			Must(t, "GetAppointment", err)
			switch {
			case putErr == nil && imgErr == nil:
				t.Errorf("round %d: both the participant change and the image succeeded", r)
			case putErr == nil:
				WantKind(t, fmt.Sprintf("round %d: CreateChatImage", r), imgErr, core.KindConflict)
				wantNoChatImage(t, s, img.ID)
				changed.ImageCount = 0
				if diff := cmp.Diff(changed, got, cmpOpts); diff != "" {
					t.Errorf("round %d: appointment mismatch (-want +got):\n%s", r, diff)
				}
			case imgErr == nil:
				WantKind(t, fmt.Sprintf("round %d: PutAppointment", r), putErr, core.KindConflict)
				wantChatImage(t, s, img)
				a.ImageCount = 1
				if diff := cmp.Diff(a, got, cmpOpts); diff != "" {
					t.Errorf("round %d: appointment mismatch (-want +got):\n%s", r, diff)
				}
			default:
				t.Errorf("round %d: both failed: put %v, image %v", r, putErr, imgErr)
			}
		}
	})
}
