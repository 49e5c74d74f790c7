package localblob

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/medshare/medshare/shared/core"
)

var _ core.ObjectImporter = (*Store)(nil)

// Import writes an object the service brings in itself (a migrated legacy
// chat image, core.ObjectImporter): the bytes go to a temporary file in the
// object's directory, are counted and hashed, and only when they are
// exactly size bytes with SHA-256 sum (when given) does the file replace
// what the key holds, under the key's mutex: an object (kept first for an
// open Pin, as Delete keeps it) or a tombstone, which the import removes.
// Unlike an upload URL's write it replaces: its keys are the migration's
// own, for which no upload URL is signed.
func (s *Store) Import(ctx context.Context, key, contentType string, body io.Reader, size int64, sum []byte) (core.BlobInfo, error) {
	if err := checkKey("import object", key); err != nil {
		return core.BlobInfo{}, err
	}
	if err := core.CheckImport("import object", key, contentType, size, sum, core.MinURLTTL); err != nil {
		return core.BlobInfo{}, err
	}
	final := s.path(key)
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return core.BlobInfo{}, core.ErrUnavailable(err, "import object %s: create directory", key)
	}
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return core.BlobInfo{}, core.ErrUnavailable(err, "import object %s: create temporary file", key)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name()) // gone already once renamed into place
	}()
	hdr := append([]byte(magic), 0, 0)
	binary.BigEndian.PutUint16(hdr[len(magic):], uint16(len(contentType)))
	hdr = append(hdr, contentType...)
	if _, err := f.Write(hdr); err != nil {
		return core.BlobInfo{}, core.ErrUnavailable(err, "import object %s: write", key)
	}
	n, digest, err := core.CopyImport("import object", key, f, &ctxReader{ctx, body}, size, sum)
	if err != nil {
		return core.BlobInfo{}, err
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return core.BlobInfo{}, core.ErrUnavailable(err, "import object %s: sync", key)
	}
	if err := s.replace(key, f.Name(), final); err != nil {
		return core.BlobInfo{}, core.ErrUnavailable(err, "import object %s", key)
	}
	if err := syncDir(dir); err != nil {
		s.log.Warn("localblob: sync object directory", "key", key, "err", err)
	}
	return core.BlobInfo{Size: n, SHA256: digest}, nil
}

// replace moves tmp over final, the object of key, under the key's mutex and
// the pins' shared lock: an object it replaces is kept for an open Pin
// first, and a tombstone is removed before the object appears, so that a
// crash between the two leaves the key absent, never the old bytes.
func (s *Store) replace(key, tmp, final string) error {
	s.pinMu.RLock()
	defer s.pinMu.RUnlock()
	mu := s.lock(key)
	mu.Lock()
	defer mu.Unlock()
	if _, err := os.Lstat(final); err == nil {
		for p := range s.pins {
			if err := p.keep(final); err != nil {
				return err
			}
		}
	}
	if err := os.Remove(s.tombstonePath(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.Rename(tmp, final)
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
