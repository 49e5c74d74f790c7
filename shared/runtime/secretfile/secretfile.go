// Package secretfile keeps a random secret in a file that only its owner may
// read: created once with mode 0600 (its directory 0700), refused when group
// or others may access it. The local key ring's master key and the blob
// store's signing key are such files.
package secretfile

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// LoadOrCreate returns the secret stored at path, creating the file with size
// random bytes when it is absent. A file that exists must be a regular file
// of min to max bytes that only its owner can access; what names the secret
// in errors, and hint is added to a wrong-size error.
func LoadOrCreate(path, what string, size, min, max int, hint string) ([]byte, error) {
	b, err := Load(path, what, min, max, hint)
	if !errors.Is(err, fs.ErrNotExist) {
		return b, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create directory of %s %s: %w", what, path, err)
	}
	secret := make([]byte, size)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("generate %s: %w", what, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		clear(secret)
		return Load(path, what, min, max, hint) // another process created it first
	}
	if err != nil {
		clear(secret)
		return nil, fmt.Errorf("create %s %s: %w", what, path, err)
	}
	_, werr := f.Write(secret)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		clear(secret)
		_ = os.Remove(path)
		return nil, fmt.Errorf("write %s %s: %w", what, path, werr)
	}
	return secret, nil
}

// Load reads the secret at path with the checks of LoadOrCreate. A missing
// file is an error that wraps fs.ErrNotExist.
func Load(path, what string, min, max int, hint string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s %s: %w", what, path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s %s: %w", what, path, err)
	}
	switch {
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%s %s is not a regular file", what, path)
	case fi.Mode().Perm()&0o077 != 0:
		return nil, fmt.Errorf("%s %s is accessible by group or others (mode %04o); run chmod 600 %s", what, path, fi.Mode().Perm(), path)
	case fi.Size() < int64(min) || fi.Size() > int64(max):
		want := fmt.Sprintf("%d to %d", min, max)
		if min == max {
			want = fmt.Sprint(min)
		}
		return nil, fmt.Errorf("%s %s has %d bytes, want %s%s", what, path, fi.Size(), want, hint)
	}
	b, err := io.ReadAll(io.LimitReader(f, int64(max)))
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", what, path, err)
	}
	return b, nil
}
