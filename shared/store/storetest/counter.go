package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/testclock"
)

func testTally(t *testing.T, h Harness) {
	// The counters live until an hour after the suite's clock.
	until := t0.Add(time.Hour)
	tally := func(t *testing.T, s core.Store, name string, until time.Time, want int64) {
		t.Helper()
		got, err := s.Tally(ctx(t), name, until)
		Must(t, "Tally "+name, err)
		if got != want {
			t.Errorf("Tally(%s): got %d, want %d", name, got, want)
		}
	}

	t.Run("Counts", func(t *testing.T) {
		s := newStore(t, h)
		for i := int64(1); i <= 5; i++ {
			tally(t, s, "burst:ac_1:29551", until, i)
		}
	})

	t.Run("NamesAreIndependent", func(t *testing.T) {
		// Name i is tallied i+1 times, interleaved with the others; names
		// that share a prefix are other counters.
		s := newStore(t, h)
		names := []string{"burst:ac_1:29551", "burst:ac_1:29552", "burst:ac_2:29551", "burst:ac_1:2955", "burst:ac_1:295511"}
		for round := int64(1); round <= int64(len(names)); round++ {
			for i, name := range names {
				if round <= int64(i+1) {
					tally(t, s, name, until, round)
				}
			}
		}
		for i, name := range names {
			tally(t, s, name, until, int64(i+2))
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		// Every value from 1 to n is handed out exactly once.
		const n = 100
		s := newStore(t, h)
		got := make([]int64, n)
		errs := RunAll(n, func(i int) error {
			var err error
			got[i], err = s.Tally(ctx(t), "burst:ac_hot:1", until)
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("Tally %d: %v", i, err)
			}
		}
		slices.Sort(got)
		want := make([]int64, n)
		for i := range want {
			want[i] = int64(i + 1)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("values handed out mismatch (-want +got):\n%s", diff)
		}
		tally(t, s, "burst:ac_hot:1", until, n+1)
	})

	t.Run("KeptUntilItsEnd", func(t *testing.T) {
		// A counter outlives other counters that end before it, whatever
		// the store forgets of those, up to its own until.
		c := testclock.New(t0)
		s := h.New(t, c.Now)
		tally(t, s, "long", t0.Add(time.Minute), 1)
		for i := range 10 {
			tally(t, s, fmt.Sprintf("short-%d", i), t0.Add(time.Second), 1)
		}
		c.Set(t0.Add(30 * time.Second)) // the short ones are over
		for i := range 10 {
			tally(t, s, fmt.Sprintf("other-%d", i), t0.Add(40*time.Second), 1)
		}
		tally(t, s, "long", t0.Add(time.Minute), 2)
		c.Set(t0.Add(time.Minute - time.Nanosecond))
		for i := range 10 {
			tally(t, s, fmt.Sprintf("late-%d", i), t0.Add(2*time.Minute), 1)
		}
		tally(t, s, "long", t0.Add(time.Minute), 3)
	})
}
