package localblob_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/blob/localblob"
)

// pinned reads every object a pin lists, as name → file bytes (header
// included: a backup copies files as they are).
func pinned(t *testing.T, p *localblob.Pin) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := p.Objects(func(o localblob.PinnedObject) error {
		if _, dup := out[o.Name]; dup {
			return fmt.Errorf("%s listed twice", o.Name)
		}
		b, err := io.ReadAll(o.File)
		if err != nil {
			return err
		}
		if int64(len(b)) != o.Size {
			return fmt.Errorf("%s: size %d, read %d", o.Name, o.Size, len(b))
		}
		out[o.Name] = b
		return nil
	})
	if err != nil {
		t.Fatalf("Objects: %v", err)
	}
	return out
}

// objectFiles is every object file under root, as pinned names them.
func objectFiles(t *testing.T, root string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	matches, _ := filepath.Glob(filepath.Join(root, "objects", "*", "*"))
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, m)
		out[filepath.ToSlash(rel)] = b
	}
	return out
}

// TestPinKeepsDeletedObjects: what existed when the pin was made is listed
// after it is deleted; what was deleted before is not; the pin leaves
// nothing behind.
func TestPinKeepsDeletedObjects(t *testing.T) {
	ctx := context.Background()
	s, _, root := newStore(t)
	for _, k := range []string{"a/1", "a/2", "gone-before"} {
		upload(t, s, k, []byte("bytes of "+k))
	}
	if err := s.Delete(ctx, "gone-before"); err != nil {
		t.Fatal(err)
	}
	before := objectFiles(t, root)
	p, err := s.Pin()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "a/1"); err != nil {
		t.Fatalf("delete while pinned: %v", err)
	}
	if err := s.Delete(ctx, "a/1"); err != nil { // twice: idempotent still
		t.Fatalf("second delete while pinned: %v", err)
	}
	upload(t, s, "a/3", []byte("made after the pin"))
	got := pinned(t, p)
	want := objectFiles(t, root) // a/2 and a/3
	for k, v := range before {   // and a/1, deleted since
		want[k] = v
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pinned objects (-want +got):\n%s", diff)
	}
	if len(got) != 3 {
		t.Errorf("pinned %d objects, want 3 (a/1, a/2, a/3)", len(got))
	}
	if _, err := s.Stat(ctx, "a/1"); err == nil {
		t.Errorf("a/1 is still in the store after its delete")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(root, ".pin-*")); len(m) != 0 {
		t.Errorf("pin directories left: %v", m)
	}
}

// TestPinUnderConcurrentDeletes: goroutines delete every object while a pin
// is made and read: every object that existed at the pin is listed exactly
// once, with its bytes, whatever the interleaving.
func TestPinUnderConcurrentDeletes(t *testing.T) {
	ctx := context.Background()
	s, _, root := newStore(t)
	const n = 60
	for i := range n {
		upload(t, s, fmt.Sprint("k/", i), []byte(fmt.Sprint("object ", i)))
	}
	all := objectFiles(t, root)
	p, err := s.Pin()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 6 {
				if err := s.Delete(ctx, fmt.Sprint("k/", i)); err != nil {
					t.Errorf("delete: %v", err)
				}
			}
		}()
	}
	got := pinned(t, p) // while the deletes run
	wg.Wait()
	if diff := cmp.Diff(all, got); diff != "" {
		t.Errorf("pinned objects (-want +got):\n%s", diff)
	}
	if left := objectFiles(t, root); len(left) != 0 {
		t.Errorf("%d objects left after the deletes", len(left))
	}
}

// TestRemoveStalePins: a pin left by a crashed process is removed, a live
// one is not.
func TestRemoveStalePins(t *testing.T) {
	s, _, root := newStore(t)
	stale := filepath.Join(root, ".pin-deadbeef")
	if err := os.MkdirAll(filepath.Join(stale, "ab"), 0o700); err != nil {
		t.Fatal(err)
	}
	live, err := s.Pin()
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if err := s.RemoveStalePins(); err != nil {
		t.Fatal(err)
	}
	m, _ := filepath.Glob(filepath.Join(root, ".pin-*"))
	if len(m) != 1 || m[0] == stale {
		t.Errorf("pins left: %v, want only the live one", m)
	}
}
