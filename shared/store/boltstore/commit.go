package boltstore

import (
	"fmt"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"

	"github.com/medshare/medshare/shared/core"
)

// Group commit (issue 14 §1). bbolt has one writer at a time, and a commit
// writes its pages and syncs the file twice (fdatasync). One commit per
// write made 32 concurrent writers queue behind the disk. The committer
// runs the writes that arrive while a commit is under way together, in the
// next transaction, and answers each of them only once that transaction is
// committed: a write's caller still learns of its success only when it is
// on disk.
//
// There is no timer: a write that finds no commit under way starts one at
// once, and a group is whatever queued during the previous commit (up to
// maxGroup). bbolt's own DB.Batch waits up to MaxBatchDelay (10 ms) for a
// batch to fill, which a client that writes three times per view pays three
// times (docs/DECISIONS.md, issue 14).
//
// bbolt has no savepoints, so a write whose fn fails cannot be undone
// alone. The committer rolls the transaction back and runs the writes
// before it again in a new one, without it, then the writes after it. The
// failed write's answer is its own error, which it returned against the
// state the writes before it left, the state they leave again; that answer
// is given only once the group is committed (and is the commit's error if
// the commit fails, since that state was never stored). Hence the rule for
// every fn given to run: it may run more than once, each run but the last
// in a transaction that is discarded, so it must be deterministic given
// the transaction's state, and have no effect outside the transaction but
// on variables it sets on every run (never an append to a captured slice,
// never a change to a captured input).

// maxGroup bounds the writes of one transaction, so that a group with
// failures (each reruns the writes before it) stays cheap.
const maxGroup = 128

// write is one fn waiting for its commit.
type write struct {
	fn func(*bolt.Tx) error
	// wake receives once err (or panicked) is this write's answer.
	wake     chan bool
	err      error
	panicked any // what the commit of its group panicked with, if it came first in it
}

// committer queues the store's writes and commits them in groups.
type committer struct {
	db *bolt.DB

	mu      sync.Mutex
	pending []*write
	running bool // a goroutine (loop) is committing the pending groups

	// Test hooks (nil in production): beforeCommit runs with the group
	// about to be committed; commitTx commits tx (tx.Commit).
	beforeCommit func(n int)
	commitTx     func(tx *bolt.Tx) error
	// rerunAll makes every group run all its fns once in a transaction
	// that is rolled back before the one that commits (tests of the rule
	// above).
	rerunAll bool

	commits, writes, pages atomic.Int64 // committed transactions, the writes in them, the pages they wrote
}

// CommitStats counts the store's commits since it opened.
type CommitStats struct {
	Commits int64 // transactions committed
	Writes  int64 // writes in them: Writes/Commits is the mean group
	Pages   int64 // pages they wrote (each a pwrite), meta pages included
}

// CommitStats returns how many transactions the store committed, how many
// writes they held and how many pages they wrote.
func (s *Store) CommitStats() CommitStats {
	return CommitStats{Commits: s.commit.commits.Load(), Writes: s.commit.writes.Load(), Pages: s.commit.pages.Load()}
}

// do runs fn in a read-write transaction shared with other writes, and
// returns fn's error, or the commit's, once the transaction is committed
// (or failed).
//
// The groups are committed by one goroutine at a time, started by the
// write that finds none running and ending when it finds nothing pending:
// it commits a group, wakes the group's writers and goes straight on to
// the next group. Handing the lead to one of the woken writers instead
// left each group waiting until the scheduler ran that writer, behind the
// others it had just woken (docs/DECISIONS.md, issue 14).
func (c *committer) do(fn func(*bolt.Tx) error) error {
	w := &write{fn: fn, wake: make(chan bool, 1)}
	c.mu.Lock()
	c.pending = append(c.pending, w)
	start := !c.running
	c.running = true
	c.mu.Unlock()
	if start {
		go c.loop()
	}
	<-w.wake
	if w.panicked != nil {
		panic(w.panicked)
	}
	return w.err
}

