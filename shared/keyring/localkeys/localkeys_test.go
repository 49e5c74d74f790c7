package localkeys_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/keyring/keyringtest"
	"github.com/medshare/medshare/shared/keyring/localkeys"
)

func openRing(t *testing.T, path string) *localkeys.Ring {
	t.Helper()
	r, err := localkeys.Open(path)
	if err != nil {
		t.Fatalf("Open(%s) = %v", path, err)
	}
	return r
}

func TestContract(t *testing.T) {
	keyringtest.Run(t, func(t *testing.T) core.KeyRing {
		return openRing(t, filepath.Join(t.TempDir(), "master.key"))
	})
}

func TestOpenCreatesPrivateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "master.key")
	r := openRing(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat created key file: %v", err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("key file mode = %04o, want 0600", got)
	}
	if got := fi.Size(); got != localkeys.MasterKeySize {
		t.Errorf("key file size = %d, want %d", got, localkeys.MasterKeySize)
	}
	dir, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatalf("stat created key directory: %v", err)
	}
	if got := dir.Mode().Perm(); got&0o077 != 0 {
		t.Errorf("key directory mode = %04o, want no group or other access", got)
	}
	key, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read key file: %v", err)
	}
	if strings.Contains(r.KeyID(), hex.EncodeToString(key)[:16]) {
		t.Errorf("KeyID reveals the key")
	}
	if !strings.HasPrefix(r.KeyID(), "local:") || len(r.KeyID()) != len("local:")+16 {
		t.Errorf("KeyID = %q, want local: and 16 hex digits", r.KeyID())
	}
}

func TestOpenRefusesWideFile(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		t.Run(mode.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "master.key")
			if err := os.WriteFile(path, bytes.Repeat([]byte{7}, 32), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			_, err := localkeys.Open(path)
			if err == nil {
				t.Fatalf("Open of a %04o key file succeeded, want an error", mode)
			}
			for _, want := range []string{path, "chmod 600"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Open error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestOpenRefusesWrongSize(t *testing.T) {
	for _, size := range []int{0, 16, 31, 33} {
		path := filepath.Join(t.TempDir(), "master.key")
		if err := os.WriteFile(path, make([]byte, size), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := localkeys.Open(path); err == nil {
			t.Errorf("Open of a %d-byte key file succeeded, want an error", size)
		}
	}
}

func TestOpenRefusesDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := localkeys.Open(path); err == nil {
		t.Fatalf("Open of a directory succeeded, want an error")
	}
}

func randomKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeySurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	ctx := context.Background()
	encCtx := map[string]string{"photo": "ph_1", "owner": "patient-1"}
	key := randomKey(t)
	first := openRing(t, path)
	w, err := first.Wrap(ctx, key, encCtx)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}

	reopened := openRing(t, path)
	if got, want := reopened.KeyID(), first.KeyID(); got != want {
		t.Errorf("reopened KeyID = %q, want %q", got, want)
	}
	got, err := reopened.Unwrap(ctx, w, encCtx)
	if err != nil {
		t.Fatalf("Unwrap with the reopened ring: %v", err)
	}
	if !bytes.Equal(got, key) {
		t.Fatalf("Unwrap with the reopened ring returned another key")
	}
}

func TestOtherMasterKeyFails(t *testing.T) {
	ctx := context.Background()
	encCtx := map[string]string{"photo": "ph_1", "owner": "patient-1"}
	a := openRing(t, filepath.Join(t.TempDir(), "a.key"))
	b := openRing(t, filepath.Join(t.TempDir(), "b.key"))
	if a.KeyID() == b.KeyID() {
		t.Fatalf("two fresh master keys have the same KeyID %q", a.KeyID())
	}
	key := randomKey(t)
	w, err := a.Wrap(ctx, key, encCtx)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	tests := []struct {
		name string
		w    core.WrappedKey
	}{
		{"as wrapped", w},
		// Past the key id check, authentication must still fail.
		{"key id forged", core.WrappedKey{KeyID: b.KeyID(), Ciphertext: w.Ciphertext}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := b.Unwrap(ctx, tt.w, encCtx)
			if err == nil {
				t.Fatalf("Unwrap with another master key succeeded")
			}
			if k := core.KindOf(err); k != core.KindInternal {
				t.Errorf("error kind = %v, want KindInternal", k)
			}
			if got != nil {
				t.Errorf("failed Unwrap returned %d bytes", len(got))
			}
		})
	}
}

func TestUnwrapErrorCarriesNoKeyMaterial(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "master.key")
	r := openRing(t, path)
	master, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	key := randomKey(t)
	w, err := r.Wrap(ctx, key, map[string]string{"photo": "ph_1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Unwrap(ctx, w, map[string]string{"photo": "ph_2"})
	if err == nil {
		t.Fatal("Unwrap under another context succeeded")
	}
	var e *core.Error
	if !errors.As(err, &e) || e.Message != "unwrap data key" {
		t.Errorf("Unwrap error = %v, want core error with message %q", err, "unwrap data key")
	}
	msg := err.Error()
	for _, secret := range [][]byte{key, master} {
		for _, enc := range []string{string(secret), hex.EncodeToString(secret)} {
			if strings.Contains(msg, enc) {
				t.Errorf("Unwrap error %q contains key material", msg)
			}
		}
	}
}

func TestWrapRejectsBadDataKey(t *testing.T) {
	r := openRing(t, filepath.Join(t.TempDir(), "master.key"))
	for _, n := range []int{0, 4097} {
		_, err := r.Wrap(context.Background(), make([]byte, n), nil)
		if k := core.KindOf(err); err == nil || k != core.KindInvalid {
			t.Errorf("Wrap(%d bytes) = %v, want KindInvalid", n, err)
		}
	}
}
