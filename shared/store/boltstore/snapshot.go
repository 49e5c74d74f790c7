package boltstore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	bolt "go.etcd.io/bbolt"

	"github.com/medshare/medshare/shared/core"
)

// Snapshot is the whole store as of one moment, for a backup while the
// store is in use: a read transaction, which sees every write committed
// before it began and none after.
//
// Close it as soon as it is written: while it is open, bbolt cannot reuse the
// pages that later writes free, and a write that must grow the file waits for
// it.
type Snapshot struct {
	tx *bolt.Tx
}

// Snapshot begins a snapshot.
func (s *Store) Snapshot() (*Snapshot, error) {
	tx, err := s.db.Begin(false)
	if err != nil {
		return nil, core.ErrUnavailable(err, "begin store snapshot")
	}
	return &Snapshot{tx: tx}, nil
}

// Size is the number of bytes WriteTo writes.
func (sn *Snapshot) Size() int64 { return sn.tx.Size() }

// WriteTo writes the snapshot as a complete bbolt file.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	n, err := sn.tx.WriteTo(w)
	if err != nil {
		return n, fmt.Errorf("write store snapshot: %w", err)
	}
	return n, nil
}

// Close ends the snapshot.
func (sn *Snapshot) Close() error { return sn.tx.Rollback() }

// CheckFile opens the bbolt file at path read-only (failing after
// OpenTimeout when a process holds it) and checks its structure: every page
// reachable once, and the buckets of a store. It writes nothing.
func CheckFile(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: OpenTimeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return core.ErrUnavailable(err, "check store %s: another process holds it", path)
	}
	if err != nil {
		return fmt.Errorf("check store %s: %w", path, err)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() { // drained: the checker stops when it is done
			if first == nil {
				first = err
			}
		}
		if first != nil {
			return fmt.Errorf("check store %s: %w", path, first)
		}
		for _, name := range append(buckets, jobBuckets...) {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("check store %s: bucket %s is missing", path, name)
			}
		}
		return nil
	})
}

// InUse reports whether another process holds the bbolt file at path (a
// running server). A file that does not exist is not in use.
func InUse(path string) (bool, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: OpenTimeout / 4})
	switch {
	case errors.Is(err, bolt.ErrTimeout):
		return true, nil
	case err != nil:
		return false, err
	}
	return false, db.Close()
}
