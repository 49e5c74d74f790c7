// Package s3blob is the core.Blobs of AWS: objects in one S3 bucket, read and
// written by clients through presigned URLs.
//
// # Uploads
//
// PresignPut signs a PutObject whose Content-Length, Content-Type and
// x-amz-checksum-sha256 are signed headers (X-Amz-SignedHeaders names them),
// so that S3 refuses a body of another length (the signature no longer
// matches), another digest (BadDigest) or another type. The client sends the
// returned headers as they are. An empty object (size 0) is the exception
// that proves the rule: the SigV4 signer never signs a zero Content-Length,
// but the signed digest of the empty string still refuses any other body.
//
// # Write once, and deletes that stay deleted
//
// A presigned PUT also signs If-None-Match: *, so S3 refuses it (412
// PreconditionFailed) once the key holds an object: a URL writes once, and
// a repeated upload fails instead of replacing the object. Delete does not
// remove the key: it writes an empty tombstone object over it (metadata
// medshare-tombstone: 1), so that an upload URL signed before the delete,
// which S3 cannot revoke, meets an object and is refused. Stat reports a
// tombstone as not found; a GET of it returns an empty body, none of the
// deleted bytes. The bucket's lifecycle expires tombstones (the only empty
// objects: the service never stages an empty upload) after a day, and the
// bucket refuses signatures older than an hour (infra/stack/storage.go), so
// no URL outlives the tombstone of its key.
//
// # Expiry
//
// A URL never outlives the credentials that sign it (ARCHITECTURE §2.6): the store
// retrieves the signing credentials itself, caps the URL's validity at their
// expiry less CredentialMargin when they can expire, and signs with exactly
// those credentials. ExpiresAt is what S3 will enforce: X-Amz-Date plus
// X-Amz-Expires, both in whole seconds, so never later than now+ttl.
//
// # Stat
//
// Stat reads the size and the SHA-256 that S3 stored with the object
// (HeadObject with ChecksumMode ENABLED); every upload presigned here carries
// one. An object without a full-object SHA-256 (uploaded another way, in
// parts, or kept by a store that drops checksums) is downloaded and hashed
// instead, up to a limit (WithHashFallbackLimit); HashFallbacks counts how
// often that happened.
package s3blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/medshare/medshare/shared/blob/s3presign"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/runtime/awserr"
)

var _ core.Blobs = (*Store)(nil)

// API is the part of the S3 client that the store calls; *s3.Client
// satisfies it.
type API interface {
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	HeadBucket(ctx context.Context, in *s3.HeadBucketInput, optFns ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
	CopyObject(ctx context.Context, in *s3.CopyObjectInput, optFns ...func(*s3.Options)) (*s3.CopyObjectOutput, error)
}

// Presigner is the part of the S3 presign client that the store calls;
// *s3.PresignClient satisfies it.
type Presigner interface {
	PresignPutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error)
	PresignGetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error)
}

// Limits, S3's own.
const (
	// MaxKeyLen is the longest object key, in bytes.
	MaxKeyLen = s3presign.MaxKeyLen
	// MaxObjectSize is the largest object a single PUT may write.
	MaxObjectSize = core.MaxBlobSize
	// MinTTL and MaxTTL bound the validity of a presigned URL (SigV4 allows
	// one second to seven days).
	MinTTL = core.MinURLTTL
	MaxTTL = core.MaxURLTTL
)

// CredentialMargin is how long before its signing credentials expire a URL
// expires at the latest.
const CredentialMargin = s3presign.CredentialMargin

// DefaultHashFallbackLimit is the largest object that Stat downloads to hash
// when S3 holds no SHA-256 for it.
const DefaultHashFallbackLimit = 64 << 20

// checksumHeader is the header, named as S3 names it, that carries the
// standard base64 of the body's SHA-256.
const checksumHeader = "x-amz-checksum-sha256"

