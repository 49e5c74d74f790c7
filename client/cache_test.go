package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeSource hands out numbered URLs that expire lifetime after the clock's
// now, as a server would; it counts its calls.
type fakeSource struct {
	clock      *fakeClock
	lifetime   time.Duration
	serverSkew time.Duration // server clock = local clock + skew; 0 sends no Date
	sendDate   bool
	calls      atomic.Int64
	gate       chan struct{} // when not nil, each call waits for a value
	err        error
}

func (s *fakeSource) get(ctx context.Context, id string) (SignedURL, error) {
	n := s.calls.Add(1)
	if s.gate != nil {
		<-s.gate
	}
	if s.err != nil {
		return SignedURL{}, s.err
	}
	server := s.clock.Now().Add(s.serverSkew)
	u := SignedURL{URL: fmt.Sprintf("https://store.example/%s?n=%d", id, n), ExpiresAt: server.Add(s.lifetime)}
	if s.sendDate {
		u.ServerDate = server.Truncate(time.Second)
	}
	return u, nil
}

func newTestCache(lifetime time.Duration, opts CacheOptions) (*SignedURLCache, *fakeSource, *fakeClock) {
	clock := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	src := &fakeSource{clock: clock, lifetime: lifetime}
	opts.Now = clock.Now
	return NewSignedURLCache(src.get, opts), src, clock
}

func resolve(t *testing.T, c *SignedURLCache, url string) string {
	t.Helper()
	got, err := c.Resolve(context.Background(), url)
	if err != nil {
		t.Fatalf("Resolve(%q): %v", url, err)
	}
	return got
}

func TestCachePassesOtherURLsThrough(t *testing.T) {
	c, src, _ := newTestCache(time.Hour, CacheOptions{})
	for _, u := range []string{
		"https://cdn.example/a.png", "http://127.0.0.1:8080/x", "blob:https://app.example/1234",
		"file:///tmp/a.png", "data:image/png;base64,iVBORw0KGgo=", "",
	} {
		if got := resolve(t, c, u); got != u {
			t.Errorf("Resolve(%q) = %q, want it unchanged", u, got)
		}
	}
	for _, u := range []string{"private://photos/ph_1", "private://chat-images/", "private://chat-images/a/b", "private:x"} {
		if _, err := c.Resolve(context.Background(), u); err == nil {
			t.Errorf("Resolve(%q) succeeded, want an error", u)
		}
	}
	if n := src.calls.Load(); n != 0 {
		t.Errorf("%d signed-URL requests for URLs that need none", n)
	}
	if got := resolve(t, c, "PRIVATE://Chat-Images/ci_abc"); got != "https://store.example/ci_abc?n=1" {
		t.Errorf("scheme and host are case-insensitive: got %q", got)
	}
}

// A 60-minute URL is used for 55 minutes, then replaced: the refresh time
// comes from expires_at (with or without the server's Date), never a constant.
func TestCacheOneRequestPerLifetimeMinusMargin(t *testing.T) {
	for _, tc := range []struct {
		name      string
		lifetime  time.Duration
		margin    time.Duration
		sendDate  bool
		refreshAt time.Duration // after the first request
	}{
		{"60 min, default margin", time.Hour, 0, false, 55 * time.Minute},
		{"20 min, default margin", 20 * time.Minute, 0, false, 15 * time.Minute},
		{"60 min, 10 min margin", time.Hour, 10 * time.Minute, false, 50 * time.Minute},
		{"6 min: margin capped at half", 6 * time.Minute, 0, false, 3 * time.Minute},
		{"2 s: margin capped at half", 2 * time.Second, 0, false, time.Second},
		// The Date header has whole seconds; the cache counts from the end of that second.
		{"60 min, server Date", time.Hour, 0, true, 55*time.Minute - time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, src, clock := newTestCache(tc.lifetime, CacheOptions{Margin: tc.margin})
			src.sendDate = tc.sendDate
			first := resolve(t, c, "private://chat-images/ci_1")
			for range 5 {
				if got := resolve(t, c, "private://chat-images/ci_1"); got != first {
					t.Fatalf("cached URL changed: %q then %q", first, got)
				}
			}
			clock.Advance(tc.refreshAt - time.Nanosecond)
			resolve(t, c, "private://chat-images/ci_1")
			if n := src.calls.Load(); n != 1 {
				t.Fatalf("%d requests before the refresh time, want 1", n)
			}
			clock.Advance(time.Nanosecond)
			if got := resolve(t, c, "private://chat-images/ci_1"); got == first {
				t.Errorf("at the refresh time the old URL is still used")
			}
			if n := src.calls.Load(); n != 2 {
				t.Errorf("%d requests after the refresh time, want 2", n)
			}
		})
	}
}

// A device clock two hours ahead of the server still caches a URL for its
// lifetime: the lifetime is measured on the server's clock.
func TestCacheMeasuresLifetimeOnServerClock(t *testing.T) {
	c, src, clock := newTestCache(time.Hour, CacheOptions{})
	src.sendDate, src.serverSkew = true, -2*time.Hour
	resolve(t, c, "private://chat-images/ci_1")
	clock.Advance(50 * time.Minute)
	resolve(t, c, "private://chat-images/ci_1")
	if n := src.calls.Load(); n != 1 {
		t.Errorf("%d requests within the URL's lifetime, want 1", n)
	}
}

