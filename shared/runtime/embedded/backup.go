package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/medshare/medshare/shared/blob/localblob"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/httpapi/wire"
	"github.com/medshare/medshare/shared/keyring/localkeys"
	"github.com/medshare/medshare/shared/runtime/backup"
	"github.com/medshare/medshare/shared/runtime/devauth"
	"github.com/medshare/medshare/shared/store/boltstore"
)

// AdminSocket is the unix socket, under the data directory, on which a
// running `medshare serve` answers `medshare backup`. Only the data
// directory's owner can reach it: it sits in a directory of mode 0700 whatever
// the data directory's mode, the socket is 0600, and on Linux the server also
// checks the peer's user id.
const AdminSocket = "run/admin.sock"

// KeyFiles are the data directory's keys, all in every backup.
var KeyFiles = []string{MasterKeyFile, BlobSecretFile, TokenKeyFile}

// objectNameRE is the archive name of an object file: localblob keeps
// objects at objects/{h[:2]}/{h}, h the hex SHA-256 of the key.
var objectNameRE = regexp.MustCompile(`^` + BlobDir + `/objects/([0-9a-f]{2})/([0-9a-f]{64})$`)

// ArchiveName reports whether name belongs in a backup of a data directory:
// the store, the keys and the object files, nothing else.
func ArchiveName(name string) bool {
	if name == DBFile {
		return true
	}
	for _, k := range KeyFiles {
		if name == k {
			return true
		}
	}
	m := objectNameRE.FindStringSubmatch(name)
	return m != nil && strings.HasPrefix(m[2], m[1])
}

// afterSnapshot, when set by a test, runs once the store's snapshot is
// written and before the objects are copied.
var afterSnapshot func()

// Backup writes a consistent copy of the data directory to w while the
// runtime serves: the store as of one moment, the keys, and every object
// file, including every object that the store's records name.
//
// The order makes that hold: the objects are pinned first (from then on a
// delete keeps its object for the backup), then the store is snapshot in a
// read transaction and written, then the objects are copied. An object
// deleted after the pin is still copied; one uploaded after the snapshot may
// be copied too, and is then an orphan in the restored directory, which
// cleanup never touches and which costs only space. One deleted before the
// pin belongs to a photo whose delete had begun; a crash at that moment
// would leave the same state, and deleting the photo again completes it.
func (rt *Runtime) Backup(ctx context.Context, w io.Writer) (backup.Manifest, error) {
	pin, err := rt.Blobs.Pin()
	if err != nil {
		return backup.Manifest{}, core.ErrUnavailable(err, "backup: pin objects")
	}
	defer pin.Close()
	snap, err := rt.Store.Snapshot()
	if err != nil {
		return backup.Manifest{}, fmt.Errorf("backup: %w", err)
	}
	aw := backup.NewWriter(w, rt.now())
	err = aw.Add(DBFile, snap.Size(), func(w io.Writer) error {
		_, err := snap.WriteTo(w)
		return err
	})
	// Closed at once: an open read transaction holds back the store's
	// writers when the file must grow.
	snap.Close()
	if err != nil {
		return backup.Manifest{}, err
	}
	if afterSnapshot != nil {
		afterSnapshot()
	}
	for _, name := range KeyFiles {
		if err := addFile(aw, filepath.Join(rt.dataDir, name), name); err != nil {
			return backup.Manifest{}, err
		}
	}
	err = pin.Objects(func(o localblob.PinnedObject) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return aw.AddFile(BlobDir+"/"+o.Name, o.File, o.Size)
	})
	if err != nil {
		return backup.Manifest{}, fmt.Errorf("backup: objects: %w", err)
	}
	return aw.Close()
}

func addFile(aw *backup.Writer, path, name string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return aw.AddFile(name, f, fi.Size())
}

// AdminHandler serves the admin socket: GET /v1/backup streams a backup
// (one at a time; another asked meanwhile gets 409).
func (rt *Runtime) AdminHandler(log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/backup", func(w http.ResponseWriter, r *http.Request) {
		if !rt.backupMu.TryLock() {
			adminError(w, http.StatusConflict, core.CodeConflict, "a backup is already running")
			return
		}
		defer rt.backupMu.Unlock()
		start := time.Now()
		w.Header().Set("Content-Type", "application/x-tar")
		m, err := rt.Backup(r.Context(), w)
		if err != nil {
			log.Error("backup failed", "err", err)
			// Cut the stream: the client must see a failure, not the end
			// of an archive.
			panic(http.ErrAbortHandler)
		}
		log.Info("backup", "files", len(m.Files), "bytes", m.Bytes(), "duration_ms", time.Since(start).Milliseconds())
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		adminError(w, http.StatusNotFound, core.CodeNotFound, "no such admin route")
	})
	return mux
}