// TombstoneMetadata is the user metadata (x-amz-meta-medshare-tombstone: 1)
// of the empty object that Delete leaves at a deleted key.
const TombstoneMetadata = s3presign.TombstoneMetadata

// Store is the S3 blob store. It is safe for concurrent use.
type Store struct {
	api       API
	presign   Presigner
	bucket    string
	creds     aws.CredentialsProvider // nil: URLs are not capped (anonymous or unknown)
	now       func() time.Time
	hashLimit int64
	fallbacks atomic.Int64
}

// Option configures a Store.
type Option func(*Store)

// WithCredentials sets the provider of the credentials that sign URLs. By
// default it is the client's own (client.Options().Credentials) when the
// client passed to New is an *s3.Client or has such an Options method.
func WithCredentials(p aws.CredentialsProvider) Option { return func(s *Store) { s.creds = p } }

// WithClock sets the clock used to cap URLs at the credentials' expiry
// (default time.Now). The SDK signs with its own clock.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithHashFallbackLimit sets the largest object Stat downloads and hashes when
// S3 holds no SHA-256 for it (default DefaultHashFallbackLimit); 0 disables
// the fallback, so that such an object is an internal error.
func WithHashFallbackLimit(n int64) Option { return func(s *Store) { s.hashLimit = n } }

// New returns the store of bucket. client makes the API calls and presigner
// signs URLs; both are built by the caller from its aws.Config, with the
// addressing style it needs (path style for most emulators):
//
//	client := s3.NewFromConfig(cfg)
//	store, err := s3blob.New(client, s3.NewPresignClient(client), bucket)
func New(client API, presigner Presigner, bucket string, opts ...Option) (*Store, error) {
	if client == nil || presigner == nil {
		return nil, errors.New("new s3 blob store: client and presigner are required")
	}
	if bucket == "" {
		return nil, errors.New("new s3 blob store: bucket name is empty")
	}
	s := &Store{api: client, presign: presigner, bucket: bucket, now: time.Now, hashLimit: DefaultHashFallbackLimit}
	if c, ok := client.(interface{ Options() s3.Options }); ok {
		s.creds = c.Options().Credentials
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// HashFallbacks returns how many times Stat downloaded an object to hash it
// because S3 held no SHA-256 for it.
func (s *Store) HashFallbacks() int64 { return s.fallbacks.Load() }

func checkKey(op, key string) error { return s3presign.CheckKey(op, key) }

// signing returns the presign options for a URL of validity ttl: the expiry,
// capped so that the URL expires CredentialMargin before the credentials that
// sign it, and those very credentials, so that a refresh between the check and
// the signature cannot swap them.
func (s *Store) signing(ctx context.Context, op, key string, ttl time.Duration) ([]func(*s3.PresignOptions), error) {
	if s.creds == nil {
		return []func(*s3.PresignOptions){s3.WithPresignExpires(ttl)}, nil
	}
	creds, ttl, err := s3presign.SigningCredentials(ctx, s.creds, s.now, op, key, ttl)
	if err != nil {
		return nil, err
	}
	pinned := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil })
	return []func(*s3.PresignOptions){
		s3.WithPresignExpires(ttl),
		s3.WithPresignClientFromClientOptions(func(o *s3.Options) { o.Credentials = pinned }),
	}, nil
}

