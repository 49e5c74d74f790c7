// Package keyringtest is the contract suite for core.KeyRing. Every
// implementation runs it: the local key ring in every go test, the KMS adapter
// against the emulator.
package keyringtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/medshare/medshare/shared/core"
)

// Run runs the contract suite. newRing is called once per subtest and must
// return a ring that is ready to use; rings returned by different calls may
// share their master key (a KMS key) or not.
func Run(t *testing.T, newRing func(t *testing.T) core.KeyRing) {
	t.Helper()
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, newRing(t)) })
	t.Run("CiphertextHidesPlaintext", func(t *testing.T) { testHidesPlaintext(t, newRing(t)) })
	t.Run("WrongContext", func(t *testing.T) { testWrongContext(t, newRing(t)) })
	t.Run("UnambiguousContext", func(t *testing.T) { testUnambiguousContext(t, newRing(t)) })
	t.Run("TamperedCiphertext", func(t *testing.T) { testTampered(t, newRing(t)) })
	t.Run("Randomized", func(t *testing.T) { testRandomized(t, newRing(t)) })
	t.Run("ContextOrderIndependent", func(t *testing.T) { testOrderIndependent(t, newRing(t)) })
	t.Run("Ping", func(t *testing.T) {
		if err := newRing(t).Ping(context.Background()); err != nil {
			t.Fatalf("Ping() = %v, want nil", err)
		}
	})
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, newRing(t)) })
}

func dataKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatalf("read random data key: %v", err)
	}
	return k
}

func photoContext() map[string]string {
	return map[string]string{"photo": "ph_aaaaaaaaaaaaaaaaaaaaaaaaaa", "owner": "patient-1"}
}

func wrap(t *testing.T, r core.KeyRing, key []byte, encCtx map[string]string) core.WrappedKey {
	t.Helper()
	in := bytes.Clone(key)
	w, err := r.Wrap(context.Background(), in, encCtx)
	if err != nil {
		t.Fatalf("Wrap(context %v) = %v, want nil error", encCtx, err)
	}
	if !bytes.Equal(in, key) {
		t.Fatalf("Wrap modified the plaintext it was given")
	}
	if w.KeyID == "" {
		t.Errorf("Wrap returned an empty KeyID")
	}
	if len(w.Ciphertext) == 0 {
		t.Fatalf("Wrap returned an empty ciphertext")
	}
	return w
}

func testRoundTrip(t *testing.T, r core.KeyRing) {
	key := dataKey(t)
	encCtx := photoContext()
	w := wrap(t, r, key, encCtx)
	got, err := r.Unwrap(context.Background(), w, encCtx)
	if err != nil {
		t.Fatalf("Unwrap(same context) = %v, want nil error", err)
	}
	if !bytes.Equal(got, key) {
		t.Fatalf("Unwrap returned a different key (%d bytes, want the 32 wrapped bytes)", len(got))
	}

	// The empty context is a context too: it round-trips, and adding a
	// pair afterwards fails.
	w = wrap(t, r, key, nil)
	if got, err := r.Unwrap(context.Background(), w, map[string]string{}); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("Unwrap(empty context) of a key wrapped under the empty context: err = %v, key returned = %t", err, got != nil)
	}
	checkUnwrapFails(t, r, w, map[string]string{"photo": "x"})
}

func testHidesPlaintext(t *testing.T, r core.KeyRing) {
	key := dataKey(t)
	w := wrap(t, r, key, photoContext())
	if bytes.Contains(w.Ciphertext, key) {
		t.Errorf("wrapped ciphertext contains the plaintext key")
	}
	if bytes.Contains([]byte(w.KeyID), key) || bytes.Contains([]byte(w.KeyID), fmt.Appendf(nil, "%x", key)) {
		t.Errorf("KeyID contains the plaintext key")
	}
}

// checkUnwrapFails asserts that Unwrap fails with KindInternal and returns no
// key material.
func checkUnwrapFails(t *testing.T, r core.KeyRing, w core.WrappedKey, encCtx map[string]string) {
	t.Helper()
	got, err := r.Unwrap(context.Background(), w, encCtx)
	if err == nil {
		t.Fatalf("Unwrap(context %v) succeeded, want an error", encCtx)
	}
	if k := core.KindOf(err); k != core.KindInternal {
		t.Errorf("Unwrap(context %v) error kind = %v, want KindInternal (%v)", encCtx, k, err)
	}
	if len(got) != 0 {
		t.Errorf("Unwrap(context %v) failed but returned %d bytes, want none", encCtx, len(got))
	}
}

func testWrongContext(t *testing.T, r core.KeyRing) {
	key := dataKey(t)
	w := wrap(t, r, key, photoContext())
	tests := []struct {
		name   string
		encCtx map[string]string
	}{
		{"other photo", map[string]string{"photo": "ph_bbbbbbbbbbbbbbbbbbbbbbbbbb", "owner": "patient-1"}},
		{"other owner", map[string]string{"photo": "ph_aaaaaaaaaaaaaaaaaaaaaaaaaa", "owner": "patient-2"}},
		{"extra pair", map[string]string{"photo": "ph_aaaaaaaaaaaaaaaaaaaaaaaaaa", "owner": "patient-1", "purpose": "x"}},
		{"missing pair", map[string]string{"photo": "ph_aaaaaaaaaaaaaaaaaaaaaaaaaa"}},
		{"swapped values", map[string]string{"photo": "patient-1", "owner": "ph_aaaaaaaaaaaaaaaaaaaaaaaaaa"}},
		{"empty map", map[string]string{}},
		{"nil map", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkUnwrapFails(t, r, w, tt.encCtx) })
	}
}

