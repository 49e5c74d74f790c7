package migrate

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"

	"github.com/medshare/medshare/shared/core"
)

// Copier brings a legacy object into private storage, and reads and
// removes what it brought.
type Copier interface {
	// Copy writes the legacy object at legacyKey to key with contentType
	// and returns what the private object is: its size and SHA-256. size is
	// the source's, sum the line's (nil when it gives none). A copy whose
	// bytes are not size bytes with SHA-256 sum may be refused, with a
	// *MismatchError saying what was read, and keep nothing; or kept, for
	// the caller to compare and delete. A missing source is KindNotFound.
	Copy(ctx context.Context, legacyKey, key, contentType string, size int64, sum []byte) (core.BlobInfo, error)
	// Stat is the private object's size and SHA-256, or KindNotFound.
	Stat(ctx context.Context, key string) (core.BlobInfo, error)
	// Delete removes the private object (a tombstone; absent is no error).
	Delete(ctx context.Context, key string) error
}

// MismatchError is a streamed copy refused because its bytes were not the
// ones expected: Observed is what the source gave.
type MismatchError struct{ Observed core.BlobInfo }

func (e *MismatchError) Error() string {
	return fmt.Sprintf("the source gave %d bytes of another size or sha256 than expected", e.Observed.Size)
}

// Blobs is the private store of a copy: the blob port and the importer.
type Blobs interface {
	core.Blobs
	core.ObjectImporter
}

// StreamCopier copies by reading the legacy object and writing its bytes
// into private storage (core.ObjectImporter), hashing them on the way: for
// any source and store (a directory served over HTTP into the embedded
// store, DigitalOcean Spaces into S3).
type StreamCopier struct {
	Source core.LegacySource
	Blobs  Blobs
}

// Copy streams the object; Import refuses other bytes than size and sum.
func (c StreamCopier) Copy(ctx context.Context, legacyKey, key, contentType string, size int64, sum []byte) (core.BlobInfo, error) {
	body, _, err := c.Source.Open(ctx, legacyKey, 0)
	if err != nil {
		return core.BlobInfo{}, err
	}
	defer body.Close()
	hr := &hashingReader{r: body, h: sha256.New()}
	info, err := c.Blobs.Import(ctx, key, contentType, hr, size, sum)
	if core.IsKind(err, core.KindConflict) {
		// Read the rest, so that the caller is told the source's whole size
		// and digest (the store stops at the first byte past size).
		if _, rerr := io.Copy(io.Discard, hr); rerr != nil {
			return core.BlobInfo{}, core.ErrUnavailable(rerr, "read legacy object %s", legacyKey)
		}
		return core.BlobInfo{}, &MismatchError{Observed: core.BlobInfo{Size: hr.n, SHA256: hr.h.Sum(nil)}}
	}
	return info, err
}

// Stat reads the private object.
func (c StreamCopier) Stat(ctx context.Context, key string) (core.BlobInfo, error) {
	return c.Blobs.Stat(ctx, key)
}

// Delete removes the private object.
func (c StreamCopier) Delete(ctx context.Context, key string) error { return c.Blobs.Delete(ctx, key) }

type hashingReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	return n, err
}

// BucketCopier is a private store that copies from another bucket of the
// same S3 service, server-side (s3blob.Store.CopyFrom).
type BucketCopier interface {
	CopyFrom(ctx context.Context, srcBucket, srcKey, key, contentType string) (core.BlobInfo, error)
}

// ServerSideCopier copies with S3's CopyObject from the legacy bucket into
// the private one, when both are buckets of one S3 service (the same
// endpoint, credentials that read the one and write the other): no byte
// passes through the migration. The copy is kept whatever it holds; the
// caller compares and deletes it.
type ServerSideCopier struct {
	// LegacyBucket is the legacy bucket's name (s3legacy.Source.Bucket).
	LegacyBucket string
	Blobs        interface {
		core.Blobs
		BucketCopier
	}
}

// Copy is one CopyObject.
func (c ServerSideCopier) Copy(ctx context.Context, legacyKey, key, contentType string, _ int64, _ []byte) (core.BlobInfo, error) {
	return c.Blobs.CopyFrom(ctx, c.LegacyBucket, legacyKey, key, contentType)
}

// Stat reads the private object.
func (c ServerSideCopier) Stat(ctx context.Context, key string) (core.BlobInfo, error) {
	return c.Blobs.Stat(ctx, key)
}

// Delete removes the private object.
func (c ServerSideCopier) Delete(ctx context.Context, key string) error {
	return c.Blobs.Delete(ctx, key)
}
