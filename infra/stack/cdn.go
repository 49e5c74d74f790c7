package stack

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfrontorigins"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudfront"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/medshare/medshare/shared/blob/cdnblob"
	"github.com/medshare/medshare/shared/runtime/lambdafn"
)

// ChatCDNFunction is the one function that signs chat images' CloudFront
// URLs, and the only one that may read the signing key.
const ChatCDNFunction = "chat-signed-url"

// ChatCDNProps are what the chat images' distribution serves and signs for.
type ChatCDNProps struct {
	Bucket  awss3.Bucket // the objects' bucket; the distribution reads lambdafn.ChatPrefix only
	DataKey awskms.Key   // the bucket's encryption key
	// AccessLogs receives the log bucket's own server access logs.
	AccessLogs awss3.IBucket
	// Signer is the function that hands out the URLs (ChatCDNFunction).
	Signer *Function
	// PublicKeys are the public keys of the key group, in PEM, the current
	// one first (Config.ChatCDNPublicKeys).
	PublicKeys  []string
	CORSOrigins []string
}

// ChatCDN serves chat images through CloudFront (issue 14 §4): a
// distribution in front of the private bucket that reads, with origin
// access control, only the objects under lambdafn.ChatPrefix (its origin path) and
// serves only requests signed by a key of its key group; the secret that
// holds the signing key, encrypted with a key of its own, readable by the
// signer only; and the distribution's access logs. Photos' ciphertexts stay
// on presigned S3 GETs (docs/DECISIONS.md says why).
type ChatCDN struct {
	constructs.Construct
	Distribution awscloudfront.Distribution
	KeyGroup     awscloudfront.KeyGroup
	PublicKeys   []awscloudfront.PublicKey // in the order of ChatCDNProps.PublicKeys
	Headers      awscloudfront.ResponseHeadersPolicy
	SecretKey    awskms.Key
	Secret       awssecretsmanager.Secret
	Logs         awss3.Bucket
	// ReadKey is the signer's permission to read the secret.
	ReadKey awsiam.ManagedPolicy
}

