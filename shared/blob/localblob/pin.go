package localblob

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// pinPrefix names the directories of pins, beside {root}/objects.
const pinPrefix = ".pin-"

// Pin keeps every object that exists when it is made readable until it is
// closed, whatever is deleted meanwhile: a backup pins the objects, then
// snapshots the store, then copies the objects, and so finds every object
// the snapshot's records name.
//
// A delete while a pin is open first hard-links the object into the pin's
// directory (or copies it, where the file system has no hard links), so
// pinning costs nothing until something is deleted. Objects are never
// changed in place (an upload renames a new file over the old one), so a
// kept file is the object as it was.
type Pin struct {
	s   *Store
	dir string // {root}/.pin-<random>, on the objects' file system
}

// Pin starts a pin. Every Delete that returns after Pin returns keeps its
// object for the pin. Close it.
func (s *Store) Pin() (*Pin, error) {
	var b [8]byte
	rand.Read(b[:])
	dir := filepath.Join(s.root, pinPrefix+hex.EncodeToString(b[:]))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pin objects: %w", err)
	}
	p := &Pin{s: s, dir: dir}
	s.pinMu.Lock() // waits for deletes in progress: they finished before the pin
	s.pins[p] = struct{}{}
	s.pinMu.Unlock()
	return p, nil
}

// Close ends the pin and removes what it kept.
func (p *Pin) Close() error {
	p.s.pinMu.Lock()
	delete(p.s.pins, p)
	p.s.pinMu.Unlock()
	return os.RemoveAll(p.dir)
}

// keep links (or copies) the object file at path into the pin, under the
// same name relative to the objects directory. An absent object, or one
// already kept, is not an error.
func (p *Pin) keep(path string) error {
	rel, err := filepath.Rel(p.s.objects, path)
	if err != nil {
		return err
	}
	dst := filepath.Join(p.dir, rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	err = os.Link(path, dst)
	switch {
	case err == nil, errors.Is(err, fs.ErrExist), errors.Is(err, fs.ErrNotExist):
		return nil
	}
	return copyFile(path, dst)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	return out.Close()
}

// PinnedObject is one object file for a backup: its path relative to the
// store's root ("objects/ab/ab12…"), its size and the open file, to be read
// from the start.
type PinnedObject struct {
	Name string
	Size int64
	File *os.File
}

// Objects calls fn for every object that existed when the pin was made (and
// any made since), in a stable order, each with its file open. The file is
// closed when fn returns. Temporary files of uploads in progress are not
// objects.
func (p *Pin) Objects(fn func(PinnedObject) error) error {
	seen := map[string]bool{}
	visit := func(base string) error {
		return filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // a directory removed while walking
			}
			if err != nil {
				return err
			}
			if d.IsDir() || !d.Type().IsRegular() || strings.HasPrefix(d.Name(), tempPrefix) {
				return nil
			}
			rel, err := filepath.Rel(base, path)
			if err != nil {
				return err
			}
			if seen[rel] {
				return nil
			}
			// The live file, or the pin's copy of one deleted since it
			// was listed.
			f, err := os.Open(filepath.Join(p.s.objects, rel))
			if errors.Is(err, fs.ErrNotExist) {
				f, err = os.Open(filepath.Join(p.dir, rel))
			}
			if errors.Is(err, fs.ErrNotExist) {
				return nil // made and deleted after the pin: not needed
			}
			if err != nil {
				return err
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return err
			}
			seen[rel] = true
			return fn(PinnedObject{Name: filepath.ToSlash(filepath.Join("objects", rel)), Size: fi.Size(), File: f})
		})
	}
	if err := visit(p.s.objects); err != nil {
		return fmt.Errorf("walk objects: %w", err)
	}
	// Objects deleted before the walk reached them are only in the pin.
	if err := visit(p.dir); err != nil {
		return fmt.Errorf("walk pinned objects: %w", err)
	}
	return nil
}

// RemoveStalePins removes the directories of pins left by a process that
// stopped without closing them. Call it only while holding the data
// directory (the store's file lock), so that no live pin is removed.
func (s *Store) RemoveStalePins() error {
	dirs, err := filepath.Glob(filepath.Join(s.root, pinPrefix+"*"))
	if err != nil {
		return err
	}
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	live := map[string]bool{}
	for p := range s.pins {
		live[p.dir] = true
	}
	var errs []error
	for _, d := range dirs {
		if !live[d] {
			errs = append(errs, os.RemoveAll(d))
		}
	}
	return errors.Join(errs...)
}
