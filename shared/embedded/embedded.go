// Package embedded assembles the one-machine runtime: the bbolt store, the blob
// directory with HMAC-signed URLs, the local key ring and the dev token
// authority, all in one data directory that survives restarts.
package embedded

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/medshare/medshare/shared/boltstore"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devauth"
	"github.com/medshare/medshare/shared/httpapi"
	"github.com/medshare/medshare/shared/localblob"
	"github.com/medshare/medshare/shared/localkeys"
	"github.com/medshare/medshare/shared/localnotify"
	"github.com/medshare/medshare/shared/localserver"
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
	Limits *localserver.Limits
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
	rt.Service = core.NewService(o.Config, core.Deps{Store: rt.Store, Shares: rt.Store, Jobs: rt.Store, Blobs: rt.Blobs, Keys: rt.Keys, Notifier: rt.Notifier, Now: now})
	rt.Handler = httpapi.NewHandler(rt.Service, o.Log)
	return rt, nil
}

// HTTPHandler is the local server: the API, the blob URLs and the OpenAPI
// document.
func (rt *Runtime) HTTPHandler(log *slog.Logger) http.Handler {
	return localserver.New(localserver.Options{
		Handler:    rt.Handler,
		Auth:       rt.Auth,
		Blobs:      rt.Blobs.Handler(),
		BlobPrefix: BlobPrefix,
		OpenAPI:    httpapi.OpenAPI,
		Log:        log,
		Limits:     rt.limits,
	})
}

// Close closes the store.
func (rt *Runtime) Close() error { return rt.Store.Close() }
