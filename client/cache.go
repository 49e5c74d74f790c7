package client

import (
	"container/list"
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"time"
)

// PrivateChatPrefix starts the URL an app shows for a chat image:
// private://chat-images/<image_id>.
const PrivateChatPrefix = "private://chat-images/"

// DefaultURLMargin is how long before its expiry a cached URL is replaced by
// default: a 60-minute URL is used for 55.
const DefaultURLMargin = 5 * time.Minute

var imageIDShape = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// ChatImageID returns the image id of a private://chat-images/<id> URL.
// ok is false for any other URL; err is set for a private: URL that names no
// chat image.
func ChatImageID(rawURL string) (id string, ok bool, err error) {
	if len(rawURL) < len("private:") || !strings.EqualFold(rawURL[:len("private:")], "private:") {
		return "", false, nil
	}
	if len(rawURL) < len(PrivateChatPrefix) || !strings.EqualFold(rawURL[:len(PrivateChatPrefix)], PrivateChatPrefix) {
		return "", false, errors.New("a private:// URL must be private://chat-images/<image_id>")
	}
	id = rawURL[len(PrivateChatPrefix):]
	if !imageIDShape.MatchString(id) {
		return "", false, errors.New("a private://chat-images/ URL must end in an image id")
	}
	return id, true, nil
}

// CacheOptions configure a SignedURLCache.
type CacheOptions struct {
	// Margin is how long before a URL's expiry it is replaced (0: DefaultURLMargin).
	// It is capped at half the URL's lifetime.
	Margin time.Duration
	// Now is the clock (nil: time.Now); tests inject one.
	Now func() time.Time
	// MaxEntries bounds the cache; the least recently used URLs go first (0: 1000).
	MaxEntries int
}

// SignedURLCache resolves private://chat-images/{id} URLs to signed URLs and
// passes every other URL (https:, http:, blob:, file:, data:, …) through
// unchanged. It makes one request per image per URL lifetime minus the margin:
// the lifetime comes from the answer's expires_at, measured against the
// server's Date when known (so a wrong local clock does not matter) and
// counted on the injected clock. Concurrent resolutions of one id share one
// request. A URL past its time is fetched again, and so is one reported as
// failed (ReportFailure) or dropped (Invalidate). It is safe for concurrent
// use; use one per signed-in user.
type SignedURLCache struct {
	source func(ctx context.Context, imageID string) (SignedURL, error)
	margin time.Duration
	now    func() time.Time
	max    int

	mu      sync.Mutex
	entries map[string]*list.Element // of *cacheEntry; front is most recently used
	lru     *list.List
	flights map[string]*flight
	epoch   uint64
}

type cacheEntry struct {
	id, url   string
	refreshAt time.Time
}

type flight struct {
	done    chan struct{}
	url     string
	err     error
	waiters int // callers that joined the first one; read by tests
}

// NewSignedURLCache returns a cache that gets signed URLs from source.
func NewSignedURLCache(source func(ctx context.Context, imageID string) (SignedURL, error), opts CacheOptions) *SignedURLCache {
	c := &SignedURLCache{source: source, margin: opts.Margin, now: opts.Now, max: opts.MaxEntries,
		entries: map[string]*list.Element{}, lru: list.New(), flights: map[string]*flight{}}
	if c.margin <= 0 {
		c.margin = DefaultURLMargin
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.max <= 0 {
		c.max = 1000
	}
	return c
}

// Resolve returns the URL to load for rawURL: a signed URL for
// private://chat-images/{id}, rawURL itself for anything else.
func (c *SignedURLCache) Resolve(ctx context.Context, rawURL string) (string, error) {
	id, ok, err := ChatImageID(rawURL)
	if err != nil || !ok {
		return rawURL, err
	}
	return c.ResolveImage(ctx, id)
}

// ResolveImage returns a signed URL for a chat image id, from the cache when
// it is still good. A cancelled ctx stops this caller's wait, not the request
// other callers share.
func (c *SignedURLCache) ResolveImage(ctx context.Context, imageID string) (string, error) {
	c.mu.Lock()
	if el, ok := c.entries[imageID]; ok {
		e := el.Value.(*cacheEntry)
		if c.now().Before(e.refreshAt) {
			c.lru.MoveToFront(el)
			c.mu.Unlock()
			return e.url, nil
		}
		c.remove(el)
	}
	f, ok := c.flights[imageID]
	if ok {
		f.waiters++
	} else {
		f = &flight{done: make(chan struct{})}
		c.flights[imageID] = f
		go c.fetch(context.WithoutCancel(ctx), imageID, f, c.epoch)
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.url, f.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (c *SignedURLCache) fetch(ctx context.Context, imageID string, f *flight, epoch uint64) {
	u, err := c.source(ctx, imageID)
	c.mu.Lock()
	if c.flights[imageID] == f {
		delete(c.flights, imageID)
	}
	if err == nil && epoch == c.epoch {
		c.store(imageID, u)
	}
	c.mu.Unlock()
	f.url, f.err = u.URL, err
	close(f.done)
}

// store caches u; c.mu is held.
func (c *SignedURLCache) store(imageID string, u SignedURL) {
	received := c.now()
	var lifetime time.Duration
	if !u.ServerDate.IsZero() {
		// The HTTP Date has whole seconds: count from the end of that second.
		lifetime = u.ExpiresAt.Sub(u.ServerDate) - time.Second
	} else {
		lifetime = u.ExpiresAt.Sub(received)
	}
	if lifetime <= 0 {
		return // already expired: the caller uses it once, the cache keeps nothing
	}
	refreshAt := received.Add(lifetime - min(c.margin, lifetime/2))
	if el, ok := c.entries[imageID]; ok {
		c.remove(el)
	}
	c.entries[imageID] = c.lru.PushFront(&cacheEntry{id: imageID, url: u.URL, refreshAt: refreshAt})
	for c.lru.Len() > c.max {
		c.remove(c.lru.Back())
	}
}

func (c *SignedURLCache) remove(el *list.Element) {
	delete(c.entries, el.Value.(*cacheEntry).id)
	c.lru.Remove(el)
}

// Invalidate drops the cached URL of an image: the next resolution fetches a
// new one.
func (c *SignedURLCache) Invalidate(imageID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[imageID]; ok {
		c.remove(el)
	}
}

// ReportFailure is what the app calls when loading a resolved URL failed,
// with the HTTP status (0 when unknown). Unless the failure is transient (429
// or 5xx) the URL is dropped, and the next resolution fetches a new one. A URL
// that was already replaced is ignored. It reports whether a URL was dropped.
func (c *SignedURLCache) ReportFailure(signedURL string, status int) bool {
	if status == 429 || status >= 500 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, el := range c.entries {
		if el.Value.(*cacheEntry).url == signedURL {
			c.remove(el)
			return true
		}
	}
	return false
}

// Clear forgets every URL, and the answers of requests still in flight
// (sign-out).
func (c *SignedURLCache) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = map[string]*list.Element{}
	c.lru.Init()
	c.flights = map[string]*flight{}
	c.epoch++
}

// Len returns how many URLs are cached.
func (c *SignedURLCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
