// Package backup is the archive format of a MedShare backup: one tar file
// whose last entry, MANIFEST.json, lists every other entry with its size and
// SHA-256. The writer hashes what it streams, so it never reads a file twice;
// the reader checks every entry against the manifest and refuses an archive
// that has a file the manifest does not list, lacks one it lists, or has a
// byte changed.
//
// The manifest protects against corruption and truncation, not against
// someone who can rewrite the archive (they can rewrite the manifest too):
// the archive holds the data directory's keys, so keep it as secret as the
// directory itself.
package backup

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Format names this version of the archive in its manifest.
const Format = "medshare-backup/1"

// ManifestName is the archive's last entry.
const ManifestName = "MANIFEST.json"

// maxManifestBytes bounds the manifest a reader accepts: about half a
// million files.
const maxManifestBytes = 64 << 20

// File is one entry of the archive.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // lowercase hex
}

// Manifest lists the archive's entries.
type Manifest struct {
	Format    string    `json:"format"`
	CreatedAt time.Time `json:"created_at"`
	Files     []File    `json:"files"`
}

// Bytes is the total size of the files.
func (m Manifest) Bytes() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// Writer writes an archive.
type Writer struct {
	tw       *tar.Writer
	manifest Manifest
	names    map[string]bool
	closed   bool
}

// NewWriter starts an archive on w, dated created.
func NewWriter(w io.Writer, created time.Time) *Writer {
	return &Writer{
		tw:       tar.NewWriter(w),
		manifest: Manifest{Format: Format, CreatedAt: created.UTC().Truncate(time.Second)},
		names:    map[string]bool{},
	}
}

// Add writes one file of exactly size bytes, which write writes to the
// writer it is given. name is a slash-separated relative path.
func (w *Writer) Add(name string, size int64, write func(io.Writer) error) error {
	if w.closed {
		return errors.New("backup: add to a closed archive")
	}
	if !ValidName(name) || name == ManifestName {
		return fmt.Errorf("backup: file name %q is not allowed in an archive", name)
	}
	if w.names[name] {
		return fmt.Errorf("backup: %s added twice", name)
	}
	w.names[name] = true
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Size:     size,
		Mode:     0o600,
		ModTime:  w.manifest.CreatedAt,
		Format:   tar.FormatPAX,
	}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("backup: %s: %w", name, err)
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(w.tw, h)}
	if err := write(cw); err != nil {
		return fmt.Errorf("backup: %s: %w", name, err)
	}
	if cw.n != size {
		return fmt.Errorf("backup: %s: wrote %d bytes, announced %d", name, cw.n, size)
	}
	w.manifest.Files = append(w.manifest.Files, File{Path: name, Size: size, SHA256: hex.EncodeToString(h.Sum(nil))})
	return nil
}

// AddFile adds the open file f (size bytes from its current offset).
func (w *Writer) AddFile(name string, f io.Reader, size int64) error {
	return w.Add(name, size, func(dst io.Writer) error {
		_, err := io.CopyN(dst, f, size)
		return err
	})
}

// Close writes the manifest and ends the archive. It does not close the
// underlying writer.
func (w *Writer) Close() (Manifest, error) {
	if w.closed {
		return Manifest{}, errors.New("backup: archive closed twice")
	}
	w.closed = true
	b, err := json.MarshalIndent(w.manifest, "", " ")
	if err != nil {
		return Manifest{}, err
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: ManifestName, Size: int64(len(b)), Mode: 0o600, ModTime: w.manifest.CreatedAt, Format: tar.FormatPAX}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return Manifest{}, fmt.Errorf("backup: manifest: %w", err)
	}
	if _, err := w.tw.Write(b); err != nil {
		return Manifest{}, fmt.Errorf("backup: manifest: %w", err)
	}
	if err := w.tw.Close(); err != nil {
		return Manifest{}, fmt.Errorf("backup: end the archive: %w", err)
	}
	return w.manifest, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ValidName reports whether name is a clean, relative, slash-separated path