// testUnambiguousContext checks that the context is encoded so that different
// contexts never collide (no naive concatenation of keys and values). Keys and
// values are never empty here: KMS rejects empty ones.
func testUnambiguousContext(t *testing.T, r core.KeyRing) {
	tests := []struct {
		name      string
		wrapCtx   map[string]string
		unwrapCtx map[string]string
	}{
		{"key value boundary", map[string]string{"a": "bc"}, map[string]string{"ab": "c"}},
		{"pair boundary", map[string]string{"a": "b", "c": "d"}, map[string]string{"ab": "cd"}},
		{"separator inside value", map[string]string{"a": "b=c"}, map[string]string{"a=b": "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := wrap(t, r, dataKey(t), tt.wrapCtx)
			checkUnwrapFails(t, r, w, tt.unwrapCtx)
		})
	}
}

func testTampered(t *testing.T, r core.KeyRing) {
	encCtx := photoContext()
	w := wrap(t, r, dataKey(t), encCtx)
	n := len(w.Ciphertext)
	for _, i := range []int{0, n / 2, n - 1} {
		t.Run(fmt.Sprintf("flip byte %d", i), func(t *testing.T) {
			ct := bytes.Clone(w.Ciphertext)
			ct[i] ^= 0x01
			checkUnwrapFails(t, r, core.WrappedKey{KeyID: w.KeyID, Ciphertext: ct}, encCtx)
		})
	}
	t.Run("truncated", func(t *testing.T) {
		checkUnwrapFails(t, r, core.WrappedKey{KeyID: w.KeyID, Ciphertext: bytes.Clone(w.Ciphertext[:n-1])}, encCtx)
	})
	t.Run("empty", func(t *testing.T) {
		checkUnwrapFails(t, r, core.WrappedKey{KeyID: w.KeyID}, encCtx)
	})
}

func testRandomized(t *testing.T, r core.KeyRing) {
	key := dataKey(t)
	encCtx := photoContext()
	a := wrap(t, r, key, encCtx)
	b := wrap(t, r, key, encCtx)
	if bytes.Equal(a.Ciphertext, b.Ciphertext) {
		t.Fatalf("two wraps of the same key under the same context are equal; want randomized wrapping")
	}
	for i, w := range []core.WrappedKey{a, b} {
		got, err := r.Unwrap(context.Background(), w, encCtx)
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("Unwrap(wrap #%d): err = %v, same key = %t", i, err, bytes.Equal(got, key))
		}
	}
}

func testOrderIndependent(t *testing.T, r core.KeyRing) {
	// Enough pairs that Go's randomized map iteration visits them in a
	// different order on practically every range.
	const pairs = 16
	names := make([]string, pairs)
	for i := range names {
		names[i] = "k" + strconv.Itoa(i)
	}
	build := func(reverse bool) map[string]string {
		m := make(map[string]string, pairs)
		for i := range names {
			j := i
			if reverse {
				j = pairs - 1 - i
			}
			m[names[j]] = "v" + strconv.Itoa(j)
		}
		return m
	}
	key := dataKey(t)
	w := wrap(t, r, key, build(false))
	for i := range 10 {
		got, err := r.Unwrap(context.Background(), w, build(i%2 == 1))
		if err != nil {
			t.Fatalf("Unwrap with the same context built in another order (try %d) = %v, want nil", i, err)
		}
		if !bytes.Equal(got, key) {
			t.Fatalf("Unwrap with the same context built in another order (try %d) returned another key", i)
		}
	}
}

func testConcurrent(t *testing.T, r core.KeyRing) {
	const workers = 50
	shared := dataKey(t)
	sharedCtx := photoContext()
	sharedW := wrap(t, r, shared, sharedCtx)

	var wg sync.WaitGroup
	errs := make(chan error, 2*workers)
	for i := range workers {
		wg.Go(func() {
			ctx := context.Background()
			own := make([]byte, 32)
			_, _ = rand.Read(own)
			encCtx := map[string]string{"photo": "ph_" + strconv.Itoa(i), "owner": "patient-" + strconv.Itoa(i)}
			w, err := r.Wrap(ctx, own, encCtx)
			if err != nil {
				errs <- fmt.Errorf("worker %d: wrap: %w", i, err)
				return
			}
			got, err := r.Unwrap(ctx, w, encCtx)
			if err != nil {
				errs <- fmt.Errorf("worker %d: unwrap own key: %w", i, err)
			} else if !bytes.Equal(got, own) {
				errs <- fmt.Errorf("worker %d: unwrap own key returned another key", i)
			}
			got, err = r.Unwrap(ctx, sharedW, sharedCtx)
			if err != nil {
				errs <- fmt.Errorf("worker %d: unwrap shared key: %w", i, err)
			} else if !bytes.Equal(got, shared) {
				errs <- fmt.Errorf("worker %d: unwrap shared key returned another key", i)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
