package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
)

// suspicionRecord returns an unlinked record of patient's chain for a
// suspicion report on access a at at.
func suspicionRecord(patient string, a core.Access, at time.Time) core.AuditRecord {
	return Record(patient, a.ProfessionalID, core.RoleProfessional, "access.suspicion", a.ID, at)
}

// suspicionNote returns the patient's notification of suspicious activity on
// access a, created at at.
func suspicionNote(a core.Access, at time.Time) *core.Notification {
	n := Note(a.PatientID, core.NoteSuspicious, a.ShareID, at)
	n.Data["access_id"] = a.ID
	return &n
}

// tryAddSuspicion moves a's score prev → next with n and a record of a's
// patient's chain linked to its current head, without a flag.
func tryAddSuspicion(t *testing.T, s core.Store, a core.Access, prev, next int, n *core.Notification, at time.Time) (core.AuditRecord, error) {
	t.Helper()
	return tryAddFlagged(t, s, a, prev, next, "", n, at)
}

// tryAddFlagged is tryAddSuspicion with flag.
func tryAddFlagged(t *testing.T, s core.Store, a core.Access, prev, next int, flag string, n *core.Notification, at time.Time) (core.AuditRecord, error) {
	t.Helper()
	rec := Linked(t, s, suspicionRecord(a.PatientID, a, at))
	return rec, s.AddSuspicion(ctx(t), a.ID, prev, next, flag, rec, optionalNotes(n)...)
}

func mustAddFlagged(t *testing.T, s core.Store, a core.Access, prev, next int, flag string, n *core.Notification, at time.Time) core.AuditRecord {
	t.Helper()
	rec, err := tryAddFlagged(t, s, a, prev, next, flag, n, at)
	Must(t, fmt.Sprintf("AddSuspicion %s %d→%d flag %q", a.ID, prev, next, flag), err)
	return rec
}

// wantAlreadyFlagged fails t unless err is core.ErrAlreadyFlagged.
func wantAlreadyFlagged(t *testing.T, op string, err error) {
	t.Helper()
	if !errors.Is(err, core.ErrAlreadyFlagged) {
		t.Errorf("%s: got %v, want core.ErrAlreadyFlagged", op, err)
	}
	var moved *core.ScoreMovedError
	if errors.As(err, &moved) {
		t.Errorf("%s: got %v, want no *core.ScoreMovedError", op, err)
	}
}

func mustAddSuspicion(t *testing.T, s core.Store, a core.Access, prev, next int, n *core.Notification, at time.Time) core.AuditRecord {
	t.Helper()
	rec, err := tryAddSuspicion(t, s, a, prev, next, n, at)
	Must(t, fmt.Sprintf("AddSuspicion %s %d→%d", a.ID, prev, next), err)
	return rec
}

// wantScore fails t unless the stored access is want with score score: the
// score moves and nothing else of the access does.
func wantScore(t *testing.T, s core.Store, want core.Access, score int) {
	t.Helper()
	got, err := s.GetAccess(ctx(t), want.ID)
	Must(t, "GetAccess "+want.ID, err)
	want.Score = score
	if diff := cmp.Diff(want, got, shareCmpOpts); diff != "" {
		t.Errorf("GetAccess(%s) mismatch (-want +got):\n%s", want.ID, diff)
	}
}

// wantScoreMoved fails t unless err is *core.ScoreMovedError for accessID
// with the current score current.
func wantScoreMoved(t *testing.T, op string, err error, accessID string, current int) {
	t.Helper()
	var moved *core.ScoreMovedError
	if !errors.As(err, &moved) {
		t.Errorf("%s: got %v, want *core.ScoreMovedError", op, err)
		return
	}
	if diff := cmp.Diff(&core.ScoreMovedError{AccessID: accessID, Current: current}, moved); diff != "" {
		t.Errorf("%s: ScoreMovedError mismatch (-want +got):\n%s", op, diff)
	}
}

