// Package s3presign signs S3 download URLs with the AWS SDK's SigV4 signer
// alone, without the SDK's S3 client.
//
// The S3 client is about 1.3 MB of a function's binary (its endpoint rules,
// the REST-XML (de)serializers, checksums, SigV4a and S3 Express), and the
// functions whose only use of S3 is to hand out presigned GETs (photo-key,
// signed-url, chat-signed-url: their role may read objects and nothing
// else, lambdafn.Permissions) need none of it: a presigned GET is a URL
// signed with the function's credentials, computed locally. Signer makes
// that URL as the SDK's presign client does: the same SigV4 signer
// (v4.Signer.PresignHTTP, unsigned payload, S3's unescaped canonical
// path), the same addressing (virtual-hosted on S3's regional endpoint,
// path style on request, for a bucket name that is not a DNS label, or on
// an endpoint that is an IP address) and
// the same expiry rules as s3blob (a URL never outlives the credentials
// that sign it). TestSameURLAsTheSDK compares the two; the emulator test
// fetches its URLs from VersityGW, which checks the signature and the
// expiry.
//
// Delete writes the same empty tombstone as s3blob's Delete, with one
// PUT signed by the same signer (v4.Signer.SignHTTP), so that the
// functions whose only other use of S3 is a delete (delete-photo, the
// cleanup job) need no S3 client either. TestDeleteWritesATombstone runs it
// on the emulator and reads the tombstone back with s3blob.
//
// Signer is a core.Blobs whose other methods fail with an internal error:
// a function that calls them links s3blob (package lambdafn/s3fn).
package s3presign

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/encoding/httpbinding"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/runtime/awserr"
)

var _ core.Blobs = (*Signer)(nil)

// Limits and margins, S3's own and s3blob's.
const (
	// MaxKeyLen is the longest object key, in bytes.
	MaxKeyLen = 1024
	// CredentialMargin is how long before its signing credentials expire a
	// URL expires at the latest.
	CredentialMargin = time.Minute
)

// ServiceID and Operation are what the middleware stack of a presign
// reports (awsmiddleware.GetServiceID, GetOperationName), as the SDK's S3
// presign client reports them.
const (
	ServiceID = "S3"
	Operation = "GetObject"
)

// GetObject is the input of a presign, as the middleware stack's
// Initialize step sees it (the IAM test reads the bucket and key there).
type GetObject struct {
	Bucket, Key string
}

// Config is what a Signer needs, all from the function's environment.
type Config struct {
	Bucket string
	Region string
	// Endpoint is the base endpoint (awsenv.Endpoint for S3: an emulator's
	// URL), or nil for S3's regional endpoint.
	Endpoint *string
	// PathStyle puts the bucket in the path rather than the host name.
	PathStyle bool
	// Credentials sign the URLs.
	Credentials aws.CredentialsProvider
	// APIOptions run on every presign's middleware stack, as they do on an
	// SDK client's (aws.Config.APIOptions).
	APIOptions []func(*middleware.Stack) error
	// Now is the clock that signs and caps URLs; nil is time.Now.
	Now func() time.Time
	// HTTPClient sends Delete's requests (aws.Config.HTTPClient); nil is
	// http.DefaultClient.
	HTTPClient aws.HTTPClient
	// Retryer decides Delete's retries (aws.Config.Retryer); nil is the
	// SDK's standard retryer.
	Retryer func() aws.Retryer
}

// Signer presigns GETs of one bucket's objects. It is safe for concurrent
// use.
type Signer struct {
	cfg    Config
	base   url.URL // scheme and host, and the bucket's path in path style
	signer *v4.Signer
	now    func() time.Time
}

