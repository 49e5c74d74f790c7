// Package localblob is the embedded core.Blobs: objects are files under a root
// directory, read and written through an http.Handler with presigned-style
// URLs signed by HMAC-SHA256, so that clients use the same upload and download
// flow as with S3.
//
// # URLs
//
// A URL is the base URL, a slash, the object key and a query:
//
//	GET  {base}/{key}?X-Medshare-Expires={unix}&X-Medshare-Signature={hex}
//	PUT  {base}/{key}?X-Medshare-Expires={unix}&X-Medshare-Length={n}&X-Medshare-Sha256={hex}&X-Medshare-Signature={hex}
//
// The signature is HMAC-SHA256 under the store's secret of the fields
// "medshare-blob-v1", method, key, expiry and, for PUT, length, hex SHA-256
// and content type, each prefixed by its length as a big-endian uint32. A URL
// is valid strictly before its expiry. An upload must send the Content-Type it
// was signed for and exactly the signed number of bytes with the signed
// SHA-256; the x-amz-checksum-sha256 header, when sent, must match too. HEAD is
// served with a GET URL.
//
// # Files
//
// Keys are 1 to 1024 bytes of segments separated by '/', each segment made of
// [A-Za-z0-9._:@-] and neither "." nor "..". The characters ':' and '@' are
// allowed because core.ValidExternalID allows them in the owner ids that
// core.PhotoObjectKey puts in keys. An object is stored at
// {root}/objects/{h[:2]}/{h}, h being the hex SHA-256 of its key, so that no
// key can name a path outside the root and no key is a directory of another.
// The file holds a small header (a magic string and the content type) followed
// by the object's bytes: an upload is written to a temporary file in the same
// directory, synced and then linked into place, so a reader sees no object
// or the whole object, never a part.
//
// # Write once, and deletes that stay deleted
//
// As on S3 with the If-None-Match: * that s3blob signs, a key is written
// once: an upload to a key that holds an object, or held one that was
// deleted, is refused with 412 and code conflict. Delete leaves a tombstone
// at {root}/tombstones/{h[:2]}/{h}, holding the time of the delete, so that
// an upload URL signed before the delete (a deleted photo's) can no longer
// write the key. A tombstone is kept for MaxTTL, the longest any URL lives,
// and then swept: when the store is opened, and by a Delete at most once an
// hour.
package localblob

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/runtime/secretfile"
)

var _ core.Blobs = (*Store)(nil)

// Query parameters of a presigned URL.
const (
	ParamExpires   = "X-Medshare-Expires"
	ParamLength    = "X-Medshare-Length"
	ParamSHA256    = "X-Medshare-Sha256"
	ParamSignature = "X-Medshare-Signature"
)

// ChecksumHeader is the header, named as in S3, that carries the standard
// base64 of the SHA-256 of an upload's body.
const ChecksumHeader = "x-amz-checksum-sha256"

// Limits, chosen to match S3's where S3 has one.
const (
	// MinSecretSize is the least number of bytes of the signing secret.
	MinSecretSize = 32
	// MaxKeyLen is the longest object key, in bytes.
	MaxKeyLen = 1024
	// MaxObjectSize is the largest object, as S3's single PUT.
	MaxObjectSize = core.MaxBlobSize
	// MinTTL and MaxTTL bound the validity of a URL, as S3's presigned URLs.
	MinTTL = core.MinURLTTL
	MaxTTL = core.MaxURLTTL
)

const (
	magic      = "msblob1\n"
	tempPrefix = ".tmp-"
	// staleAfter is the age past which New removes leftover temporary files
	// of interrupted uploads; no upload takes that long.
	staleAfter = time.Hour
	// TombstoneTTL is how long a deleted key refuses uploads: as long as the
	// longest URL the store signs, so that no URL outlives its key's
	// tombstone.
	TombstoneTTL = MaxTTL
	// sweepEvery is how often Delete sweeps expired tombstones.
	sweepEvery = time.Hour
)

