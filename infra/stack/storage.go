package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
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
// younger than MaxSignatureAge, versioned, and logged to the logs bucket.
// Its lifecycle aborts incomplete multipart uploads after a day and removes
// object versions that were deleted or overwritten after
// noncurrentDays: the cleanup job deletes abandoned staged uploads (it knows
// them from the table), and their versions then go too. CORS lets the
// origins given (browser apps) send the presigned PUTs and GETs.
func NewStorage(scope constructs.Construct, id string, key awskms.IKey, corsOrigins []string, noncurrentDays int) *Storage {
	c := constructs.NewConstruct(scope, jsii.String(id))
	s := &Storage{Construct: c}
	s.Logs = awss3.NewBucket(c, jsii.String("AccessLogs"), &awss3.BucketProps{
		// Server access logs can only be delivered to a bucket encrypted with
		// S3-managed keys.
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		EnforceSSL:        jsii.Bool(true),
		Versioned:         jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                          jsii.String("expire-access-logs"),
			Expiration:                  awscdk.Duration_Days(jsii.Number(365)),
			NoncurrentVersionExpiration: awscdk.Duration_Days(jsii.Number(30)),
		}},
	})
	var cors *[]*awss3.CorsRule
	if len(corsOrigins) > 0 {
		cors = &[]*awss3.CorsRule{{
			AllowedOrigins: jsii.Strings(corsOrigins...),
			AllowedMethods: &[]awss3.HttpMethods{awss3.HttpMethods_PUT, awss3.HttpMethods_GET},
			// A presigned PUT signs Content-Type and x-amz-checksum-sha256
			// (s3blob.PresignPut); the browser must be allowed to send them.
			AllowedHeaders: jsii.Strings("content-type", "x-amz-*"),
			ExposedHeaders: jsii.Strings("ETag"),
			MaxAge:         jsii.Number(3000),
		}}
	}
	s.Bucket = awss3.NewBucket(c, jsii.String("Objects"), &awss3.BucketProps{
		Encryption:             awss3.BucketEncryption_KMS,
		EncryptionKey:          key,
		BucketKeyEnabled:       jsii.Bool(true),
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		EnforceSSL:             jsii.Bool(true),
		MinimumTLSVersion:      jsii.Number(1.2),
		Versioned:              jsii.Bool(true),
		ServerAccessLogsBucket: s.Logs,
		ServerAccessLogsPrefix: jsii.String("objects/"),
		RemovalPolicy:          awscdk.RemovalPolicy_RETAIN,
		Cors:                   cors,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                                  jsii.String("remove-abandoned-uploads-and-old-versions"),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
			NoncurrentVersionExpiration:         awscdk.Duration_Days(jsii.Number(float64(noncurrentDays))),
			ExpiredObjectDeleteMarker:           jsii.Bool(true),
		}},
	})
	s.Bucket.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("DenySignaturesOlderThanAnHour"),
		Effect:     awsiam.Effect_DENY,
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings("s3:*"),
		Resources:  jsii.Strings(*s.Bucket.BucketArn(), *s.Bucket.ArnForObjects(jsii.String("*"))),
		Conditions: &map[string]any{
			"NumericGreaterThan": map[string]any{"s3:signatureAge": MaxSignatureAge},
		},
	}))
	s.Bucket.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("DenyAnythingButSigV4"),
		Effect:     awsiam.Effect_DENY,
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings("s3:*"),
		Resources:  jsii.Strings(*s.Bucket.BucketArn(), *s.Bucket.ArnForObjects(jsii.String("*"))),
		Conditions: &map[string]any{
			"StringNotEquals": map[string]any{"s3:signatureversion": "AWS4-HMAC-SHA256"},
		},
	}))
	return s
}
