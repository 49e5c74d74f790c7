// Package legacysourcetest is the contract suite of the core.LegacySource
// port: the reader of the legacy public bucket that the migration copies
// from (ARCHITECTURE §9). Every implementation runs it: httplegacy against
// a directory served over HTTP in every `go test`, s3legacy against a bucket
// on the S3 emulator.
//
//	func TestContract(t *testing.T) {
//		legacysourcetest.Run(t, legacysourcetest.Harness{New: newSource})
//	}
//
// Besides the port's contract, the suite fixes that keys are taken as they
// are: spaces, "+", "%", non-ASCII letters and nested paths name the object
// stored under exactly that key.
package legacysourcetest

import (
	"bytes"
	"crypto/rand"
	"io"
	"testing"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/store/storetest"
)

// Object is one object of the source: its bytes and the content type it is
// served with.
type Object struct {
	Data        []byte
	ContentType string
}

// Harness gives the suite a source holding exactly the objects given.
type Harness struct {
	// New returns a source whose bucket (or directory) holds exactly
	// objects, by key; it registers its own cleanup with t.Cleanup.
	New func(t *testing.T, objects map[string]Object) core.LegacySource
}

// Keys are the suite's keys, in the shapes a legacy bucket holds.
var Keys = []string{
	"images/2022/07/0b9f2c41.jpg",
	"images/a b+c%d.png",
	"images/été/photo (1).webp",
	"top.gif",
}

func random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	objects := map[string]Object{
		Keys[0]: {random(70_000), "image/jpeg"},
		Keys[1]: {random(1), "image/png"},
		Keys[2]: {random(3000), "image/webp"},
		Keys[3]: {random(513), "image/gif"},
	}
	src := h.New(t, objects)
	ctx := t.Context()
	t.Run("Ping", func(t *testing.T) {
		storetest.Must(t, "Ping", src.Ping(ctx))
	})
	t.Run("Stat", func(t *testing.T) {
		for _, key := range Keys {
			obj, err := src.Stat(ctx, key)
			if err != nil {
				t.Errorf("Stat(%q): %v", key, err)
				continue
			}
			if want := objects[key]; obj.Size != int64(len(want.Data)) || obj.ContentType != want.ContentType {
				t.Errorf("Stat(%q) = %+v, want size %d type %s", key, obj, len(want.Data), want.ContentType)
			}
		}
	})
	t.Run("Missing", func(t *testing.T) {
		for _, key := range []string{"images/2022/07/missing.jpg", "images/a b+c%d.pn", "nothing/here.png"} {
			_, err := src.Stat(ctx, key)
			storetest.WantKind(t, "Stat "+key, err, core.KindNotFound)
			_, _, err = src.Open(ctx, key, 0)
			storetest.WantKind(t, "Open "+key, err, core.KindNotFound)
		}
	})
	t.Run("Open", func(t *testing.T) {
		for _, key := range Keys {
			want := objects[key].Data
			for _, limit := range []int64{0, 512, int64(len(want)) + 10} {
				body, obj, err := src.Open(ctx, key, limit)
				if err != nil {
					t.Errorf("Open(%q, %d): %v", key, limit, err)
					continue
				}
				got, err := io.ReadAll(body)
				body.Close()
				if err != nil {
					t.Errorf("Open(%q, %d): read: %v", key, limit, err)
					continue
				}
				w := want
				if limit > 0 && limit < int64(len(w)) {
					w = w[:limit]
				}
				if !bytes.Equal(got, w) {
					t.Errorf("Open(%q, %d): got %d bytes, want the first %d of the object", key, limit, len(got), len(w))
				}
				if obj.Size != int64(len(want)) {
					t.Errorf("Open(%q, %d): size %d, want the whole object's %d", key, limit, obj.Size, len(want))
				}
			}
		}
	})
}