// New returns the signer of cfg's bucket. It fails on a configuration that
// names no bucket, region or credentials, on an endpoint that is not an
// absolute URL, and on a region of a partition whose S3 host names it does
// not know.
func New(cfg Config) (*Signer, error) {
	switch {
	case cfg.Bucket == "":
		return nil, errors.New("new s3 presigner: bucket name is empty")
	case cfg.Region == "":
		return nil, errors.New("new s3 presigner: region is empty")
	case cfg.Credentials == nil:
		return nil, errors.New("new s3 presigner: no credentials")
	}
	s := &Signer{cfg: cfg, signer: v4.NewSigner(), now: cfg.Now}
	if s.now == nil {
		s.now = time.Now
	}
	pathStyle := cfg.PathStyle || !virtualHostable(cfg.Bucket)
	if cfg.Endpoint != nil {
		u, err := url.Parse(*cfg.Endpoint)
		if err != nil || u.Scheme == "" || u.Host == "" || u.RawQuery != "" {
			return nil, errors.New("new s3 presigner: the endpoint is not an absolute URL")
		}
		s.base = url.URL{Scheme: u.Scheme, Host: u.Host, Path: strings.TrimSuffix(u.Path, "/")}
		// An endpoint on an IP address takes no bucket label.
		pathStyle = pathStyle || net.ParseIP(u.Hostname()) != nil
	} else {
		suffix, err := dnsSuffix(cfg.Region)
		if err != nil {
			return nil, fmt.Errorf("new s3 presigner: %w", err)
		}
		s.base = url.URL{Scheme: "https", Host: "s3." + cfg.Region + "." + suffix}
	}
	if pathStyle {
		s.base.Path += "/" + cfg.Bucket
	} else {
		s.base.Host = cfg.Bucket + "." + s.base.Host
	}
	return s, nil
}

// dnsSuffix returns the domain of S3's endpoints in region's partition, as
// the SDK's partition table has it for the commercial, China and GovCloud
// partitions. The isolated partitions are refused rather than guessed.
func dnsSuffix(region string) (string, error) {
	for _, iso := range []string{"us-iso-", "us-isob-", "eu-isoe-", "us-isof-"} {
		if strings.HasPrefix(region, iso) {
			return "", fmt.Errorf("region %s: the isolated partitions are not supported", region)
		}
	}
	if strings.HasPrefix(region, "cn-") {
		return "amazonaws.com.cn", nil
	}
	return "amazonaws.com", nil
}

// virtualHostable reports whether bucket can be the first label of a host
// name under TLS, as S3's endpoint rules decide it (a DNS label of 3 to 63
// lower-case letters, digits and hyphens, starting and ending with a
// letter or digit, and not an IP address); the rules address any other
// bucket in path style.
func virtualHostable(bucket string) bool {
	if len(bucket) < 3 || len(bucket) > 63 {
		return false
	}
	for i := 0; i < len(bucket); i++ {
		c := bucket[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case c == '-' && i > 0 && i < len(bucket)-1:
		default:
			return false
		}
	}
	return true
}

// PresignGet returns a GET of key, valid for ttl or until CredentialMargin
// before the signing credentials expire, whichever comes first. It does not
// check that the object exists.
func (s *Signer) PresignGet(ctx context.Context, key string, ttl time.Duration) (core.SignedURL, error) {
	const op = "presign download"
	if err := CheckKey(op, key); err != nil {
		return core.SignedURL{}, err
	}
	if err := core.CheckURLTTL(op, ttl); err != nil {
		return core.SignedURL{}, err
	}
	var signed core.SignedURL
	err := s.run(ctx, "PresignGetObject", Operation, &GetObject{Bucket: s.cfg.Bucket, Key: key}, func(ctx context.Context) error {
		var err error
		signed, err = s.sign(ctx, op, key, ttl)
		return err
	})
	if err != nil {
		return core.SignedURL{}, coreError(err, op, key)
	}
	return signed, nil
}

// coreError keeps a core error as it is and makes any other an internal
// one.
func coreError(err error, op, key string) error {
	var ce *core.Error
	if errors.As(err, &ce) {
		return err
	}
	return core.ErrInternal(err, "%s %s", op, key)
}