// testAddSuspicion checks AddSuspicion: a compare-and-set of the access's
// score, with its record and its optional notification.
func testAddSuspicion(t *testing.T, h Harness) {
	t.Run("Moves", func(t *testing.T) {
		s := newStore(t, h)
		sh, a := activeShare(t, s, nil)
		wantScore(t, s, a, 0) // a new access starts at 0
		w := world{parties: []string{"pat-1", "dr-a"}, shares: []string{sh.ID}, accesses: []string{a.ID}}
		before := observe(t, s, w)

		n1 := suspicionNote(a, tNow.Add(time.Second))
		r1 := mustAddSuspicion(t, s, a, 0, 40, n1, tNow.Add(time.Second))
		wantScore(t, s, a, 40)
		r2 := mustAddSuspicion(t, s, a, 40, 100, nil, tNow.Add(2*time.Second))
		wantScore(t, s, a, 100)

		// Exactly the records and the one notification were written besides
		// the score; the share did not move.
		pat, drA := before.Chains["pat-1"], before.ByActor["dr-a"]
		want := before
		want.Heads = map[string]core.ChainHead{"pat-1": HeadOf(r2), "dr-a": {}}
		want.Chains = map[string][]core.AuditRecord{"pat-1": append(slices.Clip(pat), r1, r2), "dr-a": nil}
		want.ByActor = map[string][]core.AuditRecord{"pat-1": before.ByActor["pat-1"], "dr-a": append([]core.AuditRecord{r2, r1}, drA...)} // newest first
		want.Inboxes = map[string][]core.InboxItem{"pat-1": append([]core.InboxItem{Unread(*n1)}, before.Inboxes["pat-1"]...), "dr-a": before.Inboxes["dr-a"]}
		moved := *before.Accesses[a.ID]
		moved.Score = 100
		want.Accesses = map[string]*core.Access{a.ID: &moved}
		if diff := cmp.Diff(want, observe(t, s, w), shareCmpOpts); diff != "" {
			t.Errorf("store after AddSuspicion 0→40→100 mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("NewAccessStartsAtZero", func(t *testing.T) {
		// OpenAccess stores a new access at score 0, whatever Score it is
		// given.
		s := newStore(t, h)
		sh := NewShare("pat-1", "dr-a", t0)
		CreateShare(t, s, sh)
		a := NewAccess(sh, "device-1", tNow)
		a.Score = 7
		MustOpen(t, s, a, tNow)
		wantScore(t, s, a, 0)
		mustAddSuspicion(t, s, a, 0, 3, nil, tNow)
		wantScore(t, s, a, 3)
	})

	t.Run("ScoreMoved", func(t *testing.T) {
		for _, prev := range []int{0, 39, 41, 100} {
			t.Run(fmt.Sprintf("prev %d", prev), func(t *testing.T) {
				s := newStore(t, h)
				sh, a := activeShare(t, s, nil)
				mustAddSuspicion(t, s, a, 0, 40, nil, tNow)
				w := world{parties: []string{"pat-1", "dr-a"}, shares: []string{sh.ID}, accesses: []string{a.ID}}
				before := observe(t, s, w)
				_, err := tryAddSuspicion(t, s, a, prev, prev+20, suspicionNote(a, tNow.Add(time.Second)), tNow.Add(time.Second))
				wantScoreMoved(t, fmt.Sprintf("AddSuspicion %d→%d of a score at 40", prev, prev+20), err, a.ID, 40)
				wantUnchanged(t, s, w, before, "AddSuspicion with a moved score")
				wantScore(t, s, a, 40)
			})
		}
	})

	t.Run("UnknownAccess", func(t *testing.T) {
		s := newStore(t, h)
		sh, a := activeShare(t, s, nil)
		unknown := a
		unknown.ID = core.NewID("ac")
		w := world{parties: []string{"pat-1", "dr-a"}, shares: []string{sh.ID}, accesses: []string{a.ID, unknown.ID}}
		before := observe(t, s, w)
		_, err := tryAddSuspicion(t, s, unknown, 0, 40, suspicionNote(unknown, tNow), tNow)
		WantKind(t, "AddSuspicion of an unknown access", err, core.KindNotFound)
		var moved *core.ScoreMovedError
		if errors.As(err, &moved) {
			t.Errorf("AddSuspicion of an unknown access: got %v, want no *core.ScoreMovedError", err)
		}
		wantUnchanged(t, s, w, before, "AddSuspicion of an unknown access")
	})

	t.Run("Notification", func(t *testing.T) {
		for _, withNote := range []bool{false, true} {
			t.Run(fmt.Sprintf("with notification %v", withNote), func(t *testing.T) {
				s := newStore(t, h)
				_, a := activeShare(t, s, nil)
				before := map[string][]core.InboxItem{}
				for _, p := range []string{"pat-1", "dr-a"} {
					before[p] = Flatten(ListInbox(t, s, p, 100))
				}
				var n *core.Notification
				if withNote {
					n = suspicionNote(a, tNow.Add(time.Second))
				}
				rec := mustAddSuspicion(t, s, a, 0, 40, n, tNow.Add(time.Second))
				want := before["pat-1"]
				if withNote {
					want = append([]core.InboxItem{Unread(*n)}, want...)
				}
				if diff := cmp.Diff(want, Flatten(ListInbox(t, s, "pat-1", 100)), shareCmpOpts); diff != "" {
					t.Errorf("ListInbox(pat-1) after AddSuspicion mismatch (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(before["dr-a"], Flatten(ListInbox(t, s, "dr-a", 100)), shareCmpOpts); diff != "" {
					t.Errorf("ListInbox(dr-a) after AddSuspicion mismatch (-want +got):\n%s", diff)
				}
				chain := ListChain(t, s, "pat-1")
				if len(chain) == 0 || !cmp.Equal(rec, chain[len(chain)-1], shareCmpOpts) {
					t.Errorf("ListAudit(pat-1): the suspicion record is not the last record")
				}
				wantScore(t, s, a, 40)
			})
		}
	})

	t.Run("WrongHead", func(t *testing.T) {
		for _, withNote := range []bool{false, true} {
			t.Run(fmt.Sprintf("with notification %v", withNote), func(t *testing.T) {
				s := newStore(t, h)
				sh, a := activeShare(t, s, nil)
				mustAddSuspicion(t, s, a, 0, 40, nil, tNow)
				old, err := s.AuditHead(ctx(t), "pat-1")
				Must(t, "AuditHead", err)
				current := moveHead(t, s, "pat-1", 2)
				w := world{parties: []string{"pat-1", "dr-a"}, shares: []string{sh.ID}, accesses: []string{a.ID}}
				before := observe(t, s, w)
				var n *core.Notification
				if withNote {
					n = suspicionNote(a, tNow.Add(time.Second))
				}
				rec := suspicionRecord("pat-1", a, tNow.Add(time.Second))
				err = s.AddSuspicion(ctx(t), a.ID, 40, 60, "", core.Link(rec, old), optionalNotes(n)...)
				var hm *core.HeadMismatchError
				if !errors.As(err, &hm) {
					t.Fatalf("AddSuspicion with a stale head: got %v, want *core.HeadMismatchError", err)
				}
				if diff := cmp.Diff(&core.HeadMismatchError{PatientID: "pat-1", Current: current}, hm, shareCmpOpts); diff != "" {
					t.Errorf("HeadMismatchError mismatch (-want +got):\n%s", diff)
				}
				wantUnchanged(t, s, w, before, "AddSuspicion with a wrong head")
				// Relinked, the same call goes through.
				Must(t, "AddSuspicion relinked", s.AddSuspicion(ctx(t), a.ID, 40, 60, "", core.Link(rec, hm.Current), optionalNotes(n)...))
				wantScore(t, s, a, 60)
			})
		}
	})

	t.Run("Flag/counts once", func(t *testing.T) {
		s := newStore(t, h)
		sh, a := activeShare(t, s, nil)
		mustAddFlagged(t, s, a, 0, 30, "ip:10.0.0.2", suspicionNote(a, tNow), tNow)
		wantScore(t, s, a, 30)
		w := world{parties: []string{"pat-1", "dr-a"}, shares: []string{sh.ID}, accesses: []string{a.ID}}
		before := observe(t, s, w)
		// The same flag again: nothing written, whatever the score, and the
		// flag is checked before the score.
		for _, prev := range []int{30, 0, 99} {
			op := fmt.Sprintf("AddSuspicion %d→%d with a flag counted before", prev, prev+30)
			_, err := tryAddFlagged(t, s, a, prev, prev+30, "ip:10.0.0.2", suspicionNote(a, tNow.Add(time.Second)), tNow.Add(time.Second))
			wantAlreadyFlagged(t, op, err)
			wantUnchanged(t, s, w, before, op)
		}
		wantScore(t, s, a, 30)
	})

	t.Run("Flag/different flags both count", func(t *testing.T) {
		s := newStore(t, h)
		_, a := activeShare(t, s, nil)
		mustAddFlagged(t, s, a, 0, 30, "ip:10.0.0.2", nil, tNow)
		mustAddFlagged(t, s, a, 30, 60, "ip:10.0.0.3", nil, tNow.Add(time.Second))
		wantScore(t, s, a, 60)
		_, err := tryAddFlagged(t, s, a, 60, 90, "ip:10.0.0.2", nil, tNow.Add(2*time.Second))
		wantAlreadyFlagged(t, "AddSuspicion with the first flag again", err)
		_, err = tryAddFlagged(t, s, a, 60, 90, "ip:10.0.0.3", nil, tNow.Add(2*time.Second))
		wantAlreadyFlagged(t, "AddSuspicion with the second flag again", err)
		wantScore(t, s, a, 60)
	})

	t.Run("Flag/empty flag never blocks", func(t *testing.T) {
		s := newStore(t, h)
		_, a := activeShare(t, s, nil)
		mustAddFlagged(t, s, a, 0, 30, "ip:10.0.0.2", nil, tNow)
		mustAddFlagged(t, s, a, 30, 45, "", nil, tNow.Add(time.Second))
		mustAddFlagged(t, s, a, 45, 60, "", nil, tNow.Add(2*time.Second))
		wantScore(t, s, a, 60)
	})

	t.Run("Flag/not recorded when the score moved", func(t *testing.T) {
		// A write refused for its score records no flag: the retry counts.
		s := newStore(t, h)
		sh, a := activeShare(t, s, nil)
		mustAddSuspicion(t, s, a, 0, 40, nil, tNow)
		w := world{parties: []string{"pat-1", "dr-a"}, shares: []string{sh.ID}, accesses: []string{a.ID}}
		before := observe(t, s, w)
		_, err := tryAddFlagged(t, s, a, 0, 30, "ip:10.0.0.2", nil, tNow.Add(time.Second))
		wantScoreMoved(t, "AddSuspicion 0→30 with a flag of a score at 40", err, a.ID, 40)
		wantUnchanged(t, s, w, before, "AddSuspicion with a flag and a moved score")
		mustAddFlagged(t, s, a, 40, 70, "ip:10.0.0.2", nil, tNow.Add(2*time.Second))
		wantScore(t, s, a, 70)
	})

	t.Run("Flag/unknown access", func(t *testing.T) {
		s := newStore(t, h)
		_, a := activeShare(t, s, nil)
		unknown := a
		unknown.ID = core.NewID("ac")
		_, err := tryAddFlagged(t, s, unknown, 0, 30, "ip:10.0.0.2", nil, tNow)
		WantKind(t, "AddSuspicion with a flag of an unknown access", err, core.KindNotFound)
		if errors.Is(err, core.ErrAlreadyFlagged) {
			t.Errorf("AddSuspicion with a flag of an unknown access: got %v, want not core.ErrAlreadyFlagged", err)
		}
	})

	t.Run("Concurrency/one chain", func(t *testing.T) {
		testAddSuspicionConcurrently(t, h, func(int) string { return "pat-1" })
	})
	t.Run("Concurrency/a chain per writer", func(t *testing.T) {
		testAddSuspicionConcurrently(t, h, func(i int) string { return fmt.Sprintf("pat-1-writer-%d", i) })
	})
	t.Run("Concurrency/same flag/one chain", func(t *testing.T) {
		testAddFlagConcurrently(t, h, func(int) string { return "pat-1" })
	})
	t.Run("Concurrency/same flag/a chain per writer", func(t *testing.T) {
		testAddFlagConcurrently(t, h, func(i int) string { return fmt.Sprintf("pat-1-writer-%d", i) })
	})
}

// addSuspicionRetrying adds delta to a's score as the service does across
// processes: it reads the score, then moves it prev → prev+delta with rec
// linked to the head of rec's chain; on *core.ScoreMovedError it tries again
// from the score the error carries, on *core.HeadMismatchError with rec
// relinked to the head that error carries. Every failure means another
// write won. It returns the record as written, or core.ErrAlreadyFlagged
// (wrapped) when flag was counted before.
func addSuspicionRetrying(ctx context.Context, s core.Store, a core.Access, delta int, flag string, n *core.Notification, rec core.AuditRecord, maxAttempts int) (core.AuditRecord, error) {
	cur, err := s.GetAccess(ctx, a.ID)
	if err != nil {
		return core.AuditRecord{}, fmt.Errorf("get access %s: %w", a.ID, err)
	}
	prev := cur.Score
	head, err := s.AuditHead(ctx, rec.PatientID)
	if err != nil {
		return core.AuditRecord{}, fmt.Errorf("audit head of %s: %w", rec.PatientID, err)
	}
	for range maxAttempts {
		l := core.Link(rec, head)
		err := s.AddSuspicion(ctx, a.ID, prev, prev+delta, flag, l, optionalNotes(n)...)
		var moved *core.ScoreMovedError
		var hm *core.HeadMismatchError
		switch {
		case err == nil:
			return l, nil
		case errors.As(err, &moved):
			if moved.AccessID != a.ID || moved.Current < prev {
				return core.AuditRecord{}, fmt.Errorf("%s: score of %s went from %d to %v", rec.RequestID, a.ID, prev, moved)
			}
			prev = moved.Current
		case errors.As(err, &hm):
			if hm.Current.Seq < head.Seq {
				return core.AuditRecord{}, fmt.Errorf("%s: head of %s went back from %d to %d", rec.RequestID, rec.PatientID, head.Seq, hm.Current.Seq)
			}
			head = hm.Current
		default:
			return core.AuditRecord{}, err
		}
	}
	return core.AuditRecord{}, fmt.Errorf("%s: no success in %d attempts", rec.RequestID, maxAttempts)
}

// testAddSuspicionConcurrently runs 50 writers, each adding 2 to one
// access's score through addSuspicionRetrying with its record in chain(i),
// every other one with a notification: the score ends at exactly 100, and
// exactly the 50 records and the notifications given are written, linked.
// In one chain the head condition alone would serialize the writers; in
// separate chains only the score condition keeps the count.
func testAddSuspicionConcurrently(t *testing.T, h Harness, chain func(writer int) string) {
	const n, delta = 50, 2
	s := newStore(t, h)
	_, a := activeShare(t, s, nil)
	ids := map[string][]string{"pat-1": requestIDs(ListChain(t, s, "pat-1"))}
	wantNotes := Flatten(ListInbox(t, s, "pat-1", 100))
	notes := make([]*core.Notification, n)
	for i := range n {
		if i%2 == 0 {
			notes[i] = suspicionNote(a, tNow.Add(time.Duration(i)*time.Millisecond))
			wantNotes = append(wantNotes, Unread(*notes[i]))
		}
	}
	recs := make([]core.AuditRecord, n)
	errs := RunAll(n, func(i int) error {
		rec := suspicionRecord(chain(i), a, tNow.Add(time.Duration(i)*time.Millisecond))
		var err error
		recs[i], err = addSuspicionRetrying(ctx(t), s, a, delta, "", notes[i], rec, 4*n)
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("AddSuspicion %d: %v", i, err)
			continue
		}
		ids[chain(i)] = append(ids[chain(i)], recs[i].RequestID)
	}
	wantScore(t, s, a, n*delta)
	// Exactly one record per writer, besides the create's and the open's.
	records := 0
	for patient, want := range ids {
		records += len(wantLinearChain(t, s, patient, want))
	}
	if records != n+2 {
		t.Errorf("the chains hold %d records, want the create's, the open's and exactly %d of AddSuspicion", records, n)
	}
	if diff := cmp.Diff(noteIDs(wantNotes), noteIDs(Flatten(ListInbox(t, s, "pat-1", 100)))); diff != "" {
		t.Errorf("ListInbox(pat-1) ids mismatch (-want +got):\n%s", diff)
	}
}

// testAddFlagConcurrently runs 20 writers, each adding 30 to one access's
// score with the same flag through addSuspicionRetrying, its record in
// chain(i) and a notification: exactly one succeeds, the others get
// core.ErrAlreadyFlagged, and the score, the records and the notifications
// are exactly the winner's.
func testAddFlagConcurrently(t *testing.T, h Harness, chain func(writer int) string) {
	const n, delta, flag = 20, 30, "ip:10.0.0.2"
	s := newStore(t, h)
	_, a := activeShare(t, s, nil)
	ids := map[string][]string{"pat-1": requestIDs(ListChain(t, s, "pat-1"))}
	wantNotes := Flatten(ListInbox(t, s, "pat-1", 100))
	notes := make([]*core.Notification, n)
	for i := range n {
		notes[i] = suspicionNote(a, tNow.Add(time.Duration(i)*time.Millisecond))
	}
	recs := make([]core.AuditRecord, n)
	errs := RunAll(n, func(i int) error {
		rec := suspicionRecord(chain(i), a, tNow.Add(time.Duration(i)*time.Millisecond))
		var err error
		recs[i], err = addSuspicionRetrying(ctx(t), s, a, delta, flag, notes[i], rec, 4*n)
		return err
	})
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
			ids[chain(i)] = append(ids[chain(i)], recs[i].RequestID)
			wantNotes = append(wantNotes, Unread(*notes[i]))
		case !errors.Is(err, core.ErrAlreadyFlagged):
			t.Errorf("AddSuspicion %d: got %v, want nil or core.ErrAlreadyFlagged", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d writers of the same flag succeeded, want exactly 1", won, n)
	}
	wantScore(t, s, a, delta)
	records := 0
	for patient, want := range ids {
		records += len(wantLinearChain(t, s, patient, want))
	}
	if records != 3 {
		t.Errorf("the chains hold %d records, want the create's, the open's and exactly 1 of AddSuspicion", records)
	}
	if diff := cmp.Diff(noteIDs(wantNotes), noteIDs(Flatten(ListInbox(t, s, "pat-1", 100)))); diff != "" {
		t.Errorf("ListInbox(pat-1) ids mismatch (-want +got):\n%s", diff)
	}
}

// optionalNotes is the notifications of a write that has n, or none when n is nil.
func optionalNotes(n *core.Notification) []core.Notification {
	if n == nil {
		return nil
	}
	return []core.Notification{*n}
}
