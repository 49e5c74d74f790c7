package boltstore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/legacy/legacytest"
	"github.com/medshare/medshare/shared/store/storetest"
)

// gate records the size of every group committed, and holds the commits
// it is told to hold inside their commit (before tx.Commit) until released.
type gate struct {
	mu      sync.Mutex
	sizes   []int
	hold    map[int]chan struct{} // commit number (from 1) → its release
	held    chan int              // the number of each commit held
	failing func(k int) error     // when set and not nil for commit k: k is rolled back and fails with it
}

func newGate(s *Store, hold ...int) *gate {
	g := &gate{hold: map[int]chan struct{}{}, held: make(chan int, len(hold))}
	for _, k := range hold {
		g.hold[k] = make(chan struct{})
	}
	s.commit.beforeCommit = func(n int) {
		g.mu.Lock()
		g.sizes = append(g.sizes, n)
		g.mu.Unlock()
	}
	s.commit.commitTx = func(tx *bolt.Tx) error {
		g.mu.Lock()
		k := len(g.sizes)
		release, fail := g.hold[k], g.failing
		g.mu.Unlock()
		if release != nil {
			g.held <- k
			<-release
		}
		if fail != nil {
			if err := fail(k); err != nil {
				tx.Rollback()
				return err
			}
		}
		return tx.Commit()
	}
	return g
}

func (g *gate) release(k int) { close(g.hold[k]) }

// holdFirst starts a write (in wg) that leads the first group, which g
// holds, and returns once it is held: the writes that follow queue up for
// the next group.
func holdFirst(t *testing.T, s *Store, g *gate, wg *sync.WaitGroup) {
	wg.Go(func() {
		if err := s.AppendAudit(context.Background(), linked("patient-0", "rq-0")); err != nil {
			t.Errorf("the held write: %v", err)
		}
	})
	<-g.held
}

func (g *gate) groups() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.sizes...)
}

// pending is how many writes wait for the committer.
func (s *Store) pendingWrites() int {
	s.commit.mu.Lock()
	defer s.commit.mu.Unlock()
	return len(s.commit.pending)
}

// waitPending waits until n writes are queued behind the held commit.
func waitPending(t *testing.T, s *Store, n int) {
	t.Helper()
	for s.pendingWrites() < n {
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

// linked returns the record of the first append to an empty chain.
func linked(patient, requestID string) core.AuditRecord {
	return core.Link(core.AuditRecord{
		PatientID: patient, At: time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC), ActorID: "pro-1", ActorRole: core.RoleProfessional,
		Action: "chat_image.signed_url", ResourceType: "chat_image", ResourceID: "ci_x", Outcome: core.OutcomeSuccess, RequestID: requestID,
	}, core.ChainHead{})
}

// TestGroupCommit: the writes that arrive while a commit is under way are
// committed together, in one transaction, and none returns before that
// transaction's commit does. The first write's commit is held until 63 more
// are queued: exactly two commits, of 1 and 63 writes; while the second is
// held, none of its 63 has returned; then every chain has its record.
func TestGroupCommit(t *testing.T) {
	s := openTemp(t)
	g := newGate(s, 1, 2)
	ctx := context.Background()
	const n = 64
	errs := make([]error, n)
	var returned atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = s.AppendAudit(ctx, linked("patient-0", "rq-0")) })
	<-g.held
	for i := 1; i < n; i++ {
		wg.Go(func() {
			errs[i] = s.AppendAudit(ctx, linked(fmt.Sprintf("patient-%d", i), fmt.Sprintf("rq-%d", i)))
			returned.Add(1)
		})
	}
	waitPending(t, s, n-1)
	g.release(1)
	<-g.held
	// A write answered before its commit would return now: give it the
	// chance (this waits; it asserts no time).
	for range 50 {
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	if r := returned.Load(); r != 0 {
		t.Errorf("%d writes returned while their commit was held", r)
	}
	g.release(2)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("append %d: %v", i, err)
		}
	}
	if got := g.groups(); len(got) != 2 || got[0] != 1 || got[1] != n-1 {
		t.Errorf("groups committed: %v, want [1 %d]", got, n-1)
	}
	if st := s.CommitStats(); st.Commits != 2 || st.Writes != n || st.Pages < 2 {
		t.Errorf("commit stats %+v, want 2 commits of %d writes, and their pages", st, n)
	}
	for i := range n {
		h, err := s.AuditHead(ctx, fmt.Sprintf("patient-%d", i))
		if err != nil || h.Seq != 1 {
			t.Errorf("patient-%d: head %+v, %v; want seq 1", i, h, err)
		}
	}
}

