package blobtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
)

// Importer is a blob store that also writes the objects the service brings
// in itself (core.ObjectImporter).
type Importer interface {
	core.Blobs
	core.ObjectImporter
}

// RunImport runs the contract of core.ObjectImporter on the store that
// newStore returns (fresh keys per subtest, so stores may share a bucket):
// the bytes written are the bytes read back through a presigned GET, with
// their content type; a size or digest given is checked, and other bytes
// leave the key as it was; an import replaces an object or a tombstone, and
// an upload URL signed before still writes nothing.
func RunImport(t *testing.T, h Harness, newStore func(t *testing.T) Importer) {
	t.Helper()
	if h.Client == nil {
		h.Client = http.DefaultClient
	}
	const imageType = "image/webp"
	ctx := context.Background()
	importOK := func(t *testing.T, b Importer, key string, body io.Reader, size int64, sum []byte, want []byte) {
		t.Helper()
		got, err := b.Import(ctx, key, imageType, body, size, sum)
		if err != nil {
			t.Fatalf("Import(%s) = %v", key, err)
		}
		if diff := cmp.Diff(core.BlobInfo{Size: int64(len(want)), SHA256: digest(want)}, got); diff != "" {
			t.Errorf("Import(%s) returned (-want +got):\n%s", key, diff)
		}
		checkStat(t, b, key, want)
		r := get(t, h, b, key)
		if r.status != http.StatusOK || !bytes.Equal(r.body, want) {
			t.Errorf("GET %s after Import: %v, want the %d bytes imported", key, r, len(want))
		}
		if ct := r.header.Get("Content-Type"); ct != imageType {
			t.Errorf("GET %s after Import: Content-Type %q, want %q", key, ct, imageType)
		}
	}
	t.Run("Import", func(t *testing.T) {
		t.Run("KnownSizeAndDigest", func(t *testing.T) {
			b := newStore(t)
			data := randomBytes(t, 70_000)
			importOK(t, b, "chat/"+core.NewID("ci"), bytes.NewReader(data), int64(len(data)), digest(data), data)
		})
		t.Run("UnknownSizeAndDigest", func(t *testing.T) {
			b := newStore(t)
			data := randomBytes(t, 5000)
			// A reader that cannot seek, as a source's body is.
			importOK(t, b, "chat/"+core.NewID("ci"), io.MultiReader(bytes.NewReader(data)), -1, nil, data)
		})
		t.Run("OtherBytesRefused", func(t *testing.T) {
			b := newStore(t)
			data := randomBytes(t, 3000)
			for _, tc := range []struct {
				name string
				size int64
				sum  []byte
			}{
				{"longer than the size", int64(len(data)) - 1, nil},
				{"shorter than the size", int64(len(data)) + 1, nil},
				{"another digest", -1, digest([]byte("other"))},
				{"another digest, size known", int64(len(data)), digest([]byte("other"))},
			} {
				t.Run(tc.name, func(t *testing.T) {
					key := "chat/" + core.NewID("ci")
					_, err := b.Import(ctx, key, imageType, io.MultiReader(bytes.NewReader(data)), tc.size, tc.sum)
					if !core.IsKind(err, core.KindConflict) {
						t.Fatalf("Import = %v, want KindConflict", err)
					}
					checkNotFound(t, b, key)
					// Over an object: the object stays as it was.
					old := randomBytes(t, 10)
					importOK(t, b, key, bytes.NewReader(old), 10, digest(old), old)
					_, err = b.Import(ctx, key, imageType, io.MultiReader(bytes.NewReader(data)), tc.size, tc.sum)
					if !core.IsKind(err, core.KindConflict) {
						t.Fatalf("Import over an object = %v, want KindConflict", err)
					}
					checkStat(t, b, key, old)
				})
			}
		})
		t.Run("FailingSource", func(t *testing.T) {
			b := newStore(t)
			key := "chat/" + core.NewID("ci")
			body := io.MultiReader(bytes.NewReader(randomBytes(t, 100)), failingReader{})
			if _, err := b.Import(ctx, key, imageType, body, 200, nil); err == nil || core.IsKind(err, core.KindConflict) {
				t.Fatalf("Import of a source that fails = %v, want an error that is not a conflict", err)
			}
			checkNotFound(t, b, key)
		})
		t.Run("Replaces", func(t *testing.T) {
			b := newStore(t)
			key := "chat/" + core.NewID("ci")
			first, second := randomBytes(t, 100), randomBytes(t, 200)
			importOK(t, b, key, bytes.NewReader(first), 100, digest(first), first)
			importOK(t, b, key, bytes.NewReader(second), 200, digest(second), second)
		})
		t.Run("OverATombstone", func(t *testing.T) {
			b := newStore(t)
			key := "chat/" + core.NewID("ci")
			data := randomBytes(t, 400)
			up := presignPut(t, b, key, data, ttl)
			if err := b.Delete(ctx, key); err != nil {
				t.Fatalf("Delete = %v", err)
			}
			importOK(t, b, key, bytes.NewReader(data), 400, digest(data), data)
			// The URL signed before the delete still writes nothing.
			other := randomBytes(t, 400)
			if r := h.do(t, up.Method, up.URL, up.Headers, other); !r.is4xx() && r.status/100 == 2 {
				t.Errorf("upload with a URL signed before: %v, want a refusal", r)
			}
			checkStat(t, b, key, data)
		})
	})
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("the source failed") }