// Store is the local blob store. It is safe for concurrent use.
type Store struct {
	root       string
	objects    string // {root}/objects
	tombstones string // {root}/tombstones
	base       string // base URL without a trailing slash
	prefix     string // URL path the handler serves, with a trailing slash
	secret     []byte
	now        func() time.Time
	log        *slog.Logger
	// keys serializes, per key, an upload's final step with Delete, so that
	// an upload never lands after the delete of its key.
	keys [64]sync.Mutex
	// lastSweep is when Delete last swept tombstones (Unix seconds).
	lastSweep atomic.Int64

	// pinMu orders Delete after Pin: deletes hold it shared, Pin and
	// Close of a pin exclusively, so that a delete either finished before a
	// pin began or keeps its object for that pin.
	pinMu sync.RWMutex
	pins  map[*Pin]struct{}
}

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock used to sign and to check expiry (default
// time.Now).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithLogger sets where the handler logs I/O failures (default: nowhere). It
// logs object keys and errors, never URLs or signatures.
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// New returns a store keeping objects under root (created, mode 0700, if
// absent) and signing URLs under baseURL, the absolute URL at which the
// Handler is mounted (e.g. http://127.0.0.1:8080/blobs). secret is the HMAC
// key, at least 32 bytes; the store keeps a copy.
func New(root, baseURL string, secret []byte, opts ...Option) (*Store, error) {
	if len(secret) < MinSecretSize {
		return nil, fmt.Errorf("new local blob store: secret has %d bytes, want at least %d", len(secret), MinSecretSize)
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("new local blob store: parse base url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.RawPath != "" {
		return nil, fmt.Errorf("new local blob store: base url %q must be an absolute http(s) url without user, query or fragment", baseURL)
	}
	path := strings.TrimSuffix(u.Path, "/")
	u.Path = path
	s := &Store{
		root:       root,
		objects:    filepath.Join(root, "objects"),
		tombstones: filepath.Join(root, "tombstones"),
		base:       u.String(),
		prefix:     path + "/",
		secret:     append([]byte(nil), secret...),
		now:        time.Now,
		log:        slog.New(slog.DiscardHandler),
		pins:       map[*Pin]struct{}{},
	}
	for _, o := range opts {
		o(s)
	}
	for _, dir := range []string{s.objects, s.tombstones} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("new local blob store: create directory: %w", err)
		}
	}
	s.removeStaleTemps()
	s.SweepTombstones()
	return s, nil
}

// removeStaleTemps removes temporary files left by uploads interrupted by a
// crash. Best effort: a failure only leaves garbage.
func (s *Store) removeStaleTemps() {
	matches, _ := filepath.Glob(filepath.Join(s.objects, "*", tempPrefix+"*"))
	top, _ := filepath.Glob(filepath.Join(s.objects, tempPrefix+"*"))
	for _, m := range append(matches, top...) {
		// File times are real time, whatever clock the store signs with.
		if fi, err := os.Lstat(m); err == nil && time.Since(fi.ModTime()) > staleAfter {
			_ = os.Remove(m)
		}
	}
}

// LoadOrCreateSecret returns the signing secret stored at path, creating the
// file (and its directory, mode 0700) with 32 random bytes and mode 0600 when
// it is absent. It refuses a file that group or others may access, and one
// shorter than 32 bytes.
func LoadOrCreateSecret(path string) ([]byte, error) {
	return secretfile.LoadOrCreate(path, "blob secret", MinSecretSize, MinSecretSize, 4096, "")
}

// ValidKey reports whether key is a key the store accepts.
func ValidKey(key string) bool {
	if key == "" || len(key) > MaxKeyLen {
		return false
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		for i := 0; i < len(seg); i++ {
			switch c := seg[i]; {
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			case c == '.', c == '_', c == '-', c == ':', c == '@':
			default:
				return false
			}
		}
	}
	return true
}

func checkKey(op, key string) error {
	if !ValidKey(key) {
		return core.ErrInvalid("%s: object key %q is malformed", op, key)
	}
	return nil
}

// expiry is now+ttl rounded down to the second: a URL never outlives the ttl
// it was granted.
func (s *Store) expiry(ttl time.Duration) int64 { return s.now().Add(ttl).Unix() }

// PresignPut returns a PUT of exactly size bytes with the given SHA-256 and
// content type to key. The client must send the returned headers,
// Content-Type and x-amz-checksum-sha256, and may send If-None-Match: *, as
// for S3. The upload is refused once the key holds an object or was deleted.
func (s *Store) PresignPut(_ context.Context, key string, size int64, sum []byte, contentType string, ttl time.Duration) (core.Upload, error) {
	const op = "presign upload"
	if err := checkKey(op, key); err != nil {
		return core.Upload{}, err
	}
	if err := core.CheckPresignPut(op, key, size, sum, contentType, ttl); err != nil {
		return core.Upload{}, err
	}
	exp := s.expiry(ttl)
	sumHex := hex.EncodeToString(sum)
	q := url.Values{
		ParamExpires: {strconv.FormatInt(exp, 10)},
		ParamLength:  {strconv.FormatInt(size, 10)},
		ParamSHA256:  {sumHex},
	}
	q.Set(ParamSignature, s.sign(http.MethodPut, key, exp, size, sumHex, contentType))
	return core.Upload{
		Method: http.MethodPut,
		URL:    s.base + "/" + key + "?" + q.Encode(),
		Headers: map[string]string{
			"Content-Type": contentType,
			ChecksumHeader: base64.StdEncoding.EncodeToString(sum),
			// What S3 needs to write once; the handler writes once anyway.
			"If-None-Match": "*",
		},
		ExpiresAt: time.Unix(exp, 0).UTC(),
	}, nil
}

// PresignGet returns a GET of key. It does not check that the object exists.
func (s *Store) PresignGet(_ context.Context, key string, ttl time.Duration) (core.SignedURL, error) {
	const op = "presign download"
	if err := checkKey(op, key); err != nil {
		return core.SignedURL{}, err
	}
	if err := core.CheckURLTTL(op, ttl); err != nil {
		return core.SignedURL{}, err
	}
	exp := s.expiry(ttl)
	q := url.Values{ParamExpires: {strconv.FormatInt(exp, 10)}}
	q.Set(ParamSignature, s.sign(http.MethodGet, key, exp, 0, "", ""))
	return core.SignedURL{
		URL:       s.base + "/" + key + "?" + q.Encode(),
		ExpiresAt: time.Unix(exp, 0).UTC(),
	}, nil
}

// sign returns the hex HMAC of the request's canonical fields; length, sumHex
// and contentType are signed for PUT only.
func (s *Store) sign(method, key string, exp, length int64, sumHex, contentType string) string {
	fields := []string{"medshare-blob-v1", method, key, strconv.FormatInt(exp, 10)}
	if method == http.MethodPut {
		fields = append(fields, strconv.FormatInt(length, 10), sumHex, contentType)
	}
	m := hmac.New(sha256.New, s.secret)
	var n [4]byte
	for _, f := range fields {
		binary.BigEndian.PutUint32(n[:], uint32(len(f)))
		m.Write(n[:])
		m.Write([]byte(f))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// path returns the file of key.
func (s *Store) path(key string) string { return hashedPath(s.objects, key) }

// tombstonePath returns the tombstone file of key.
func (s *Store) tombstonePath(key string) string { return hashedPath(s.tombstones, key) }

func hashedPath(dir, key string) string {
	h := sha256.Sum256([]byte(key))
	name := hex.EncodeToString(h[:])
	return filepath.Join(dir, name[:2], name)
}

// lock returns the mutex of key's stripe, chosen by the first byte of the
// key's hash, which is also the directory of its files: a sweep, which
// knows files and not keys, takes the same mutex.
func (s *Store) lock(key string) *sync.Mutex {
	h := sha256.Sum256([]byte(key))
	return &s.keys[int(h[0])%len(s.keys)]
}

// deleted reports whether key has a tombstone.
func (s *Store) deleted(key string) (bool, error) {
	_, err := os.Lstat(s.tombstonePath(key))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// openObject opens the object at key and reads its header. It returns the
// content type and the offset of the object's bytes; fs.ErrNotExist when there
// is no object.
func (s *Store) openObject(key string) (f *os.File, contentType string, offset int64, err error) {
	// A tombstone wins over an object that a crash during Delete left.
	if gone, err := s.deleted(key); err != nil || gone {
		if err == nil {
			err = fs.ErrNotExist
		}
		return nil, "", 0, err
	}
	f, err = os.Open(s.path(key))
	if err != nil {
		return nil, "", 0, err
	}
	var hdr [len(magic) + 2]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil || string(hdr[:len(magic)]) != magic {
		f.Close()
		return nil, "", 0, fmt.Errorf("object %s has no valid header", key)
	}
	ct := make([]byte, binary.BigEndian.Uint16(hdr[len(magic):]))
	if _, err := io.ReadFull(f, ct); err != nil {
		f.Close()
		return nil, "", 0, fmt.Errorf("object %s has a truncated header", key)
	}
	return f, string(ct), int64(len(hdr) + len(ct)), nil
}

// Stat reads the object at key and returns its size and SHA-256, as they are on
// disk now.
func (s *Store) Stat(_ context.Context, key string) (core.BlobInfo, error) {
	if err := checkKey("stat object", key); err != nil {
		return core.BlobInfo{}, err
	}
	f, _, _, err := s.openObject(key)
	if errors.Is(err, fs.ErrNotExist) {
		return core.BlobInfo{}, core.ErrNotFound("object %s not found", key)
	}
	if err != nil {
		return core.BlobInfo{}, core.ErrUnavailable(err, "stat object %s", key)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return core.BlobInfo{}, core.ErrUnavailable(err, "read object %s", key)
	}
	return core.BlobInfo{Size: n, SHA256: h.Sum(nil)}, nil
}

// Delete removes the object at key and refuses every later upload to it,
// with a URL signed before or after, for TombstoneTTL; an absent object is
// not an error. While a Pin is open, the object is first kept for it (see
// Pin). The tombstone is written first, so that a failure between
// the two steps leaves a key that reads as absent, and a retry removes the
// object.
func (s *Store) Delete(_ context.Context, key string) error {
	if err := checkKey("delete object", key); err != nil {
		return err
	}
	s.pinMu.RLock()
	defer s.pinMu.RUnlock()
	mu := s.lock(key)
	mu.Lock()
	err := s.writeTombstone(key)
	for p := range s.pins {
		if err != nil {
			break
		}
		// Refuse the delete rather than lose an object a backup needs; the
		// tombstone already hides the key, and the client's retry removes it.
		if kerr := p.keep(s.path(key)); kerr != nil {
			mu.Unlock()
			return core.ErrUnavailable(kerr, "keep object %s for a backup", key)
		}
	}
	if err == nil {
		if rerr := os.Remove(s.path(key)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = rerr
		}
	}
	mu.Unlock()
	if err != nil {
		return core.ErrUnavailable(err, "delete object %s", key)
	}
	now, last := s.now().Unix(), s.lastSweep.Load()
	if now-last >= int64(sweepEvery/time.Second) && s.lastSweep.CompareAndSwap(last, now) {
		s.SweepTombstones()
	}
	return nil
}

// writeTombstone records, durably, that key was deleted now. A tombstone
// that exists is rewritten with the new time, which only keeps it longer.
func (s *Store) writeTombstone(key string) error {
	final := s.tombstonePath(key)
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return err
	}
	_, werr := f.WriteString(strconv.FormatInt(s.now().Unix(), 10))
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), final); err != nil {
		os.Remove(f.Name())
		return err
	}
	return syncDir(dir)
}

// SweepTombstones removes the tombstones older than TombstoneTTL: no URL
// the store signed before their delete is still valid. Best effort: a
// tombstone that cannot be read or removed stays, and refuses uploads a
// little longer.
func (s *Store) SweepTombstones() {
	now := s.now()
	s.lastSweep.Store(now.Unix())
	dirs, _ := os.ReadDir(s.tombstones)
	for _, d := range dirs {
		stripe, err := hex.DecodeString(d.Name())
		if !d.IsDir() || err != nil || len(stripe) != 1 {
			continue
		}
		mu := &s.keys[int(stripe[0])%len(s.keys)]
		dir := filepath.Join(s.tombstones, d.Name())
		files, _ := os.ReadDir(dir)
		for _, f := range files {
			path := filepath.Join(dir, f.Name())
			if strings.HasPrefix(f.Name(), tempPrefix) {
				if fi, err := f.Info(); err == nil && time.Since(fi.ModTime()) > staleAfter {
					_ = os.Remove(path)
				}
				continue
			}
			// Under the key's mutex, so that a Delete that renews this
			// tombstone is not undone.
			mu.Lock()
			if b, err := os.ReadFile(path); err == nil {
				at, err := strconv.ParseInt(string(b), 10, 64)
				if err == nil && now.Sub(time.Unix(at, 0)) > TombstoneTTL {
					_ = os.Remove(path)
				}
			}
			mu.Unlock()
		}
	}
}