// TestGroupCommitRefusals: in one group, a write sees the writes before it
// (a second append to a chain finds the first one's head, a second photo
// with one id its conflict), a refused or panicking write changes nothing,
// and the writes around it are committed.
func TestGroupCommitRefusals(t *testing.T) {
	s := openTemp(t)
	g := newGate(s, 1)
	ctx := context.Background()
	var wg sync.WaitGroup
	holdFirst(t, s, g, &wg)

	first, second, other := linked("patient-1", "rq-a"), linked("patient-1", "rq-b"), linked("patient-2", "rq-c")
	photo := core.Photo{ID: "ph_x", OwnerID: "patient-1", Status: core.StatusReady, ContentType: "image/jpeg", Size: 10, SHA256: make([]byte, 32)}
	// Queued one at a time, so that the group's order is this order.
	steps := []func() error{
		func() error { return s.AppendAudit(ctx, first) },
		func() error { return s.AppendAudit(ctx, second) }, // the same seq: the head is first's now
		func() error { return s.CreatePhoto(ctx, photo) },
		func() error {
			return s.run(ctx, true, func(tx *bolt.Tx) error {
				if err := tx.Bucket(itemsBucket).Put([]byte("half-written"), []byte("x")); err != nil {
					return err
				}
				panic("a bug in a write")
			})
		},
		func() error { return s.CreatePhoto(ctx, photo) }, // conflicts with the third
		func() error { return s.AppendAudit(ctx, other) },
	}
	errs := make([]error, len(steps))
	for i, step := range steps {
		wg.Go(func() { errs[i] = step() })
		waitPending(t, s, i+1)
	}
	g.release(1)
	wg.Wait()

	if got := g.groups(); len(got) != 2 || got[1] != len(steps) {
		t.Errorf("groups committed: %v, want [1 %d]", got, len(steps))
	}
	var moved *core.HeadMismatchError
	switch {
	case errs[0] != nil:
		t.Errorf("first append: %v", errs[0])
	case !errors.As(errs[1], &moved) || moved.Current.Seq != 1 || string(moved.Current.Hash) != string(first.Hash):
		t.Errorf("second append to the chain: %v, want a head mismatch naming the first append's head", errs[1])
	case errs[2] != nil:
		t.Errorf("create photo: %v", errs[2])
	case core.KindOf(errs[3]) != core.KindInternal:
		t.Errorf("panicking write: %v, want an internal error", errs[3])
	case core.KindOf(errs[4]) != core.KindConflict:
		t.Errorf("second create of the photo: %v, want conflict", errs[4])
	case errs[5] != nil:
		t.Errorf("append to another chain: %v", errs[5])
	}
	for _, c := range []struct {
		patient string
		want    core.AuditRecord
	}{{"patient-1", first}, {"patient-2", other}} {
		recs, _, err := s.ListAudit(ctx, c.patient, false, core.Page{})
		if err != nil || len(recs) != 1 || recs[0].RequestID != c.want.RequestID {
			t.Errorf("%s's chain: %+v, %v; want only %s", c.patient, recs, err, c.want.RequestID)
		}
	}
	if _, err := s.GetPhoto(ctx, "patient-1", "ph_x"); err != nil {
		t.Errorf("the photo: %v", err)
	}
	s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(itemsBucket).Get([]byte("half-written")) != nil {
			t.Error("the panicking write's put was committed")
		}
		return nil
	})
}

