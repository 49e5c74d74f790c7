// Package ratelimit keeps one token bucket (golang.org/x/time/rate) per key,
// such as a token's subject or a client's address, in bounded memory and on a
// clock the caller may control.
//
// A bucket holds at most Burst tokens and gains Rate tokens a second; a
// request takes one token or is refused. A bucket that has been idle long
// enough to be full again is forgotten: a new bucket for its key starts full,
// so forgetting it changes no answer. Memory is therefore proportional to the
// keys active within the last Burst/Rate seconds, and MaxKeys bounds it even
// under a flood of distinct keys (then the fullest buckets are forgotten
// first, which is lenient to them rather than refusing newcomers).
package ratelimit

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultMaxKeys bounds the buckets a Keyed keeps when Config.MaxKeys is 0:
// about 10 MB of state.
const DefaultMaxKeys = 50_000

// sweepEvery is how often (on the limiter's clock) Allow forgets the buckets
// that are full again.
const sweepEvery = time.Minute

// Config is one limit: every key gets its own bucket.
type Config struct {
	Rate  float64 // tokens a bucket gains per second; > 0
	Burst int     // tokens a bucket holds at most, and holds at first; >= 1
	// MaxKeys bounds the number of buckets kept (0: DefaultMaxKeys).
	MaxKeys int
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Check reports whether c is a usable limit.
func (c Config) Check() error {
	switch {
	case !(c.Rate > 0) || math.IsInf(c.Rate, 0):
		return fmt.Errorf("rate %v: want a positive number of requests per second", c.Rate)
	case c.Burst < 1:
		return fmt.Errorf("burst %d: want at least 1", c.Burst)
	case c.MaxKeys < 0:
		return fmt.Errorf("max keys %d: want at least 0", c.MaxKeys)
	}
	return nil
}

// Keyed is a set of token buckets, one per key. It is safe for concurrent
// use.
type Keyed struct {
	limit   rate.Limit
	burst   int
	maxKeys int
	now     func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim *rate.Limiter
	// refusing is set by a refusal and cleared by the next allowed request,
	// so that a caller hammering its limit is reported once, not per request.
	refusing bool
}

// New returns the buckets of one limit.
func New(c Config) (*Keyed, error) {
	if err := c.Check(); err != nil {
		return nil, fmt.Errorf("new rate limiter: %w", err)
	}
	if c.MaxKeys == 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Keyed{
		limit:   rate.Limit(c.Rate),
		burst:   c.Burst,
		maxKeys: c.MaxKeys,
		now:     c.Now,
		buckets: make(map[string]*bucket),
	}, nil
}

// Decision is the answer to one request.
type Decision struct {
	OK bool
	// RetryAfter is, for a refused request, how long until the key's bucket
	// holds a token again, rounded up to a whole second (at least 1 s), as an
	// HTTP Retry-After header says it.
	RetryAfter time.Duration
	// First is set on the first refusal after an allowed request: the one
	// worth logging.
	First bool
}

// Allow takes one token from key's bucket, or refuses. A nil *Keyed allows
// every request.
func (k *Keyed) Allow(key string) Decision {
	if k == nil {
		return Decision{OK: true}
	}
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	if now.Sub(k.lastSweep) >= sweepEvery || now.Before(k.lastSweep) {
		k.sweep(now)
	}
	b := k.buckets[key]
	if b == nil {
		if len(k.buckets) >= k.maxKeys {
			k.sweep(now)
			k.shed(now)
		}
		b = &bucket{lim: rate.NewLimiter(k.limit, k.burst)}
		k.buckets[key] = b
	}
	if b.lim.AllowN(now, 1) {
		b.refusing = false
		return Decision{OK: true}
	}
	first := !b.refusing
	b.refusing = true
	return Decision{RetryAfter: k.wait(b, now), First: first}
}

// wait is how long until b holds one token, in whole seconds, at least one.
func (k *Keyed) wait(b *bucket, now time.Time) time.Duration {
	missing := 1 - b.lim.TokensAt(now)
	secs := math.Ceil(missing / float64(k.limit))
	if secs < 1 || math.IsNaN(secs) {
		secs = 1
	}
	if secs > 1e9 { // a rate so low that the wait does not fit a Duration
		secs = 1e9
	}
	return time.Duration(secs) * time.Second
}

// sweep forgets every bucket that is full: a new one would answer the same.
func (k *Keyed) sweep(now time.Time) {
	for key, b := range k.buckets {
		if b.lim.TokensAt(now) >= float64(k.burst) {
			delete(k.buckets, key)
		}
	}
	k.lastSweep = now
}

// shed makes room when MaxKeys buckets are all in use: it forgets the
// fullest eighth of them, whose callers lose the least by starting full.
func (k *Keyed) shed(now time.Time) {
	if len(k.buckets) < k.maxKeys {
		return
	}
	type entry struct {
		key    string
		tokens float64
	}
	all := make([]entry, 0, len(k.buckets))
	for key, b := range k.buckets {
		all = append(all, entry{key, b.lim.TokensAt(now)})
	}
	slices.SortFunc(all, func(a, b entry) int {
		switch {
		case a.tokens > b.tokens:
			return -1
		case a.tokens < b.tokens:
			return 1
		}
		return 0
	})
	n := max(1, len(all)/8, len(all)-k.maxKeys+1)
	for _, e := range all[:min(n, len(all))] {
		delete(k.buckets, e.key)
	}
}

// Len is the number of buckets kept now.
func (k *Keyed) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.buckets)
}
