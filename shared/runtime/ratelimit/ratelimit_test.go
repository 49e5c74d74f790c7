package ratelimit

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/medshare/medshare/shared/devtools/testclock"
)

// newClock is a clock the test moves by hand.
func newClock() *testclock.Clock { return testclock.New(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)) }

func mustNew(t *testing.T, c Config) *Keyed {
	t.Helper()
	k, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestAllowSequence(t *testing.T) {
	type step struct {
		advance   time.Duration
		key       string
		want      bool
		wantRetry time.Duration
		wantFirst bool
	}
	for _, c := range []struct {
		name  string
		rate  float64
		burst int
		steps []step
	}{
		{
			name: "burst, then one token a second", rate: 1, burst: 3,
			steps: []step{
				{key: "a", want: true},
				{key: "a", want: true},
				{key: "a", want: true},
				{key: "a", want: false, wantRetry: time.Second, wantFirst: true},
				{key: "a", want: false, wantRetry: time.Second},
				{key: "b", want: true}, // another key has its own bucket
				{advance: 500 * time.Millisecond, key: "a", want: false, wantRetry: time.Second},
				{advance: 500 * time.Millisecond, key: "a", want: true},
				{key: "a", want: false, wantRetry: time.Second, wantFirst: true},
				{advance: 10 * time.Second, key: "a", want: true}, // refilled to the burst, no more
				{key: "a", want: true},
				{key: "a", want: true},
				{key: "a", want: false, wantRetry: time.Second, wantFirst: true},
			},
		},
		{
			name: "a slow rate says how long to wait", rate: 0.1, burst: 1,
			steps: []step{
				{key: "a", want: true},
				{key: "a", want: false, wantRetry: 10 * time.Second, wantFirst: true},
				{advance: 2500 * time.Millisecond, key: "a", want: false, wantRetry: 8 * time.Second},
				{advance: 7500 * time.Millisecond, key: "a", want: true},
			},
		},
		{
			name: "a fast rate waits at least a second", rate: 50, burst: 1,
			steps: []step{
				{key: "a", want: true},
				{key: "a", want: false, wantRetry: time.Second, wantFirst: true},
				{advance: 20 * time.Millisecond, key: "a", want: true},
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			clk := newClock()
			k := mustNew(t, Config{Rate: c.rate, Burst: c.burst, Now: clk.Now})
			for i, s := range c.steps {
				clk.Advance(s.advance)
				got := k.Allow(s.key)
				want := Decision{OK: s.want, RetryAfter: s.wantRetry, First: s.wantFirst}
				if got != want {
					t.Fatalf("step %d (%s): got %+v, want %+v", i, s.key, got, want)
				}
			}
		})
	}
}

func TestNilAllowsEverything(t *testing.T) {
	var k *Keyed
	for range 1000 {
		if d := k.Allow("x"); !d.OK {
			t.Fatalf("nil limiter refused: %+v", d)
		}
	}
}

func TestConfigCheck(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"valid", Config{Rate: 1, Burst: 1}, true},
		{"fractional rate", Config{Rate: 0.001, Burst: 5}, true},
		{"zero rate", Config{Rate: 0, Burst: 1}, false},
		{"negative rate", Config{Rate: -1, Burst: 1}, false},
		{"zero burst", Config{Rate: 1, Burst: 0}, false},
		{"negative max keys", Config{Rate: 1, Burst: 1, MaxKeys: -1}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.cfg)
			if (err == nil) != c.ok {
				t.Errorf("New(%+v) = %v, want ok=%v", c.cfg, err, c.ok)
			}
		})
	}
}

// TestIdleBucketsAreForgotten: memory follows the keys active recently, and
// forgetting a full bucket changes no answer.
func TestIdleBucketsAreForgotten(t *testing.T) {
	clk := newClock()
	k := mustNew(t, Config{Rate: 1, Burst: 10, Now: clk.Now})
	for i := range 500 {
		k.Allow(fmt.Sprint("idle-", i))
	}
	for range 10 {
		k.Allow("busy")
	}
	if got := k.Len(); got != 501 {
		t.Fatalf("Len = %d, want 501", got)
	}
	// The idle keys refill within 1 s; "busy" spent its 10 tokens and keeps
	// refusing while the clock stands, so it is not full when the sweep runs.
	clk.Advance(sweepEvery)
	k.Allow("new")
	if got := k.Len(); got != 1 {
		t.Errorf("after a sweep Len = %d, want 1 (only the new key: busy refilled too)", got)
	}

	clk2 := newClock()
	k = mustNew(t, Config{Rate: 0.001, Burst: 2, Now: clk2.Now})
	k.Allow("busy")
	k.Allow("busy")
	clk2.Advance(sweepEvery) // 0.06 of a token back: still far from full
	k.Allow("other")
	if d := k.Allow("busy"); d.OK {
		t.Errorf("busy was forgotten by the sweep: %+v", d)
	}
	if got := k.Len(); got != 2 {
		t.Errorf("Len = %d, want 2", got)
	}
}

// TestMaxKeysBoundsMemory: a flood of distinct keys never holds more than
// MaxKeys buckets, and the buckets shed first are the fullest, so a caller
// that spent its tokens is still refused.
func TestMaxKeysBoundsMemory(t *testing.T) {
	clk := newClock()
	k := mustNew(t, Config{Rate: 0.001, Burst: 5, MaxKeys: 64, Now: clk.Now})
	for range 5 {
		k.Allow("hot")
	}
	for i := range 10_000 {
		if d := k.Allow(fmt.Sprint("flood-", i)); !d.OK {
			t.Fatalf("a new key was refused: %+v", d)
		}
		if n := k.Len(); n > 64 {
			t.Fatalf("after %d keys Len = %d, want at most 64", i+1, n)
		}
	}
	if d := k.Allow("hot"); d.OK {
		t.Errorf("the empty bucket was shed before full ones: hot allowed again")
	}
}

// TestConcurrentExact: many goroutines on one key with the clock standing
// get exactly the burst between them.
func TestConcurrentExact(t *testing.T) {
	clk := newClock()
	k := mustNew(t, Config{Rate: 1, Burst: 100, Now: clk.Now})
	var allowed, refused atomic.Int64
	var wg sync.WaitGroup
	for g := range 50 {
		wg.Go(func() {
			for range 10 {
				if k.Allow("shared").OK {
					allowed.Add(1)
				} else {
					refused.Add(1)
				}
				k.Allow(fmt.Sprint("own-", g)) // other keys at the same time
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 100 || refused.Load() != 400 {
		t.Errorf("allowed %d, refused %d; want exactly 100 and 400", allowed.Load(), refused.Load())
	}
}