// TestGroupCommitFails: when the commit fails, every write of the group
// fails, the refused ones too (the state they were refused against was
// never stored), nothing is written, and the next group commits.
func TestGroupCommitFails(t *testing.T) {
	s := openTemp(t)
	g := newGate(s, 1)
	disk := errors.New("disk full")
	g.failing = func(k int) error {
		if k == 2 {
			return disk
		}
		return nil
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	holdFirst(t, s, g, &wg)
	first, second := linked("patient-1", "rq-a"), linked("patient-1", "rq-b")
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = s.AppendAudit(ctx, first) })
	waitPending(t, s, 1)
	wg.Go(func() { errs[1] = s.AppendAudit(ctx, second) })
	waitPending(t, s, 2)
	g.release(1)
	wg.Wait()
	for i, err := range errs {
		if core.KindOf(err) != core.KindUnavailable || !errors.Is(err, disk) {
			t.Errorf("write %d of the failed group: %v, want unavailable (disk full)", i, err)
		}
	}
	if h, err := s.AuditHead(ctx, "patient-1"); err != nil || h.Seq != 0 {
		t.Errorf("after the failed commit, patient-1's head is %+v, %v; want an empty chain", h, err)
	}
	if err := s.AppendAudit(ctx, second); err != nil {
		t.Errorf("append after the failed commit: %v", err)
	}
}

// TestWritesRunAgain: with every group run once in a transaction that is
// thrown away before the one that commits, every contract suite still
// passes: no write has an effect outside its transaction that a second run
// would repeat (commit.go's rule for the fns of run).
func TestWritesRunAgain(t *testing.T) {
	rerun := func(t *testing.T) *Store {
		s := openTemp(t)
		s.commit.rerunAll = true
		return s
	}
	// The hook does run a write twice.
	s := rerun(t)
	runs := 0
	if err := s.run(context.Background(), true, func(*bolt.Tx) error { runs++; return nil }); err != nil || runs != 2 {
		t.Fatalf("a write ran %d times (%v), want 2", runs, err)
	}
	// The one contract suite (storetest) covers every interface of the
	// port, shares and jobs included.
	storetest.Run(t, storetest.Harness{New: func(t *testing.T, now func() time.Time) core.Store {
		s := rerun(t)
		s.now = now
		return s
	}, Tamper: tamper})
	t.Run("LegacyContract", func(t *testing.T) {
		legacytest.Run(t, legacytest.Harness{New: func(t *testing.T) legacytest.Store { return rerun(t) }})
	})
}

// TestGroupCommitPanics: when bbolt panics in a commit, the caller of the
// group's first write sees the panic, the other writes of its group fail
// with an internal error, nothing of theirs is written, the writer's lock
// is released, and the next writes commit.
func TestGroupCommitPanics(t *testing.T) {
	s := openTemp(t)
	g := newGate(s, 1)
	g.failing = func(k int) error {
		if k == 2 {
			panic("bbolt is broken")
		}
		return nil
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	holdFirst(t, s, g, &wg)
	leader := make(chan any, 1)
	go func() {
		defer func() { leader <- recover() }()
		s.AppendAudit(ctx, linked("patient-1", "rq-1"))
	}()
	waitPending(t, s, 1)
	other := make(chan error, 1)
	go func() { other <- s.AppendAudit(ctx, linked("patient-2", "rq-2")) }()
	waitPending(t, s, 2)
	g.release(1)
	wg.Wait()
	if p := <-leader; p == nil {
		t.Error("the caller of the write that led the panicking commit did not see the panic")
	}
	if err := <-other; core.KindOf(err) != core.KindInternal {
		t.Errorf("the other write of the panicking commit: %v, want an internal error", err)
	}
	if err := s.AppendAudit(ctx, linked("patient-3", "rq-3")); err != nil {
		t.Errorf("a write after the panic: %v", err)
	}
	for _, p := range []string{"patient-1", "patient-2"} {
		if h, err := s.AuditHead(ctx, p); err != nil || h.Seq != 0 {
			t.Errorf("%s, written in the panicking commit: head %+v, %v; want nothing", p, h, err)
		}
	}
}