// PresignPut returns a PUT of exactly size bytes with the given SHA-256 and
// content type to key, valid only while the key holds no object (If-None-Match:
// *), and the headers the client must send with it (Content-Type,
// x-amz-checksum-sha256, If-None-Match and, for a non-empty object,
// Content-Length).
func (s *Store) PresignPut(ctx context.Context, key string, size int64, sum []byte, contentType string, ttl time.Duration) (core.Upload, error) {
	const op = "presign upload"
	if err := checkKey(op, key); err != nil {
		return core.Upload{}, err
	}
	if err := core.CheckPresignPut(op, key, size, sum, contentType, ttl); err != nil {
		return core.Upload{}, err
	}
	optFns, err := s.signing(ctx, op, key, ttl)
	if err != nil {
		return core.Upload{}, err
	}
	optFns = append(optFns, s3.WithPresignClientFromClientOptions(signContentType(contentType)))
	req, err := s.presign.PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket:         aws.String(s.bucket),
		Key:            aws.String(key),
		ContentLength:  aws.Int64(size),
		ContentType:    aws.String(contentType),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum)),
		IfNoneMatch:    aws.String("*"),
	}, optFns...)
	if err != nil {
		return core.Upload{}, translate(op+" "+key, err)
	}
	exp, err := expiresAt(req.URL)
	if err != nil {
		return core.Upload{}, core.ErrInternal(err, "%s %s", op, key)
	}
	headers := make(map[string]string, len(req.SignedHeader))
	for k, v := range req.SignedHeader {
		if strings.EqualFold(k, "Host") || len(v) == 0 {
			continue // the client's HTTP library sends Host from the URL
		}
		if strings.HasPrefix(strings.ToLower(k), "x-amz-") {
			k = strings.ToLower(k)
		}
		headers[k] = strings.Join(v, ",")
	}
	// The client needs these whatever the SDK chose to sign.
	headers["Content-Type"] = contentType
	headers[checksumHeader] = base64.StdEncoding.EncodeToString(sum)
	headers["If-None-Match"] = "*"
	return core.Upload{Method: req.Method, URL: req.URL, Headers: headers, ExpiresAt: exp}, nil
}

// signContentType sets Content-Type again after the SDK's presigner drops it
// from a request whose Content-Length is zero, so that an empty object's type
// is signed too. It runs in the build step, before the signer.
func signContentType(contentType string) func(*s3.Options) {
	return func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Build.Add(middleware.BuildMiddlewareFunc("MedShareSignContentType",
				func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
					if req, ok := in.Request.(*smithyhttp.Request); ok {
						req.Header.Set("Content-Type", contentType)
					}
					return next.HandleBuild(ctx, in)
				}), middleware.After)
		})
	}
}

// PresignGet returns a GET of key, valid for ttl or until CredentialMargin
// before the signing credentials expire, whichever comes first. It does not
// check that the object exists.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (core.SignedURL, error) {
	const op = "presign download"
	if err := checkKey(op, key); err != nil {
		return core.SignedURL{}, err
	}
	if err := core.CheckURLTTL(op, ttl); err != nil {
		return core.SignedURL{}, err
	}
	optFns, err := s.signing(ctx, op, key, ttl)
	if err != nil {
		return core.SignedURL{}, err
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(key),
	}, optFns...)
	if err != nil {
		return core.SignedURL{}, translate(op+" "+key, err)
	}
	exp, err := expiresAt(req.URL)
	if err != nil {
		return core.SignedURL{}, core.ErrInternal(err, "%s %s", op, key)
	}
	return core.SignedURL{URL: req.URL, ExpiresAt: exp}, nil
}

// expiresAt reads the instant S3 will refuse a presigned URL from.
func expiresAt(rawURL string) (time.Time, error) { return s3presign.ExpiresAt(rawURL) }

// Stat returns the size and SHA-256 of the object at key, from the checksum
// S3 stored with it, or by hashing the object when S3 has none.
func (s *Store) Stat(ctx context.Context, key string) (core.BlobInfo, error) {
	const op = "stat object"
	if err := checkKey(op, key); err != nil {
		return core.BlobInfo{}, err
	}
	out, err := s.api.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket:       aws.String(s.bucket),
		Key:          aws.String(key),
		ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		return core.BlobInfo{}, translate(op+" "+key, err)
	}
	if isTombstone(out.Metadata) {
		return core.BlobInfo{}, core.ErrNotFound("%s %s: deleted", op, key)
	}
	if sum, ok := fullObjectSHA256(out); ok {
		return core.BlobInfo{Size: aws.ToInt64(out.ContentLength), SHA256: sum}, nil
	}
	return s.hashObject(ctx, key, aws.ToInt64(out.ContentLength), aws.ToString(out.ETag))
}

