// Package embedded assembles the one-machine runtime: the bbolt store, the blob
// directory with HMAC-signed URLs, the local key ring and the dev token
// authority, all in one data directory that survives restarts.
package embedded

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/medshare/medshare/shared/blob/localblob"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/httpapi"
	"github.com/medshare/medshare/shared/httpapi/portal"
	"github.com/medshare/medshare/shared/keyring/localkeys"
	"github.com/medshare/medshare/shared/notify/localnotify"
	"github.com/medshare/medshare/shared/runtime/devauth"
	"github.com/medshare/medshare/shared/runtime/localserver"
	"github.com/medshare/medshare/shared/store/boltstore"
	"github.com/medshare/medshare/web"
)

// Files in the data directory.
const (
	DBFile         = "medshare.db"
	MasterKeyFile  = "master.key"
	BlobSecretFile = "blob-signing.key"
	TokenKeyFile   = "token-signing-key.pem"
	BlobDir        = "blobs"
	BlobPrefix     = "/blobs/"
)

// Options configure the runtime.
type Options struct {
	DataDir string
	// PublicURL is where clients reach the server, e.g. http://127.0.0.1:8080;
	// presigned blob URLs start with it.
	PublicURL string
	Config    core.Config
	Log       *slog.Logger
	// Now is the clock of the service and the blob store (nil: time.Now).
	Now func() time.Time
	// Limits are the HTTP handler's rate limits per caller (nil: none).
	// The portal's answers carry no token: they are limited by address,
	// as the blob URLs are.
	Limits *localserver.Limits
	// Demo, when not nil, is the demo data the portal may sign in as
	// (GET /demo/identities); its Mint is set by Open. Set it only for
	// `serve --demo` on a loopback address (portal.DemoAllowed).
	Demo *portal.Demo
	// Portal is the bundle HTTPHandler serves at / (nil: the embedded
	// web/dist).
	Portal fs.FS
}

// Runtime is an open embedded runtime.
type Runtime struct {
	Store *boltstore.Store
	Blobs *localblob.Store
	Keys  *localkeys.Ring
	Auth  *devauth.Authority
	// Notifier is the in-process notifier: notifications are also kept in
	// the store's inboxes, this is for subscribers in the same process.
	Notifier *localnotify.Notifier
	Service  *core.Service
	Handler  *httpapi.Handler

	portal   portal.Options
	dataDir  string
	limits   *localserver.Limits
	now      func() time.Time
	backupMu sync.Mutex // one backup at a time
}

// Open creates the data directory (mode 0700) if needed and opens every
// adapter in it.
func Open(o Options) (*Runtime, error) {
	if o.DataDir == "" {
		return nil, errors.New("open embedded runtime: no data directory")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(filepath.Join(o.DataDir, BlobDir), 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", o.DataDir, err)
	}
	rt := &Runtime{dataDir: o.DataDir, limits: o.Limits, now: now}
	var err error
	if rt.Keys, err = localkeys.Open(filepath.Join(o.DataDir, MasterKeyFile)); err != nil {
		return nil, err
	}
	if rt.Auth, err = devauth.LoadOrCreate(filepath.Join(o.DataDir, TokenKeyFile)); err != nil {
		return nil, err
	}
	secret, err := localblob.LoadOrCreateSecret(filepath.Join(o.DataDir, BlobSecretFile))
	if err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(o.PublicURL, "/") + strings.TrimSuffix(BlobPrefix, "/")
	if rt.Blobs, err = localblob.New(filepath.Join(o.DataDir, BlobDir), base, secret, localblob.WithClock(now)); err != nil {
		return nil, err
	}
	if rt.Store, err = boltstore.Open(filepath.Join(o.DataDir, DBFile)); err != nil {
		return nil, err
	}
	// The store's lock is held: pins left in the blob directory belong to
	// a process that stopped during a backup.
	if err := rt.Blobs.RemoveStalePins(); err != nil {
		o.Log.Warn("embedded: remove stale blob pins", "err", err)
	}
	rt.Notifier = localnotify.New(1000)
	rt.Service = core.NewService(o.Config, core.Deps{Store: rt.Store, Blobs: rt.Blobs, Keys: rt.Keys, Notifier: rt.Notifier, Now: now})
	rt.Handler = httpapi.NewHandler(rt.Service, o.Log)
	rt.portal = portal.Options{
		Files: o.Portal,
		// The signed blob URLs point at the public URL, which is another
		// origin than the page's when the page is opened under another
		// name; portal.Wrap leaves out the page's own.
		Origins: portal.Origins{Media: []string{portal.Origin(o.PublicURL)}},
		Config:  portal.Config{Auth: portal.Auth{Mode: portal.AuthToken}},
	}
	if rt.portal.Files == nil {
		rt.portal.Files = web.Dist()
	}
	if o.Demo != nil {
		d := *o.Demo
		d.Mint = func(sub string, role core.Role) (string, error) { return rt.Auth.Mint(sub, role, portal.DemoTokenTTL) }
		rt.portal.Demo = &d
	}
	if _, err := portal.Wrap(http.NotFoundHandler(), rt.portal); err != nil {
		rt.Store.Close()
		return nil, err
	}
	return rt, nil
}

// HTTPHandler is the local server: the portal at /, the API, the blob URLs
// and the OpenAPI document.
func (rt *Runtime) HTTPHandler(log *slog.Logger) http.Handler {
	api := localserver.New(localserver.Options{
		Handler:    rt.Handler,
		Auth:       rt.Auth,
		Blobs:      rt.Blobs.Handler(),
		BlobPrefix: BlobPrefix,
		OpenAPI:    httpapi.OpenAPI(),
		Log:        log,
		Limits:     rt.limits,
	})
	p := rt.portal
	if rt.limits != nil {
		// The portal's answers carry no token: limited by address, as the
		// blob URLs and the OpenAPI document are.
		p.Limit = func(next http.Handler) http.Handler { return rt.limits.LimitIP(next, log) }
	}
	h, err := portal.Wrap(api, p)
	if err != nil { // Open made the same handler without an error
		panic(fmt.Sprintf("embedded: portal: %v", err))
	}
	return h
}

// Close closes the store.
func (rt *Runtime) Close() error { return rt.Store.Close() }
