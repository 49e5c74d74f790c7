package testclock

import (
	"sync"
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	t0 := time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)
	c := New(t0)
	if got := c.Now(); !got.Equal(t0) {
		t.Fatalf("Now: got %v, want %v", got, t0)
	}
	// Many goroutines advance it at once: every step counts, once.
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			c.Advance(time.Second)
			_ = c.Now()
		})
	}
	wg.Wait()
	if got, want := c.Now(), t0.Add(50*time.Second); !got.Equal(want) {
		t.Errorf("after 50 advances of 1s: got %v, want %v", got, want)
	}
	c.Set(t0)
	if got := c.Now(); !got.Equal(t0) {
		t.Errorf("after Set: got %v, want %v", got, t0)
	}
}
