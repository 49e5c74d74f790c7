package s3blob

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/runtime/awserr"
)

var _ core.ObjectImporter = (*Store)(nil)

// Import writes an object the service brings in itself (a migrated legacy
// chat image, core.ObjectImporter) with one PutObject that carries the
// bytes' SHA-256, which S3 checks (BadDigest) and stores. A body that is
// not seekable with a known size and digest is first written to a
// temporary file, counted and hashed, so that the request is signed over
// known bytes. The PutObject replaces what the key holds, a tombstone
// included; it asks for no encryption, so it gets the bucket's default,
// the data key, as the presigned PUTs do.
func (s *Store) Import(ctx context.Context, key, contentType string, body io.Reader, size int64, sum []byte) (core.BlobInfo, error) {
	const op = "import object"
	if err := checkKey(op, key); err != nil {
		return core.BlobInfo{}, err
	}
	if err := core.CheckImport(op, key, contentType, size, sum, MinTTL); err != nil {
		return core.BlobInfo{}, err
	}
	rs, known := body.(io.ReadSeeker)
	n := size
	if !known || size < 0 || sum == nil {
		f, err := os.CreateTemp("", "medshare-import-*")
		if err != nil {
			return core.BlobInfo{}, core.ErrUnavailable(err, "%s %s: temporary file", op, key)
		}
		defer func() {
			f.Close()
			os.Remove(f.Name())
		}()
		n, sum, err = core.CopyImport(op, key, f, body, size, sum)
		if err != nil {
			return core.BlobInfo{}, err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return core.BlobInfo{}, core.ErrUnavailable(err, "%s %s: temporary file", op, key)
		}
		rs = f
	}
	_, err := s.api.PutObject(ctx, &s3.PutObjectInput{
		Bucket:         aws.String(s.bucket),
		Key:            aws.String(key),
		Body:           rs,
		ContentLength:  aws.Int64(n),
		ContentType:    aws.String(contentType),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum)),
	})
	if err != nil {
		if awserr.Code(err) == "BadDigest" {
			return core.BlobInfo{}, core.ErrConflict("%s %s: the bytes' sha256 is not the expected one", op, key)
		}
		return core.BlobInfo{}, translate(op+" "+key, err)
	}
	return core.BlobInfo{Size: n, SHA256: sum}, nil
}

// CopyFrom copies the object srcKey of bucket srcBucket to key with one
// CopyObject, server-side: no byte passes through the caller. The copy
// gets contentType (MetadataDirective REPLACE) and the bucket's default
// encryption, and S3 computes and stores its SHA-256 (ChecksumAlgorithm
// SHA256); it returns the size and digest of the copy as Stat reads them,
// which the caller compares with what it expected. A missing source is
// KindNotFound. The caller's credentials must read the source and write
// here (the migration function's role: infra/stack/legacy.go).
func (s *Store) CopyFrom(ctx context.Context, srcBucket, srcKey, key, contentType string) (core.BlobInfo, error) {
	const op = "copy object"
	if err := checkKey(op, key); err != nil {
		return core.BlobInfo{}, err
	}
	if srcBucket == "" || srcKey == "" {
		return core.BlobInfo{}, core.ErrInvalid("%s %s: no source", op, key)
	}
	// x-amz-copy-source is URL-encoded; "+" is escaped too, since some
	// S3-compatible servers decode it as a space.
	segs := strings.Split(srcKey, "/")
	for i, seg := range segs {
		segs[i] = strings.ReplaceAll(url.PathEscape(seg), "+", "%2B")
	}
	_, err := s.api.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket:            aws.String(s.bucket),
		Key:               aws.String(key),
		CopySource:        aws.String(srcBucket + "/" + strings.Join(segs, "/")),
		MetadataDirective: types.MetadataDirectiveReplace,
		ContentType:       aws.String(contentType),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	})
	if err != nil {
		return core.BlobInfo{}, translate(fmt.Sprintf("%s %s/%s to %s", op, srcBucket, srcKey, key), err)
	}
	return s.Stat(ctx, key)
}