// run runs do as the SDK runs an operation: on a middleware stack whose
// Initialize step sees the input (with the service and operation names
// in the context) and that carries Config.APIOptions, and then do. An
// error of do is returned as it is; one of the stack's is not a core
// error.
func (s *Signer) run(ctx context.Context, stackID, operation string, input any, do func(context.Context) error) error {
	st := middleware.NewStack(stackID, func() any { return nil })
	if err := st.Initialize.Add(&awsmiddleware.RegisterServiceMetadata{
		ServiceID: ServiceID, SigningName: "s3", Region: s.cfg.Region, OperationName: operation,
	}, middleware.Before); err != nil {
		return err
	}
	for _, fn := range s.cfg.APIOptions {
		if err := fn(st); err != nil {
			return err
		}
	}
	// The handler at the end of the stack receives the (empty) request of
	// the Serialize step, not the input: do works on what it was given.
	h := middleware.HandlerFunc(func(ctx context.Context, _ any) (any, middleware.Metadata, error) {
		return nil, middleware.Metadata{}, do(ctx)
	})
	_, _, err := middleware.DecorateHandler(h, st).Handle(ctx, input)
	return err
}

// sign makes the URL: x-id and X-Amz-Expires in the query, then SigV4's query
// parameters, with the payload unsigned and the path signed as it is sent.
func (s *Signer) sign(ctx context.Context, op, key string, ttl time.Duration) (core.SignedURL, error) {
	creds, ttl, err := SigningCredentials(ctx, s.cfg.Credentials, s.now, op, key, ttl)
	if err != nil {
		return core.SignedURL{}, err
	}
	u := s.objectURL(key)
	// x-id names the operation, as in the SDK's URLs (S3 ignores it).
	u.RawQuery = url.Values{
		"x-id":          {Operation},
		"X-Amz-Expires": {strconv.FormatInt(int64(ttl/time.Second), 10)},
	}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return core.SignedURL{}, core.ErrInternal(err, "%s %s", op, key)
	}
	signedURL, _, err := s.signer.PresignHTTP(ctx, creds, req, "UNSIGNED-PAYLOAD", "s3", s.cfg.Region, s.now(),
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err != nil {
		return core.SignedURL{}, core.ErrInternal(err, "%s %s", op, key)
	}
	exp, err := ExpiresAt(signedURL)
	if err != nil {
		return core.SignedURL{}, core.ErrInternal(err, "%s %s", op, key)
	}
	return core.SignedURL{URL: signedURL, ExpiresAt: exp}, nil
}

// objectURL is the URL of key's object: the bucket's, then the key, its
// path escaped as S3 signs it.
func (s *Signer) objectURL(key string) url.URL {
	u := s.base
	u.Path += "/" + key
	u.RawPath = s.base.EscapedPath() + "/" + httpbinding.EscapePath(key, false)
	return u
}

// CheckKey refuses an object key S3 would refuse: empty, longer than
// MaxKeyLen bytes, not UTF-8, or holding a control character.
func CheckKey(op, key string) error {
	if key == "" || len(key) > MaxKeyLen || !utf8.ValidString(key) {
		return core.ErrInvalid("%s: object key must be 1 to %d bytes of UTF-8", op, MaxKeyLen)
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			return core.ErrInvalid("%s: object key holds a control character", op)
		}
	}
	return nil
}

// SigningCredentials retrieves the credentials that sign a URL of validity
// ttl, and the validity capped so that the URL expires CredentialMargin
// before they do. The caller signs with exactly these credentials, so that
// a refresh between the check and the signature cannot swap them.
func SigningCredentials(ctx context.Context, p aws.CredentialsProvider, now func() time.Time, op, key string, ttl time.Duration) (aws.Credentials, time.Duration, error) {
	creds, err := p.Retrieve(ctx)
	if err != nil {
		return aws.Credentials{}, 0, awserr.S3.Translate(err, "%s %s: retrieve signing credentials", op, key)
	}
	if creds.CanExpire {
		left := creds.Expires.Sub(now()) - CredentialMargin
		if left < core.MinURLTTL {
			return aws.Credentials{}, 0, core.ErrUnavailable(fmt.Errorf("credentials expire at %s", creds.Expires.UTC().Format(time.RFC3339)),
				"%s %s: signing credentials expire too soon", op, key)
		}
		ttl = min(ttl, left)
	}
	return creds, ttl, nil
}

