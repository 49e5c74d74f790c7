package backup

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var created = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// archive writes files (name → content) in order.
func archive(t *testing.T, files [][2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf, created)
	for _, f := range files {
		if err := w.AddFile(f[0], strings.NewReader(f[1]), int64(len(f[1]))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var sample = [][2]string{
	{"medshare.db", "the store"},
	{"master.key", strings.Repeat("k", 32)},
	{"blobs/objects/ab/abcd", "ciphertext"},
	{"empty", ""},
}

func TestRoundTrip(t *testing.T) {
	data := archive(t, sample)
	dir := t.TempDir()
	m, err := Extract(bytes.NewReader(data), dir, nil)
	if err != nil {
		t.Fatalf("extract: %v", err)
	}
	if m.Format != Format || !m.CreatedAt.Equal(created) || len(m.Files) != len(sample) {
		t.Errorf("manifest = %+v", m)
	}
	for _, f := range sample {
		p := filepath.Join(dir, filepath.FromSlash(f[0]))
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != f[1] {
			t.Errorf("%s = %q, want %q", f[0], got, f[1])
		}
		fi, _ := os.Stat(p)
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f[0], fi.Mode().Perm())
		}
	}
	fi, _ := os.Stat(filepath.Join(dir, "blobs", "objects"))
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, want 0700", fi.Mode().Perm())
	}
	vm, err := Verify(bytes.NewReader(data), nil)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if diff := cmp.Diff(m, vm); diff != "" {
		t.Errorf("Verify and Extract disagree (-extract +verify):\n%s", diff)
	}
	if got, want := m.Bytes(), int64(9+32+10); got != want {
		t.Errorf("Bytes = %d, want %d", got, want)
	}
}

// rawTar writes a tar by hand, for archives the Writer would never make.
func rawTar(t *testing.T, entries []tar.Header, bodies []string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i, h := range entries {
		h.Size = int64(len(bodies[i]))
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			io.WriteString(tw, bodies[i])
		}
	}
	tw.Close()
	return buf.Bytes()
}

// manifestOf is the manifest the Writer would write for files.
func manifestOf(t *testing.T, files [][2]string) string {
	t.Helper()
	data := archive(t, files)
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == ManifestName {
			b, _ := io.ReadAll(tr)
			return string(b)
		}
	}
}

func TestRefusesBadArchives(t *testing.T) {
	good := archive(t, sample)
	flip := func(b []byte, needle string) []byte {
		c := bytes.Clone(b)
		i := bytes.Index(c, []byte(needle))
		if i < 0 {
			t.Fatalf("%q not in archive", needle)
		}
		c[i] ^= 1
		return c
	}
	man := manifestOf(t, [][2]string{{"a", "x"}})
	for _, c := range []struct {
		name    string
		data    []byte
		allowed func(string) bool
		want    string
	}{
		{"a changed byte", flip(good, "ciphertext"), nil, "does not match its SHA-256"},
		{"truncated before the manifest", good[:len(good)/2], nil, ""},
		{"cut after the files", good[:bytes.Index(good, []byte(`"format"`))-512], nil, ""},
		{"empty", nil, nil, "no manifest"},
		{"not a tar", []byte("hello, this is not an archive at all, just text that goes on and on and on for a while"), nil, ""},
		{"a file the manifest does not list", rawTar(t, []tar.Header{{Name: "a"}, {Name: "b"}, {Name: ManifestName}}, []string{"x", "y", man}), nil, "lists 1 files, the archive holds 2"},
		{"a listed file missing", rawTar(t, []tar.Header{{Name: "b"}, {Name: ManifestName}}, []string{"x", man}), nil, "a is listed but missing"},
		{"a file after the manifest", rawTar(t, []tar.Header{{Name: "a"}, {Name: ManifestName}, {Name: "c"}}, []string{"x", man, "z"}), nil, "follows the manifest"},
		{"a path that climbs out", rawTar(t, []tar.Header{{Name: "../evil"}, {Name: ManifestName}}, []string{"x", man}), nil, "unexpected file"},
		{"an absolute path", rawTar(t, []tar.Header{{Name: "/etc/passwd"}, {Name: ManifestName}}, []string{"x", man}), nil, "unexpected file"},
		{"a symbolic link", rawTar(t, []tar.Header{{Name: "a", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}, {Name: ManifestName}}, []string{"", man}), nil, "not a regular file"},
		{"a directory entry", rawTar(t, []tar.Header{{Name: "d/", Typeflag: tar.TypeDir}, {Name: ManifestName}}, []string{"", man}), nil, "not a regular file"},
		{"a file twice", rawTar(t, []tar.Header{{Name: "a"}, {Name: "a"}, {Name: ManifestName}}, []string{"x", "x", man}), nil, "appears twice"},
		{"another format", rawTar(t, []tar.Header{{Name: "a"}, {Name: ManifestName}}, []string{"x", strings.Replace(man, Format, "medshare-backup/0", 1)}), nil, "format"},
		{"a name the caller does not allow", good, func(n string) bool { return n != "master.key" }, `unexpected file "master.key"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Extract(bytes.NewReader(c.data), dir, c.allowed)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Extract = %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("Extract = %v, want it to mention %q", err, c.want)
			}
			if _, err := Verify(bytes.NewReader(c.data), c.allowed); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Verify = %v, want ErrCorrupt", err)
			}
			if _, err := os.Lstat(filepath.Join(filepath.Dir(dir), "evil")); err == nil {
				t.Errorf("a file was written outside the directory")
			}
		})
	}
}

func TestWriterRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		do   func(w *Writer) error
	}{
		{"a short file", func(w *Writer) error { return w.AddFile("a", strings.NewReader("abc"), 4) }},
		{"a long file", func(w *Writer) error {
			return w.Add("a", 2, func(d io.Writer) error { _, err := io.WriteString(d, "abc"); return err })
		}},
		{"a name that climbs out", func(w *Writer) error { return w.AddFile("../a", strings.NewReader(""), 0) }},
		{"the manifest's name", func(w *Writer) error { return w.AddFile(ManifestName, strings.NewReader(""), 0) }},
		{"a name twice", func(w *Writer) error {
			if err := w.AddFile("a", strings.NewReader(""), 0); err != nil {
				return nil
			}
			return w.AddFile("a", strings.NewReader(""), 0)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.do(NewWriter(io.Discard, created)); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestValidName(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"medshare.db", true},
		{"blobs/objects/ab/abcdef", true},
		{"", false},
		{"/abs", false},
		{"a/../b", false},
		{"a//b", false},
		{"./a", false},
		{"a/", false},
		{`a\b`, false},
		{"a\x00b", false},
	} {
		if got := ValidName(c.name); got != c.ok {
			t.Errorf("ValidName(%q) = %v, want %v", c.name, got, c.ok)
		}
	}
}