// Ping checks that the object directory is writable by creating and removing
// a file in it.
func (s *Store) Ping(context.Context) error {
	f, err := os.CreateTemp(s.objects, tempPrefix+"ping-*")
	if err != nil {
		return core.ErrUnavailable(err, "blob directory is not writable")
	}
	name := f.Name()
	cerr := f.Close()
	if err := errors.Join(cerr, os.Remove(name)); err != nil {
		return core.ErrUnavailable(err, "blob directory is not writable")
	}
	return nil
}

// put writes an object atomically: a temporary file in the object's
// directory, synced, then linked into place if the key was never written or
// deleted (commit), then the directory synced. body is read up to length+1
// bytes; the object is kept only when exactly length bytes with SHA-256 sum
// arrived. On any failure nothing is left.
func (s *Store) put(key, contentType string, body io.Reader, length int64, sum []byte) *httpError {
	final := s.path(key)
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return s.internal("create object directory", key, err)
	}
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return s.internal("create temporary object", key, err)
	}
	committed := false
	defer func() {
		if !committed {
			f.Close()
			os.Remove(f.Name())
		}
	}()

	hdr := append([]byte(magic), 0, 0)
	binary.BigEndian.PutUint16(hdr[len(magic):], uint16(len(contentType)))
	hdr = append(hdr, contentType...)
	if _, err := f.Write(hdr); err != nil {
		return s.internal("write object header", key, err)
	}
	h := sha256.New()
	fw := &fileWriter{f: f}
	n, err := io.Copy(io.MultiWriter(fw, h), io.LimitReader(body, length+1))
	switch {
	case fw.err != nil:
		return s.internal("write object", key, fw.err)
	case err != nil:
		return &httpError{http.StatusBadRequest, core.CodeInvalid, "the upload's body could not be read in full"}
	case n > length:
		return &httpError{http.StatusRequestEntityTooLarge, core.CodePayloadTooLarge, "the body is longer than the signed length"}
	case n < length:
		return &httpError{http.StatusBadRequest, core.CodeInvalid, "the body is shorter than the signed length"}
	case !hmac.Equal(h.Sum(nil), sum):
		return &httpError{http.StatusBadRequest, core.CodeInvalid, "the body's sha256 does not match the signed sha256"}
	}
	if err := f.Sync(); err != nil {
		return s.internal("sync object", key, err)
	}
	if err := f.Close(); err != nil {
		return s.internal("close object", key, err)
	}
	if herr := s.commit(key, f.Name(), final); herr != nil {
		return herr
	}
	committed = true
	// The object is linked in place; its temporary name goes.
	if err := os.Remove(f.Name()); err != nil {
		s.log.Warn("localblob: remove temporary object", "key", key, "err", err)
	}
	if err := syncDir(dir); err != nil {
		// The object is in place and readable; only its durability across a
		// crash is in doubt.
		s.log.Warn("localblob: sync object directory", "key", key, "err", err)
	}
	return nil
}

// errWritten refuses an upload to a key that holds an object or held one.
var errWritten = &httpError{http.StatusPreconditionFailed, core.CodeConflict, "the object exists or was deleted: an upload url writes once"}

// writable refuses early an upload that commit would refuse, before its body
// is read.
func (s *Store) writable(key string) *httpError {
	if gone, err := s.deleted(key); err != nil {
		return s.internal("check tombstone", key, err)
	} else if gone {
		return errWritten
	}
	if _, err := os.Lstat(s.path(key)); err == nil {
		return errWritten
	} else if !errors.Is(err, fs.ErrNotExist) {
		return s.internal("check object", key, err)
	}
	return nil
}

// commit moves the complete temporary file tmp to final, the object of key,
// unless key has a tombstone or an object: under the key's mutex, which
// Delete holds while it writes the tombstone, and with a hard link, which
// fails when final exists. The caller removes tmp.
func (s *Store) commit(key, tmp, final string) *httpError {
	mu := s.lock(key)
	mu.Lock()
	defer mu.Unlock()
	if gone, err := s.deleted(key); err != nil {
		return s.internal("check tombstone", key, err)
	} else if gone {
		return errWritten
	}
	if err := os.Link(tmp, final); errors.Is(err, fs.ErrExist) {
		return errWritten
	} else if err != nil {
		return s.internal("link object", key, err)
	}
	return nil
}

// fileWriter records write errors so that put can tell a failing disk from a
// failing client.
type fileWriter struct {
	f   *os.File
	err error
}

func (w *fileWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		w.err = err
	}
	return n, err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
