package core

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"testing"
	"time"
)

// lockStore is an AuditStore that checks that no two appends to one chain
// are in it at once, and can hold the appends to one chain.
type lockStore struct {
	AuditStore
	mu      sync.Mutex
	inside  map[string]int
	overlap []string
	hold    string        // appends to this chain wait...
	entered chan struct{} // ...after saying so here...
	release chan struct{} // ...until this is closed
}

func (s *lockStore) AuditHead(context.Context, string) (ChainHead, error) { return ChainHead{}, nil }

func (s *lockStore) AppendAudit(_ context.Context, rec AuditRecord, _ ...Notification) error {
	s.mu.Lock()
	s.inside[rec.PatientID]++
	if s.inside[rec.PatientID] > 1 {
		s.overlap = append(s.overlap, rec.PatientID)
	}
	s.mu.Unlock()
	if rec.PatientID == s.hold {
		s.entered <- struct{}{}
		<-s.release
	}
	s.mu.Lock()
	s.inside[rec.PatientID]--
	s.mu.Unlock()
	return nil
}

func record(patient string) AuditRecord {
	return AuditRecord{PatientID: patient, At: time.Now(), Action: "test", Outcome: OutcomeSuccess}
}

// TestChainLockPerChain: an append waits only for appends to its own chain.
// Two patients whose ids fell on one of the 64 striped locks used before
// (FNV-1a mod 64): while the first one's append is held inside the store,
// the second one's goes through.
func TestChainLockPerChain(t *testing.T) {
	stripe := func(id string) uint32 { h := fnv.New32a(); h.Write([]byte(id)); return h.Sum32() % 64 }
	a, b := "patient-0", ""
	for i := 1; b == ""; i++ {
		if id := fmt.Sprint("patient-", i); stripe(id) == stripe(a) {
			b = id
		}
	}
	s := &lockStore{inside: map[string]int{}, hold: a, entered: make(chan struct{}), release: make(chan struct{})}
	au := &auditor{store: s}
	ctx := context.Background()
	held := make(chan error, 1)
	go func() { _, err := au.append(ctx, record(a)); held <- err }()
	<-s.entered
	other := make(chan error, 1)
	go func() { _, err := au.append(ctx, record(b)); other <- err }()
	select {
	case err := <-other:
		if err != nil {
			t.Errorf("append to %s: %v", b, err)
		}
	case <-time.After(30 * time.Second): // a deadlock guard, not a measure
		t.Fatalf("the append to %s waited for %s's, which shares its old stripe", b, a)
	}
	close(s.release)
	if err := <-held; err != nil {
		t.Errorf("append to %s: %v", a, err)
	}
	if n := au.locks.held(); n != 0 {
		t.Errorf("%d chain locks left after every append returned", n)
	}
}

// TestChainLockSerializesOneChain: 64 goroutines append 20 records each to
// 8 chains: never two appends to one chain in the store at once, every
// append links to the one before (each chain ends at seq 160), and no lock
// is left behind (under -race).
func TestChainLockSerializesOneChain(t *testing.T) {
	s := &lockStore{inside: map[string]int{}}
	au := &auditor{store: s}
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			for range 20 {
				if _, err := au.append(ctx, record(fmt.Sprint("patient-", g%8))); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if len(s.overlap) > 0 {
		t.Errorf("appends to one chain overlapped in the store: %v", s.overlap[:min(5, len(s.overlap))])
	}
	for i := range 8 {
		h, _ := au.heads.Load(fmt.Sprint("patient-", i))
		if h == nil || h.(ChainHead).Seq != 160 {
			t.Errorf("patient-%d: head %v, want seq 160", i, h)
		}
	}
	if n := au.locks.held(); n != 0 {
		t.Errorf("%d chain locks left after every append returned", n)
	}
}