// loop commits the pending writes, a group at a time, until none is left.
func (c *committer) loop() {
	for {
		c.mu.Lock()
		n := min(len(c.pending), maxGroup)
		if n == 0 {
			c.running = false
			c.pending = nil
			c.mu.Unlock()
			return
		}
		group := c.pending[:n:n]
		c.pending = c.pending[n:]
		c.mu.Unlock()
		c.commitGroup(group)
	}
}

// commitGroup commits group and answers each of its writes. Even when bbolt
// panics in a commit, the group is answered: the write that came first
// sees the panic in its own goroutine (the HTTP edge turns it into a 500),
// the others an internal error, and the writes after them go on.
func (c *committer) commitGroup(group []*write) {
	var answers []error
	defer func() {
		if p := recover(); p != nil {
			answers = fill(make([]error, len(group)), core.ErrInternal(fmt.Errorf("panic: %v", p), "store commit panicked"))
			group[0].panicked = p
		}
		for i, g := range group {
			g.err = answers[i]
			g.wake <- true
		}
	}()
	answers = c.commit(group)
}

// commit runs the group's fns in one transaction and commits it. It
// returns each write's answer, in the group's order.
func (c *committer) commit(group []*write) []error {
	answers := make([]error, len(group))
	live := make([]int, len(group)) // the indexes of the writes still in the transaction
	for i := range live {
		live[i] = i
	}
	if c.rerunAll {
		c.runOnce(group, live, answers)
	}
	for {
		failed, err := c.try(group, live, answers)
		switch {
		case err != nil:
			return fill(answers, err)
		case failed >= 0:
			// Its answer is kept for when the others are committed.
			live = append(live[:failed], live[failed+1:]...)
			continue
		}
		return answers // nil for the committed ones, the refusals for the others
	}
}

// try runs the live writes of group in one transaction. When one of them
// fails, it rolls the transaction back and returns that write's place in
// live (its error in answers); otherwise it commits, and returns the
// commit's error. The transaction never outlives it, even in a panic.
func (c *committer) try(group []*write, live []int, answers []error) (failed int, err error) {
	tx, err := c.db.Begin(true)
	if err != nil {
		return -1, err
	}
	// After a commit, or a failed one (which bbolt rolled back), this does
	// nothing (ErrTxClosed); after a refusal or a panic it releases the
	// writer's lock.
	defer tx.Rollback()
	for k, i := range live {
		if err := call(group[i].fn, tx); err != nil {
			answers[i] = err
			return k, nil
		}
	}
	if c.beforeCommit != nil {
		c.beforeCommit(len(group))
	}
	commitTx := (*bolt.Tx).Commit
	if c.commitTx != nil {
		commitTx = c.commitTx
	}
	if err := commitTx(tx); err != nil {
		return -1, err
	}
	stats := tx.Stats()
	c.commits.Add(1)
	c.writes.Add(int64(len(live)))
	c.pages.Add(stats.GetWrite())
	return -1, nil
}

// runOnce runs the live fns in a transaction that it rolls back, as a rerun
// would find them (test hook rerunAll).
func (c *committer) runOnce(group []*write, live []int, answers []error) {
	tx, err := c.db.Begin(true)
	if err != nil {
		return
	}
	defer tx.Rollback()
	for _, i := range live {
		if call(group[i].fn, tx) != nil {
			return // the real run finds the same failure
		}
	}
}

// fill sets every answer to err.
func fill(answers []error, err error) []error {
	for i := range answers {
		answers[i] = err
	}
	return answers
}

// call runs fn, turning a panic into an internal error, so that one bad
// write cannot take the committing goroutine (and everyone waiting on it) down.
func call(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = core.ErrInternal(fmt.Errorf("panic: %v", p), "store write panicked")
		}
	}()
	return fn(tx)
}