// NewChatCDN creates the distribution, the key group, the secret and their
// permissions, and gives the signer the environment that turns its
// CloudFront URLs on (cdnblob.EnvDomain, cdnblob.EnvKeySecret).
func NewChatCDN(scope constructs.Construct, id string, p ChatCDNProps) *ChatCDN {
	c := constructs.NewConstruct(scope, jsii.String(id))
	st := awscdk.Stack_Of(c)
	cdn := &ChatCDN{Construct: c}

	for _, pem := range p.PublicKeys {
		// The construct id follows the key, not its role: when the next
		// key becomes the current one, each key keeps its resource and
		// CloudFront's id for it, which the secret names.
		fp, err := publicKeyFingerprint(pem)
		if err != nil {
			panic(err) // ParseConfig checked the keys
		}
		cdn.PublicKeys = append(cdn.PublicKeys, awscloudfront.NewPublicKey(c, jsii.String("PublicKey"+fp[:12]), &awscloudfront.PublicKeyProps{
			EncodedKey: jsii.String(pem),
			Comment:    jsii.String("MedShare chat images: signs their CloudFront URLs (sha256 " + fp[:16] + ")"),
		}))
	}
	var keys []interfacesawscloudfront.IPublicKeyRef
	for _, k := range cdn.PublicKeys {
		keys = append(keys, k)
	}
	cdn.KeyGroup = awscloudfront.NewKeyGroup(c, jsii.String("KeyGroup"), &awscloudfront.KeyGroupProps{
		Items:   &keys,
		Comment: jsii.String("MedShare chat images: the keys whose signed URLs the distribution serves"),
	})

	// CloudFront's standard logs are delivered through an ACL, so their
	// bucket has ACLs enabled for the log delivery account, and SSE-S3.
	cdn.Logs = newBucket(c, "Logs", awss3.BucketProps{
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_PREFERRED,
		ServerAccessLogsBucket: p.AccessLogs,
		ServerAccessLogsPrefix: jsii.String("cdn-logs/"),
		LifecycleRules:         expireLogs("expire-cdn-logs"),
	})

	security := &awscloudfront.ResponseSecurityHeadersBehavior{
		ContentTypeOptions: &awscloudfront.ResponseHeadersContentTypeOptions{Override: jsii.Bool(true)},
		FrameOptions:       &awscloudfront.ResponseHeadersFrameOptions{FrameOption: awscloudfront.HeadersFrameOption_DENY, Override: jsii.Bool(true)},
		ReferrerPolicy:     &awscloudfront.ResponseHeadersReferrerPolicy{ReferrerPolicy: awscloudfront.HeadersReferrerPolicy_NO_REFERRER, Override: jsii.Bool(true)},
		StrictTransportSecurity: &awscloudfront.ResponseHeadersStrictTransportSecurity{
			AccessControlMaxAge: awscdk.Duration_Days(jsii.Number(365)), IncludeSubdomains: jsii.Bool(true), Override: jsii.Bool(true),
		},
		// An image is never a document: nothing in it may run or load.
		ContentSecurityPolicy: &awscloudfront.ResponseHeadersContentSecurityPolicy{ContentSecurityPolicy: jsii.String("default-src 'none'; sandbox"), Override: jsii.Bool(true)},
	}
	headers := &awscloudfront.ResponseHeadersPolicyProps{
		Comment:                 jsii.String("MedShare chat images: security headers"),
		SecurityHeadersBehavior: security,
		// A signed URL stays in the browser's cache no longer than it lives.
		CustomHeadersBehavior: &awscloudfront.ResponseCustomHeadersBehavior{CustomHeaders: &[]*awscloudfront.ResponseCustomHeader{{
			Header: jsii.String("Cache-Control"), Value: jsii.String("private, max-age=3600"), Override: jsii.Bool(true),
		}}},
	}
	if len(p.CORSOrigins) > 0 {
		headers.CorsBehavior = &awscloudfront.ResponseHeadersCorsBehavior{
			AccessControlAllowCredentials: jsii.Bool(false),
			AccessControlAllowHeaders:     jsii.Strings("*"),
			AccessControlAllowMethods:     jsii.Strings("GET", "HEAD"),
			AccessControlAllowOrigins:     jsii.Strings(p.CORSOrigins...),
			OriginOverride:                jsii.Bool(true),
		}
	}
	cdn.Headers = awscloudfront.NewResponseHeadersPolicy(c, jsii.String("Headers"), headers)

	oac := awscloudfront.NewS3OriginAccessControl(c, jsii.String("OriginAccess"), &awscloudfront.S3OriginAccessControlProps{
		Description: jsii.String("MedShare chat images: CloudFront signs every request to the bucket"),
		Signing:     awscloudfront.Signing_SIGV4_ALWAYS(),
	})
	// The origin is a reference to the bucket, so that the CDK's own grant
	// (every object, and the data key for every distribution of the
	// account) is not added; the grants below are scoped to lambdafn.ChatPrefix and
	// to this distribution.
	ref := awss3.Bucket_FromBucketAttributes(c, jsii.String("ObjectsRef"), &awss3.BucketAttributes{
		BucketArn:                p.Bucket.BucketArn(),
		BucketName:               p.Bucket.BucketName(),
		BucketRegionalDomainName: p.Bucket.BucketRegionalDomainName(),
	})
	origin := awscloudfrontorigins.S3BucketOrigin_WithOriginAccessControl(ref, &awscloudfrontorigins.S3BucketOriginWithOACProps{
		OriginAccessControl: oac,
		OriginPath:          jsii.String("/" + strings.TrimSuffix(lambdafn.ChatPrefix, "/")),
	})
	cdn.Distribution = awscloudfront.NewDistribution(c, jsii.String("Distribution"), &awscloudfront.DistributionProps{
		Comment: jsii.String("MedShare chat images (signed URLs only)"),
		DefaultBehavior: &awscloudfront.BehaviorOptions{
			Origin:                origin,
			ViewerProtocolPolicy:  awscloudfront.ViewerProtocolPolicy_HTTPS_ONLY,
			AllowedMethods:        awscloudfront.AllowedMethods_ALLOW_GET_HEAD(),
			CachedMethods:         awscloudfront.CachedMethods_CACHE_GET_HEAD(),
			CachePolicy:           awscloudfront.CachePolicy_CACHING_OPTIMIZED(),
			TrustedKeyGroups:      &[]interfacesawscloudfront.IKeyGroupRef{cdn.KeyGroup},
			ResponseHeadersPolicy: cdn.Headers,
		},
		HttpVersion:   awscloudfront.HttpVersion_HTTP2_AND_3,
		EnableLogging: jsii.Bool(true),
		LogBucket:     cdn.Logs,
		LogFilePrefix: jsii.String("chat-images/"),
	})
	awscdk.Annotations_Of(c).AcknowledgeWarning(jsii.String("@aws-cdk/aws-cloudfront-origins:updateImportedBucketPolicyOac"),
		jsii.String("the bucket policy below grants this distribution the chat images only"))

	distributionArn := st.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("cloudfront"), Region: jsii.String(""), Resource: jsii.String("distribution"),
		ResourceName: cdn.Distribution.DistributionId(),
	})
	p.Bucket.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("ChatImagesThroughTheDistributionOnly"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudfront.amazonaws.com"), nil)},
		Actions:    jsii.Strings("s3:GetObject"),
		Resources:  jsii.Strings(*p.Bucket.ArnForObjects(jsii.String(lambdafn.ChatPrefix + "*"))),
		Conditions: &map[string]any{"StringEquals": map[string]any{"AWS:SourceArn": distributionArn}},
	}))
	// S3 decrypts the object with CloudFront's permission. The key policy
	// can name neither this distribution nor the bucket (the key would
	// depend on them, and they on the key), so it names the account's
	// distributions, through S3; the bucket policy above names this one,
	// and this key encrypts no other bucket.
	p.DataKey.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudFrontReadsChatImagesThroughS3"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudfront.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{
			"StringEquals": map[string]any{"kms:ViaService": "s3." + *st.Region() + ".amazonaws.com"},
			"ArnLike":      map[string]any{"AWS:SourceArn": "arn:" + *st.Partition() + ":cloudfront::" + *st.Account() + ":distribution/*"},
		},
	}), jsii.Bool(false))

	cdn.SecretKey = newKey(c, "SecretKey", awskms.KeyProps{
		Description: jsii.String("MedShare chat images: encrypts the CloudFront signing key's secret"),
	})
	// CloudFormation cannot create the key pair; the secret starts with a
	// generated value that holds no key, and `medshare cdn-key put` stores
	// the key (docs/DEPLOY.md).
	cdn.Secret = awssecretsmanager.NewSecret(c, jsii.String("SigningKey"), &awssecretsmanager.SecretProps{
		Description:   jsii.String("MedShare chat images: the CloudFront signing key, {key_pair_id, private_key} (medshare cdn-key put)"),
		EncryptionKey: cdn.SecretKey,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	region := *st.Region()
	cdn.ReadKey = awsiam.NewManagedPolicy(c, jsii.String("SignerReadsKey"), &awsiam.ManagedPolicyProps{
		Description: jsii.String("MedShare function " + ChatCDNFunction + ": read the CloudFront signing key, once per cold start"),
		Roles:       &[]awsiam.IRole{p.Signer.Role},
		Statements: &[]awsiam.PolicyStatement{
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions:   jsii.Strings("secretsmanager:GetSecretValue"),
				Resources: jsii.Strings(*cdn.Secret.SecretArn()),
			}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions:    jsii.Strings("kms:Decrypt"),
				Resources:  jsii.Strings(*cdn.SecretKey.KeyArn()),
				Conditions: &map[string]any{"StringEquals": map[string]any{"kms:ViaService": "secretsmanager." + region + ".amazonaws.com"}},
			}),
		},
	})
	p.Signer.Fn.AddEnvironment(jsii.String(cdnblob.EnvDomain), cdn.Distribution.DistributionDomainName(), nil)
	p.Signer.Fn.AddEnvironment(jsii.String(cdnblob.EnvKeySecret), cdn.Secret.SecretArn(), nil)
	// The first cold start reads the secret: the permission comes first.
	p.Signer.Fn.Node().AddDependency(cdn.ReadKey)
	cdn.suppress()
	return cdn
}

