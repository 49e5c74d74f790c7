package client

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"net/url"
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
	// LegacyHosts are the hosts of the legacy chat's public bucket (e.g.
	// old-chat.nyc3.digitaloceanspaces.com): an https URL of one of them,
	// which an old message holds, is resolved with Legacy (POST
	// /api/chat-images/resolve) instead of being passed through.
	LegacyHosts []string
	// Legacy resolves an old chat image URL (Client.ResolveChatImage);
	// required with LegacyHosts.
	Legacy func(ctx context.Context, rawURL string) (LegacyResolution, error)
}

// LegacyResolution is the server's answer to an old chat image URL:
// Status "migrated" with ImageID (and URL private://chat-images/<id>), or
// "legacy" with URL the old URL, usable until ExpiresAt.
type LegacyResolution struct {
	Status    string    `json:"status"`
	ImageID   string    `json:"image_id,omitempty"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at,omitempty"`
	// ServerDate is the answer's HTTP Date (not a protocol field).
	ServerDate time.Time `json:"-"`
}

// legacyKeyPrefix starts the cache key of an old URL, beside image ids
// (which never hold a ":").
const legacyKeyPrefix = "legacy:"

// SignedURLCache resolves private://chat-images/{id} URLs to signed URLs and
// old chat image URLs of the legacy hosts (CacheOptions.LegacyHosts) through
// the resolve route: a migrated image's to its signed URL, one not yet
// migrated to its old URL for as long as the server allows. It passes every
// other URL (https:, http:, blob:, file:, data:, …) through unchanged. It makes one request per image per URL lifetime minus the margin:
// the lifetime comes from the answer's expires_at, measured against the
// server's Date when known (so a wrong local clock does not matter) and
// counted on the injected clock. Concurrent resolutions of one id share one
// request. A URL past its time is fetched again, and so is one reported as
// failed (ReportFailure) or dropped (Invalidate). It is safe for concurrent
// use; use one per signed-in user.
type SignedURLCache struct {
	source func(ctx context.Context, imageID string) (SignedURL, error)
	legacy func(ctx context.Context, rawURL string) (LegacyResolution, error)
	hosts  map[string]bool
	margin time.Duration
	now    func() time.Time
	max    int

	mu      sync.Mutex
	entries map[string]*list.Element // of *cacheEntry; front is most recently used
	lru     *list.List
	flights map[string]*flight
	epoch   uint64
	// migrated maps an old URL's key to its migrated image's id: an image
	// id never changes, so an old URL is resolved once.
	migrated map[string]string
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
	c := &SignedURLCache{source: source, legacy: opts.Legacy, margin: opts.Margin, now: opts.Now, max: opts.MaxEntries,
		entries: map[string]*list.Element{}, lru: list.New(), flights: map[string]*flight{},
		hosts: map[string]bool{}, migrated: map[string]string{}}
	if opts.Legacy != nil {
		for _, h := range opts.LegacyHosts {
			c.hosts[strings.ToLower(h)] = true
		}
	}
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
// private://chat-images/{id}; for an https URL of a legacy host, the signed
// URL of its migrated image or, not yet migrated, the old URL itself while
// the server allows it (a URL the server does not know to the caller is
// its 404, *APIError); rawURL itself for anything else.
func (c *SignedURLCache) Resolve(ctx context.Context, rawURL string) (string, error) {
	id, ok, err := ChatImageID(rawURL)
	if err != nil {
		return rawURL, err
	}
	if ok {
		return c.ResolveImage(ctx, id)
	}
	key, ok := c.legacyKey(rawURL)
	if !ok {
		return rawURL, nil
	}
	c.mu.Lock()
	id, migrated := c.migrated[key]
	c.mu.Unlock()
	if migrated {
		return c.ResolveImage(ctx, id)
	}
	return c.resolve(ctx, key, rawURL)
}

// legacyKey returns the cache key of an https URL of a legacy host: its
// host in lower case and its path, without query or fragment (the server
// normalizes the same way).
func (c *SignedURLCache) legacyKey(rawURL string) (string, bool) {
	if len(c.hosts) == 0 {
		return "", false
	}
	u, err := url.Parse(rawURL)
	if err != nil || !strings.EqualFold(u.Scheme, "https") || !c.hosts[strings.ToLower(u.Hostname())] || u.EscapedPath() == "" {
		return "", false
	}
	return legacyKeyPrefix + strings.ToLower(u.Host) + u.EscapedPath(), true
}

// ResolveImage returns a signed URL for a chat image id, from the cache when
// it is still good. A cancelled ctx stops this caller's wait, not the request
// other callers share.
func (c *SignedURLCache) ResolveImage(ctx context.Context, imageID string) (string, error) {
	return c.resolve(ctx, imageID, "")
}

// resolve returns the URL cached under key (an image id, or an old URL's
// legacyKey with rawURL), fetching it when it is not good any more.
func (c *SignedURLCache) resolve(ctx context.Context, key, rawURL string) (string, error) {
	imageID := key
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
		go c.fetch(context.WithoutCancel(ctx), imageID, rawURL, f, c.epoch)
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.url, f.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (c *SignedURLCache) fetch(ctx context.Context, key, rawURL string, f *flight, epoch uint64) {
	var u SignedURL
	var err error
	storeAs, migratedID := key, ""
	if rawURL == "" {
		u, err = c.source(ctx, key)
	} else {
		var res LegacyResolution
		res, err = c.legacy(ctx, rawURL)
		switch {
		case err != nil:
		case res.Status == "migrated" && imageIDShape.MatchString(res.ImageID):
			// Its signed URL, in this flight: cached under the image's id,
			// which the old URL resolves to from now on.
			migratedID, storeAs = res.ImageID, res.ImageID
			u, err = c.source(ctx, res.ImageID)
		case res.Status == "legacy" && res.URL != "":
			u = SignedURL{URL: res.URL, ExpiresAt: res.ExpiresAt, ServerDate: res.ServerDate}
		default:
			err = fmt.Errorf("resolve chat image: unexpected answer %q", res.Status)
		}
	}
	c.mu.Lock()
	if c.flights[key] == f {
		delete(c.flights, key)
	}
	if err == nil && epoch == c.epoch {
		if migratedID != "" {
			c.migrated[key] = migratedID
		}
		c.store(storeAs, u)
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
	c.migrated = map[string]string{}
	c.epoch++
}

// Len returns how many URLs are cached.
func (c *SignedURLCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