func adminError(w http.ResponseWriter, status int, code, msg string) {
	body := wire.Error{Error: wire.ErrorDetail{Code: code, Message: msg, RequestID: core.NewID("rq")}}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Request-Id", body.Error.RequestID)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

// ListenAdmin opens the admin socket in dir. The caller must hold the data
// directory (an open Runtime), so that a socket left there is stale and may
// be replaced.
func ListenAdmin(dir string) (net.Listener, error) {
	path := filepath.Join(dir, filepath.FromSlash(AdminSocket))
	run := filepath.Dir(path)
	if err := os.Mkdir(run, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	// An existing one must be a directory, not a link to elsewhere, and
	// becomes private.
	fi, err := os.Lstat(run)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("admin socket: %s is not a directory", run)
	}
	if err := os.Chmod(run, 0o700); err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("admin socket: remove the stale one: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	return sameUser(ln), nil
}

// ErrNoServer is returned by FetchBackup when no server answers on the data
// directory's admin socket.
var ErrNoServer = errors.New("no server runs on this data directory")

// FetchBackup asks the server running on dir for a backup and copies the
// archive to w. It returns ErrNoServer when nothing listens on dir's admin
// socket. The archive is not checked: verify it with backup.Verify.
func FetchBackup(ctx context.Context, dir string, w io.Writer) error {
	path := filepath.Join(dir, filepath.FromSlash(AdminSocket))
	var d net.Dialer
	c := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", path)
		},
		DisableCompression: true,
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://medshare-admin/v1/backup", nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return ErrNoServer
		}
		return fmt.Errorf("fetch backup from %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("fetch backup from %s: %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("fetch backup from %s: the stream was cut (the server's log says why): %w", path, err)
	}
	return nil
}

// RestoreResult says what Restore did.
type RestoreResult struct {
	Manifest backup.Manifest
	// Replaced is where the directory's previous contents went (forced
	// restore into a non-empty directory), or "".
	Replaced string
}

// ErrNotEmpty is returned by Restore for a non-empty directory without
// force.
var ErrNotEmpty = errors.New("the data directory is not empty")

// Restore brings a backup back into dir. The archive is first extracted into
// a staging directory inside dir and checked in full (every file's SHA-256
// against the manifest, the store's structure, the keys) before anything in
// dir changes; a bad archive leaves dir as it was.
//
// dir must be empty or absent, unless force: then no server may be running
// on it, and its previous contents are moved into dir/.replaced-<time>, not
// deleted.
func Restore(r io.Reader, dir string, force bool, now time.Time) (RestoreResult, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return RestoreResult{}, fmt.Errorf("restore: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return RestoreResult{}, fmt.Errorf("restore: %w", err)
	}
	if len(entries) > 0 {
		if !force {
			return RestoreResult{}, fmt.Errorf("restore into %s: %w (%d entries); restore into a new directory, or give --force to move its contents aside", dir, ErrNotEmpty, len(entries))
		}
		inUse, err := boltstore.InUse(filepath.Join(dir, DBFile))
		if err != nil {
			return RestoreResult{}, fmt.Errorf("restore: %w", err)
		}
		if inUse {
			return RestoreResult{}, fmt.Errorf("restore into %s: a server is running on it; stop it first", dir)
		}
	}
	staging, err := os.MkdirTemp(dir, ".restore-")
	if err != nil {
		return RestoreResult{}, fmt.Errorf("restore: %w", err)
	}
	defer os.RemoveAll(staging) // empty once the files have moved
	m, err := backup.Extract(r, staging, ArchiveName)
	if err != nil {
		return RestoreResult{}, fmt.Errorf("restore: %w", err)
	}
	if err := checkStaged(staging, m); err != nil {
		return RestoreResult{}, fmt.Errorf("restore: %w", err)
	}
	var res RestoreResult
	res.Manifest = m
	if len(entries) > 0 {
		res.Replaced = filepath.Join(dir, ".replaced-"+now.UTC().Format("20060102T150405Z"))
		if err := os.Mkdir(res.Replaced, 0o700); err != nil {
			return RestoreResult{}, fmt.Errorf("restore: %w", err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".replaced-") {
				continue // an earlier restore's: leave it where it is
			}
			if err := os.Rename(filepath.Join(dir, e.Name()), filepath.Join(res.Replaced, e.Name())); err != nil {
				return res, fmt.Errorf("restore: move %s aside (the archive is intact; run the restore again): %w", e.Name(), err)
			}
		}
	}
	staged, err := os.ReadDir(staging)
	if err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	for _, e := range staged {
		if err := os.Rename(filepath.Join(staging, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return res, fmt.Errorf("restore: move %s in (the archive is intact; run the restore again with --force): %w", e.Name(), err)
		}
	}
	// The data directory is private whatever it was: the admin socket
	// refuses to open in one that is not.
	if err := os.Chmod(dir, 0o700); err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	return res, nil
}

// checkStaged checks an extracted archive as the server would open it,
// without writing to it.
func checkStaged(dir string, m backup.Manifest) error {
	have := map[string]bool{}
	for _, f := range m.Files {
		have[f.Path] = true
	}
	for _, name := range append([]string{DBFile}, KeyFiles...) {
		if !have[name] {
			return fmt.Errorf("%w: %s is missing", backup.ErrCorrupt, name)
		}
	}
	if err := boltstore.CheckFile(filepath.Join(dir, DBFile)); err != nil {
		return fmt.Errorf("%w: %v", backup.ErrCorrupt, err)
	}
	if _, err := localkeys.Open(filepath.Join(dir, MasterKeyFile)); err != nil {
		return fmt.Errorf("%w: %v", backup.ErrCorrupt, err)
	}
	if _, err := localblob.LoadOrCreateSecret(filepath.Join(dir, BlobSecretFile)); err != nil {
		return fmt.Errorf("%w: %v", backup.ErrCorrupt, err)
	}
	if _, err := devauth.LoadOrCreate(filepath.Join(dir, TokenKeyFile)); err != nil {
		return fmt.Errorf("%w: %v", backup.ErrCorrupt, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
