package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// MaxSignatureAge is the oldest signature the bucket accepts (s3:signatureAge,
// in milliseconds): one hour, the longest URL the service hands out
// (MEDSHARE_CHAT_URL_TTL's default; uploads live 15 minutes). It is a
// backstop behind the URLs' own expiry: a URL signed with a longer expiry,
// by a misconfiguration or by anyone with the role's credentials, stops
// working after an hour all the same.
const MaxSignatureAge = 60 * 60 * 1000

// TombstoneDays is how long the empty tombstone that s3blob.Delete leaves at
// a deleted key lives before the lifecycle expires it: longer than any URL
// of the key can be used (MaxSignatureAge).
const TombstoneDays = 1

// Storage is the bucket of objects (photo ciphertexts, chat images) and the
// bucket of its access logs.
type Storage struct {
	constructs.Construct
	Bucket awss3.Bucket
	Logs   awss3.Bucket
}

// NewStorage creates the buckets. The objects' bucket is private (every
// public access blocked, ACLs disabled), encrypted with the data key (SSE-KMS,
// with an S3 Bucket Key), reachable only over TLS with SigV4 signatures
// younger than MaxSignatureAge, refusing writes that ask for another
// encryption (denyOtherEncryption), versioned, and logged to the logs bucket.
// Its lifecycle aborts incomplete multipart uploads after a day, removes
// object versions that were deleted or overwritten after noncurrentDays (the
// cleanup job deletes abandoned staged uploads: it knows them from the
// table, and their versions then go too), and expires the tombstones of
// deleted keys after TombstoneDays. CORS lets the
// origins given (browser apps) send the presigned PUTs and GETs.
func NewStorage(scope constructs.Construct, id string, key awskms.IKey, corsOrigins []string, noncurrentDays int) *Storage {
	c := constructs.NewConstruct(scope, jsii.String(id))
	s := &Storage{Construct: c}
	s.Logs = newBucket(c, "AccessLogs", awss3.BucketProps{
		// Server access logs can only be delivered to a bucket encrypted with
		// S3-managed keys.
		Encryption:     awss3.BucketEncryption_S3_MANAGED,
		LifecycleRules: expireLogs("expire-access-logs"),
	})
	var cors *[]*awss3.CorsRule
	if len(corsOrigins) > 0 {
		cors = &[]*awss3.CorsRule{{
			AllowedOrigins: jsii.Strings(corsOrigins...),
			AllowedMethods: &[]awss3.HttpMethods{awss3.HttpMethods_PUT, awss3.HttpMethods_GET},
			// A presigned PUT signs Content-Type, x-amz-checksum-sha256 and
			// If-None-Match (s3blob.PresignPut); the browser must be allowed
			// to send them.
			AllowedHeaders: jsii.Strings("content-type", "if-none-match", "x-amz-*"),
			ExposedHeaders: jsii.Strings("ETag"),
			MaxAge:         jsii.Number(3000),
		}}
	}
	s.Bucket = newBucket(c, "Objects", awss3.BucketProps{
		Encryption:             awss3.BucketEncryption_KMS,
		EncryptionKey:          key,
		BucketKeyEnabled:       jsii.Bool(true),
		MinimumTLSVersion:      jsii.Number(1.2),
		ServerAccessLogsBucket: s.Logs,
		ServerAccessLogsPrefix: jsii.String("objects/"),
		Cors:                   cors,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                                  jsii.String("remove-abandoned-uploads-and-old-versions"),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
			NoncurrentVersionExpiration:         awscdk.Duration_Days(jsii.Number(float64(noncurrentDays))),
			ExpiredObjectDeleteMarker:           jsii.Bool(true),
		}, {
			// The empty objects are the tombstones of deleted keys
			// (s3blob.Delete): the service never stages an empty upload.
			// A tombstone refuses its key's upload URLs, none of which
			// outlives an hour (MaxSignatureAge), so a day is plenty.
			Id:                 jsii.String("expire-tombstones"),
			ObjectSizeLessThan: jsii.Number(1),
			Expiration:         awscdk.Duration_Days(jsii.Number(TombstoneDays)),
		}},
	})
	everything := jsii.Strings(*s.Bucket.BucketArn(), *s.Bucket.ArnForObjects(jsii.String("*")))
	s.Bucket.AddToResourcePolicy(denyEveryone("DenySignaturesOlderThanAnHour", jsii.Strings("s3:*"), everything, map[string]any{
		"NumericGreaterThan": map[string]any{"s3:signatureAge": MaxSignatureAge},
	}))
	s.Bucket.AddToResourcePolicy(denyEveryone("DenyAnythingButSigV4", jsii.Strings("s3:*"), everything, map[string]any{
		"StringNotEquals": map[string]any{"s3:signatureversion": "AWS4-HMAC-SHA256"},
	}))
	s.denyOtherEncryption(key)
	return s
}

// S3 condition keys of the encryption a PutObject (or a CopyObject, or a
// CreateMultipartUpload, which S3 authorizes as s3:PutObject) asks for.
const (
	condSSE         = "s3:x-amz-server-side-encryption"
	condSSEKey      = "s3:x-amz-server-side-encryption-aws-kms-key-id"
	condSSECustomer = "s3:x-amz-server-side-encryption-customer-algorithm"
)

// denyOtherEncryption refuses writes that ask for an encryption other than
// the bucket's default, SSE-KMS with the data key. A request that asks for
// none gets the default, and that is what the service's presigned PUTs do:
// they sign Content-Length, Content-Type and x-amz-checksum-sha256 and no
// x-amz-server-side-encryption* header (s3blob.PresignPut).
//
// Each denial is guarded by a Null check that the header is present. The
// ...IfExists operators would not do: IfExists makes a condition true when
// its key is absent, so a Deny with StringNotEqualsIfExists (and as much
// with a plain StringNotEquals, a negated operator, which also holds on an
// absent key) would refuse exactly the requests that rely on the default.
//
//   - an algorithm other than aws:kms (AES256, aws:kms:dsse);
//   - a KMS key other than the data key, by ARN (the form S3 compares; a
//     key named by id or alias is refused too);
//   - aws:kms without a key id, which S3 would encrypt with the AWS managed
//     key aws/s3 rather than the bucket's;
//   - a customer-provided key (SSE-C), which S3 does not keep.
func (s *Storage) denyOtherEncryption(key awskms.IKey) {
	objects := jsii.Strings(*s.Bucket.ArnForObjects(jsii.String("*")))
	present := func(keys ...string) map[string]any {
		m := map[string]any{}
		for _, k := range keys {
			m[k] = "false"
		}
		return m
	}
	deny := func(sid string, cond map[string]any) {
		s.Bucket.AddToResourcePolicy(denyEveryone(sid, jsii.Strings("s3:PutObject"), objects, cond))
	}
	deny("DenyPutWithAnotherEncryption", map[string]any{
		"StringNotEquals": map[string]any{condSSE: "aws:kms"},
		"Null":            present(condSSE),
	})
	deny("DenyPutWithAnotherKey", map[string]any{
		"StringNotEquals": map[string]any{condSSEKey: *key.KeyArn()},
		"Null":            present(condSSEKey),
	})
	deny("DenyPutWithTheAWSManagedKey", map[string]any{
		"Null": map[string]any{condSSE: "false", condSSEKey: "true"},
	})
	deny("DenyPutWithACustomerKey", map[string]any{
		"Null": present(condSSECustomer),
	})
}
