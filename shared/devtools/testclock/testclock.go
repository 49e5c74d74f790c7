// Package testclock is the clock that a test moves by hand: it reads what
// the test set, never the machine's time, so that what a test checks does
// not depend on how fast the machine runs. Safe for concurrent use.
package testclock

import (
	"sync"
	"time"
)

// Clock is a clock that reads the time it was set to.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New is a clock that reads t.
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now is the time the clock reads.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set makes the clock read t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