// ExpiresAt reads the instant S3 will refuse a presigned URL from: its
// X-Amz-Date plus X-Amz-Expires seconds. Errors never quote the URL.
func ExpiresAt(rawURL string) (time.Time, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return time.Time{}, errors.New("presigned url does not parse")
	}
	q := u.Query()
	date, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil {
		return time.Time{}, errors.New("presigned url has no valid X-Amz-Date")
	}
	secs, err := strconv.ParseInt(q.Get("X-Amz-Expires"), 10, 64)
	if err != nil || secs <= 0 {
		return time.Time{}, errors.New("presigned url has no valid X-Amz-Expires")
	}
	return date.Add(time.Duration(secs) * time.Second).UTC(), nil
}

// TombstoneMetadata is the user metadata (x-amz-meta-medshare-tombstone: 1)
// of the empty object that Delete leaves at a deleted key (s3blob's
// Delete writes the same).
const TombstoneMetadata = "medshare-tombstone"

// PutObject is the input of Delete's request, as the middleware stack's
// Initialize step sees it (the IAM test reads the bucket and key there).
type PutObject struct {
	Bucket, Key string
}

// emptySHA256 is the hex SHA-256 of the empty body, the payload hash of a
// tombstone's PUT.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// Delete replaces the object at key with an empty tombstone, as s3blob's
// Delete does (see its package comment): one unconditional PutObject with
// the tombstone's metadata, made as a plain SigV4-signed request with
// the function's credentials, and retried as the SDK's standard retryer
// says (Config.Retryer). Deleting an absent or deleted key writes a
// tombstone all the same.
func (s *Signer) Delete(ctx context.Context, key string) error {
	const op = "delete object"
	if err := CheckKey(op, key); err != nil {
		return err
	}
	err := s.run(ctx, "PutObject", "PutObject", &PutObject{Bucket: s.cfg.Bucket, Key: key}, func(ctx context.Context) error {
		r := s.retryer()
		for attempt := 1; ; attempt++ {
			err := s.putTombstone(ctx, key)
			if err == nil || attempt >= r.MaxAttempts() || !r.IsErrorRetryable(err) {
				return err
			}
			delay, derr := r.RetryDelay(attempt, err)
			if derr != nil {
				return err
			}
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
	})
	if err != nil {
		return awserr.S3.Translate(err, "%s %s", op, key)
	}
	return nil
}

func (s *Signer) retryer() aws.Retryer {
	if s.cfg.Retryer != nil {
		return s.cfg.Retryer()
	}
	return retry.NewStandard()
}

// putTombstone sends the tombstone's PUT once. An answer other than 2xx
// is an error that carries S3's status and error code (awserr reads
// them).
func (s *Signer) putTombstone(ctx context.Context, key string) error {
	creds, err := s.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return err
	}
	u := s.objectURL(key)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.String(), http.NoBody)
	if err != nil {
		return err
	}
	req.ContentLength = 0
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("X-Amz-Meta-"+TombstoneMetadata, "1")
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	if err := s.signer.SignHTTP(ctx, creds, req, emptySHA256, "s3", s.cfg.Region, s.now(),
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }); err != nil {
		return err
	}
	resp, err := s.httpClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	var answer struct{ Code, Message string }
	_ = xml.Unmarshal(body, &answer)
	if answer.Code == "" {
		answer.Code = http.StatusText(resp.StatusCode)
	}
	return &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: resp},
		Err:      &smithy.GenericAPIError{Code: answer.Code, Message: answer.Message},
	}
}

func (s *Signer) httpClient() interface {
	Do(*http.Request) (*http.Response, error)
} {
	if s.cfg.HTTPClient != nil {
		return s.cfg.HTTPClient
	}
	return http.DefaultClient
}

// notLinked is the error of the blob methods a presign-only function does
// not link.
func notLinked(op string) error {
	return core.ErrInternal(errors.New("this function links only presigned downloads (s3presign), not the S3 client"), "%s", op)
}

// PresignPut is not linked: see the package comment.
func (s *Signer) PresignPut(context.Context, string, int64, []byte, string, time.Duration) (core.Upload, error) {
	return core.Upload{}, notLinked("presign upload")
}

// Stat is not linked: see the package comment.
func (s *Signer) Stat(context.Context, string) (core.BlobInfo, error) {
	return core.BlobInfo{}, notLinked("stat object")
}

// Ping is not linked: see the package comment.
func (s *Signer) Ping(context.Context) error { return notLinked("ping s3") }
