// Package testclock is a clock a test moves by hand, for the code under
// test that takes a func() time.Time: nothing then depends on how fast the
// machine is.
package testclock

import (
	"sync"
	"time"
)

// Clock reads a time that moves only when the test moves it. It is safe
// for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// At returns a clock that reads t.
func At(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