// Why each accepted finding on the chat CDN is accepted.
var (
	whyNoGeoRestriction = "Patients and professionals use the chat from wherever they are; there is no list of countries the " +
		"service could refuse, and every request needs a URL signed for one participant, valid for an hour."
	whyNoCDNWAF = "The distribution serves only requests whose URL is signed by the stack's key (CloudFront refuses the rest at " +
		"the edge, before the origin), for one object, for an hour; a web ACL for CloudFront lives in us-east-1, outside this " +
		"regional stack, and would add a per-request cost without narrowing who can read an image."
	whyDefaultCertificate = "The distribution uses its cloudfront.net domain, whose certificate is CloudFront's own; CloudFront " +
		"fixes the minimum viewer TLS version of that certificate (clients negotiate TLS 1.2 or 1.3 in practice). A custom " +
		"domain with an ACM certificate, which would allow TLSv1.2_2021, is left to the operator (docs/DEPLOY.md)."
	whySigningKeyRotation = "The CloudFront key pair is rotated by the documented procedure (docs/DEPLOY.md): the new public key " +
		"must be in the distribution's key group before its private key signs a URL, and the key group is part of this stack, " +
		"which a Secrets Manager rotation function cannot update."
	whyCDNLogBucketSSES3 = "CloudFront's standard logs are delivered to a bucket with ACLs enabled and S3-managed encryption " +
		"(SSE-S3); they hold request metadata (image ids, IPs), no image data."
)

// What the chat CDN's suppressions accept, on each of its constructs.
var (
	acceptedOnCDNDistribution = accepted{where: "the chat images' distribution", rules: []acceptedRule{
		{"AwsSolutions-CFR1", whyNoGeoRestriction},
		{"AwsSolutions-CFR2", whyNoCDNWAF},
		{"AwsSolutions-CFR4", whyDefaultCertificate},
	}}
	acceptedOnCDNSecret = accepted{where: "the CloudFront signing key's secret", rules: []acceptedRule{
		{"AwsSolutions-SMG4", whySigningKeyRotation},
		{"HIPAA.Security-SecretsManagerRotationEnabled", whySigningKeyRotation},
	}}
	acceptedOnCDNLogs = accepted{where: "the chat images' log bucket", rules: []acceptedRule{
		{"HIPAA.Security-S3BucketReplicationEnabled", whyNoReplication},
		{"HIPAA.Security-S3DefaultEncryptionKMS", whyCDNLogBucketSSES3},
	}}
)

// ChatCDNSuppressions lists what the chat CDN's suppressions accept.
func ChatCDNSuppressions() []Suppression {
	return listAccepted(acceptedOnCDNDistribution, acceptedOnCDNSecret, acceptedOnCDNLogs)
}

func (cdn *ChatCDN) suppress() {
	acceptedOnCDNDistribution.on(cdn.Distribution)
	acceptedOnCDNSecret.on(cdn.Secret)
	acceptedOnCDNLogs.on(cdn.Logs)
}