func TestCacheConcurrentResolutionsShareOneRequest(t *testing.T) {
	c, src, _ := newTestCache(time.Hour, CacheOptions{})
	src.gate = make(chan struct{})
	const n = 50
	results := make(chan string, n)
	for range n {
		go func() {
			u, err := c.Resolve(context.Background(), "private://chat-images/ci_1")
			if err != nil {
				u = "error: " + err.Error()
			}
			results <- u
		}()
	}
	// Wait until every caller but the first has joined the request in flight.
	for {
		c.mu.Lock()
		f := c.flights["ci_1"]
		joined := f != nil && f.waiters == n-1
		c.mu.Unlock()
		if joined {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(src.gate)
	want := "https://store.example/ci_1?n=1"
	for range n {
		if got := <-results; got != want {
			t.Errorf("a caller got %q, want %q", got, want)
		}
	}
	if got := src.calls.Load(); got != 1 {
		t.Errorf("%d requests for %d concurrent resolutions, want 1", got, n)
	}
}

func TestCacheDropsFailedURLs(t *testing.T) {
	c, src, _ := newTestCache(time.Hour, CacheOptions{})
	first := resolve(t, c, "private://chat-images/ci_1")
	for _, transient := range []int{429, 500, 503} {
		if c.ReportFailure(first, transient) {
			t.Errorf("a %d dropped the URL; it is transient", transient)
		}
	}
	if !c.ReportFailure(first, 403) {
		t.Fatal("a 403 did not drop the URL")
	}
	second := resolve(t, c, "private://chat-images/ci_1")
	if second == first || src.calls.Load() != 2 {
		t.Fatalf("after a 403: %q (%d requests), want a new URL", second, src.calls.Load())
	}
	if c.ReportFailure(first, 403) {
		t.Error("a failure of the replaced URL dropped the new one")
	}
	if !c.ReportFailure(second, 0) {
		t.Error("a failure of unknown status (an <img> error) did not drop the URL")
	}
	resolve(t, c, "private://chat-images/ci_1")
	c.Invalidate("ci_1")
	resolve(t, c, "private://chat-images/ci_1")
	if n := src.calls.Load(); n != 4 {
		t.Errorf("%d requests, want 4 (first, after 403, after status 0, after Invalidate)", n)
	}
}

func TestCacheKeepsNoErrorNorExpiredURL(t *testing.T) {
	c, src, _ := newTestCache(time.Hour, CacheOptions{})
	src.err = &APIError{Status: 404, Code: "not_found"}
	if _, err := c.Resolve(context.Background(), "private://chat-images/ci_1"); Code(err) != "not_found" {
		t.Fatalf("error = %v, want the source's not_found", err)
	}
	src.err = nil
	resolve(t, c, "private://chat-images/ci_1")
	if n := src.calls.Load(); n != 2 {
		t.Errorf("%d requests, want 2: an error is not cached", n)
	}

	expired, src2, _ := newTestCache(-time.Second, CacheOptions{})
	resolve(t, expired, "private://chat-images/ci_1")
	resolve(t, expired, "private://chat-images/ci_1")
	if n := src2.calls.Load(); n != 2 || expired.Len() != 0 {
		t.Errorf("an expired URL: %d requests, %d cached; want 2 and 0", n, expired.Len())
	}
}

func TestCacheClearForgetsAnswersInFlight(t *testing.T) {
	c, src, _ := newTestCache(time.Hour, CacheOptions{})
	src.gate = make(chan struct{})
	done := make(chan string)
	go func() { u, _ := c.Resolve(context.Background(), "private://chat-images/ci_1"); done <- u }()
	for src.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	c.Clear()
	close(src.gate)
	if u := <-done; u == "" {
		t.Error("the caller in flight got no URL")
	}
	if c.Len() != 0 {
		t.Error("an answer requested before Clear was cached after it")
	}
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c, src, _ := newTestCache(time.Hour, CacheOptions{MaxEntries: 2})
	for _, id := range []string{"a", "b", "a", "c", "a"} {
		resolve(t, c, "private://chat-images/"+id)
	}
	if c.Len() != 2 || src.calls.Load() != 3 {
		t.Fatalf("%d cached after %d requests, want 2 and 3", c.Len(), src.calls.Load())
	}
	resolve(t, c, "private://chat-images/b") // evicted by c
	if n := src.calls.Load(); n != 4 {
		t.Errorf("%d requests, want 4: b was the least recently used", n)
	}
}

func TestCacheCancelledWaiterDoesNotCancelOthers(t *testing.T) {
	c, src, _ := newTestCache(time.Hour, CacheOptions{})
	src.gate = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error)
	go func() { _, err := c.Resolve(ctx, "private://chat-images/ci_1"); first <- err }()
	for src.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	second := make(chan string)
	go func() { u, _ := c.Resolve(context.Background(), "private://chat-images/ci_1"); second <- u }()
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: %v", err)
	}
	close(src.gate)
	if u := <-second; u != "https://store.example/ci_1?n=1" {
		t.Errorf("the other caller got %q", u)
	}
}