// fullObjectSHA256 returns the SHA-256 of the whole object that S3 reported,
// if it did. A composite checksum (of a multipart upload's parts, "…-N") is
// not the object's digest.
func fullObjectSHA256(out *s3.HeadObjectOutput) ([]byte, bool) {
	v := aws.ToString(out.ChecksumSHA256)
	if v == "" || out.ChecksumType == types.ChecksumTypeComposite || strings.Contains(v, "-") {
		return nil, false
	}
	sum, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(sum) != sha256.Size {
		return nil, false
	}
	return sum, true
}

// hashObject downloads the object at key and hashes it. It reads the version
// that HeadObject saw (If-Match its ETag), so that the size and digest
// describe one object.
func (s *Store) hashObject(ctx context.Context, key string, size int64, etag string) (core.BlobInfo, error) {
	const op = "stat object"
	if s.hashLimit <= 0 || size > s.hashLimit {
		return core.BlobInfo{}, core.ErrInternal(
			fmt.Errorf("object has no stored sha-256 and %d bytes (hash fallback limit %d)", size, s.hashLimit),
			"%s %s", op, key)
	}
	s.fallbacks.Add(1)
	in := &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)}
	if etag != "" {
		in.IfMatch = aws.String(etag)
	}
	out, err := s.api.GetObject(ctx, in)
	if err != nil {
		return core.BlobInfo{}, translate(op+" "+key+": read object to hash it", err)
	}
	defer out.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(out.Body, s.hashLimit+1))
	if err != nil {
		return core.BlobInfo{}, translate(op+" "+key+": read object to hash it", err)
	}
	if n > s.hashLimit {
		return core.BlobInfo{}, core.ErrInternal(fmt.Errorf("object grew past the hash fallback limit %d", s.hashLimit), "%s %s", op, key)
	}
	return core.BlobInfo{Size: n, SHA256: h.Sum(nil)}, nil
}

// Delete replaces the object at key with an empty tombstone, with one
// unconditional PutObject: the bytes are gone from the key's current
// version, and every upload URL of the key, signed before or after, is
// refused from then on (see the package comment). Deleting an absent or
// deleted key writes a tombstone all the same. In a versioned bucket the
// replaced version stays as a noncurrent version until the bucket's
// lifecycle expires it, as it would after a DeleteObject.
func (s *Store) Delete(ctx context.Context, key string) error {
	const op = "delete object"
	if err := checkKey(op, key); err != nil {
		return err
	}
	_, err := s.api.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(nil),
		ContentLength: aws.Int64(0),
		ContentType:   aws.String("application/octet-stream"),
		Metadata:      map[string]string{TombstoneMetadata: "1"},
	})
	if err != nil {
		return translate(op+" "+key, err)
	}
	return nil
}

// isTombstone reports whether an object's user metadata marks it as the
// tombstone of a deleted key. The SDK gives metadata keys in lower case.
func isTombstone(meta map[string]string) bool {
	for k, v := range meta {
		if strings.EqualFold(k, TombstoneMetadata) && v == "1" {
			return true
		}
	}
	return false
}

// Ping checks that the bucket exists and that the store may use it
// (HeadBucket). A missing bucket is an internal error: a deployment bug.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.api.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)})
	if err == nil {
		return nil
	}
	err = translate("head bucket "+s.bucket, err)
	if core.IsKind(err, core.KindNotFound) {
		return core.ErrInternal(err, "bucket %s not found", s.bucket)
	}
	return err
}

// translate maps an SDK error to the core's kinds, once for the package,
// with the one AWS classifier (awserr.S3): KindNotFound, KindUnavailable or
// KindInternal. what names the operation and the key; a presigned URL is
// never part of it.
func translate(what string, err error) error {
	return awserr.S3.Translate(err, "%s", what)
}
