package testclock_test

import (
	"sync"
	"testing"
	"time"

	"github.com/medshare/medshare/shared/devtools/testclock"
)

// TestClockMovesOnlyByHand: the clock reads its start until advanced, and
// concurrent advances all count (under -race).
func TestClockMovesOnlyByHand(t *testing.T) {
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := testclock.At(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now() = %v, want %v", got, start)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { c.Advance(time.Second) })
	}
	wg.Wait()
	if got, want := c.Now(), start.Add(20*time.Second); !got.Equal(want) {
		t.Errorf("Now() = %v after 20 advances of 1 s, want %v", got, want)
	}
}