// of plain segments: no "..", no ".", no empty segment, no leading slash, no
// backslash or NUL.
func ValidName(name string) bool {
	if name == "" || len(name) > 1024 || strings.ContainsAny(name, "\\\x00") || path.Clean(name) != name || path.IsAbs(name) {
		return false
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// ErrCorrupt is wrapped by every error about the archive's content.
var ErrCorrupt = errors.New("the archive is not a valid MedShare backup")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// Verify reads a whole archive and checks it against its manifest without
// writing anything. allowed, when not nil, must accept every file name.
func Verify(r io.Reader, allowed func(name string) bool) (Manifest, error) {
	return read(r, allowed, func(string, *tar.Header) (io.Writer, func() error, error) {
		return io.Discard, func() error { return nil }, nil
	})
}

// Extract reads an archive into dir, which must exist, checking every file
// against the manifest. Files are created with mode 0600 and directories
// with 0700, whatever the archive says. On an error, dir holds a part of the
// archive: the caller removes it.
func Extract(r io.Reader, dir string, allowed func(name string) bool) (Manifest, error) {
	return read(r, allowed, func(name string, _ *tar.Header) (io.Writer, func() error, error) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return nil, nil, err
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, nil, err
		}
		return f, func() error {
			if err := f.Sync(); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		}, nil
	})
}

// read checks the archive's structure and every file's hash; open gives
// where each file's bytes go.
func read(r io.Reader, allowed func(string) bool, open func(name string, h *tar.Header) (io.Writer, func() error, error)) (Manifest, error) {
	tr := tar.NewReader(r)
	seen := map[string]File{}
	var m *Manifest
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Manifest{}, corrupt("read: %v", err)
		}
		if m != nil {
			return Manifest{}, corrupt("%s follows the manifest", hdr.Name)
		}
		if hdr.Typeflag != tar.TypeReg {
			return Manifest{}, corrupt("%s is not a regular file", hdr.Name)
		}
		if hdr.Size < 0 {
			return Manifest{}, corrupt("%s has a negative size", hdr.Name)
		}
		if hdr.Name == ManifestName {
			if hdr.Size > maxManifestBytes {
				return Manifest{}, corrupt("the manifest is too large")
			}
			var mm Manifest
			dec := json.NewDecoder(io.LimitReader(tr, hdr.Size))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&mm); err != nil {
				return Manifest{}, corrupt("manifest: %v", err)
			}
			m = &mm
			continue
		}
		if !ValidName(hdr.Name) || (allowed != nil && !allowed(hdr.Name)) {
			return Manifest{}, corrupt("unexpected file %q", hdr.Name)
		}
		if _, dup := seen[hdr.Name]; dup {
			return Manifest{}, corrupt("%s appears twice", hdr.Name)
		}
		w, done, err := open(hdr.Name, hdr)
		if err != nil {
			return Manifest{}, fmt.Errorf("restore %s: %w", hdr.Name, err)
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(w, h), tr)
		if derr := done(); err == nil && derr != nil {
			return Manifest{}, fmt.Errorf("restore %s: %w", hdr.Name, derr)
		}
		if err != nil {
			return Manifest{}, corrupt("%s: %v", hdr.Name, err)
		}
		seen[hdr.Name] = File{Path: hdr.Name, Size: n, SHA256: hexSum(h)}
	}
	if m == nil {
		return Manifest{}, corrupt("no manifest: the archive is truncated or not a backup")
	}
	if m.Format != Format {
		return Manifest{}, corrupt("format %q, want %q", m.Format, Format)
	}
	if len(m.Files) != len(seen) {
		return Manifest{}, corrupt("the manifest lists %d files, the archive holds %d", len(m.Files), len(seen))
	}
	listed := map[string]bool{}
	for _, f := range m.Files {
		if listed[f.Path] {
			return Manifest{}, corrupt("the manifest lists %s twice", f.Path)
		}
		listed[f.Path] = true
		got, ok := seen[f.Path]
		switch {
		case !ok:
			return Manifest{}, corrupt("%s is listed but missing", f.Path)
		case got.Size != f.Size:
			return Manifest{}, corrupt("%s has %d bytes, the manifest says %d", f.Path, got.Size, f.Size)
		case got.SHA256 != f.SHA256:
			return Manifest{}, corrupt("%s does not match its SHA-256 in the manifest", f.Path)
		}
	}
	return *m, nil
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }
