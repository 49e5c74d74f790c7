package stack

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfrontorigins"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3deployment"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/medshare/medshare/shared/httpapi/portal"
)

// PortalProps are what the portal is built from.
type PortalProps struct {
	// Dir is the built portal (web/dist): index.html and its files.
	Dir string
	// Objects is the bucket the signed URLs point at; the portal's origin
	// is added to its CORS rules.
	Objects awss3.Bucket
	// AccessLogs receives the server access logs of the portal's buckets.
	AccessLogs awss3.IBucket
	// LogsKey and LogRetention are those of the deployment function's log
	// group, as of every log group of the stack.
	LogsKey      awskms.IKey
	LogRetention awslogs.RetentionDays
	// DomainPrefix is the Cognito hosted UI's domain prefix
	// (https://<prefix>.auth.<region>.amazoncognito.com).
	DomainPrefix string
	// ChatCDN says that chat images are served by CloudFront (the stack's
	// ChatCDN), whose signed URLs the page shows: the CSP allows its
	// domain (Configure is given the distribution).
	ChatCDN bool
}

// Portal hosts the browser portal: a private bucket (every public access
// blocked) read only by CloudFront through origin access control, with the
// portal's security headers as response-headers policies (Headers for
// everything, AssetHeaders for the content-hashed files under assets/,
// which may be cached for a year); and, once the API exists (Configure),
// the bundle and its config.json deployed into the bucket.
//
// Sign-in is the Cognito hosted UI: AddClient makes the portal's user-pool
// app client, a public client (no secret) with the authorization-code flow
// only (the portal sends a PKCE S256 challenge), whose callback and logout
// URL is the portal's.
//
// The CSP cannot name the API's and the bucket's origins in the header:
// the API's CORS and the bucket's CORS name the portal's origin (the
// distribution's domain), so a header naming theirs would make the
// distribution and the API depend on each other. The header allows their
// kind in the stack's region (https://*.execute-api.<region>.amazonaws.com,
// https://*.s3.<region>.amazonaws.com) and index.html carries, written at
// deploy time, the same policy with their exact origins in a <meta> element
// (portal.CSPMeta): a browser enforces both, so the page may reach exactly
// the API, the bucket and the hosted UI.
type Portal struct {
	constructs.Construct
	Bucket       awss3.Bucket
	Logs         awss3.Bucket
	Distribution awscloudfront.Distribution
	Headers      awscloudfront.ResponseHeadersPolicy
	AssetHeaders awscloudfront.ResponseHeadersPolicy
	// Domain and Client are the hosted UI and the portal's app client;
	// nil with an external issuer.
	Domain     awscognito.UserPoolDomain
	Client     awscognito.UserPoolClient
	Deployment awss3deployment.BucketDeployment
	// DeployRole is the role of the deployment's handler (aws-cdk-lib's
	// singleton function), with exactly DeployPolicy.
	DeployRole   awsiam.Role
	DeployPolicy awsiam.ManagedPolicy

	props PortalProps
}

// PortalRefreshTokenHours is how long a refresh token of the portal's
// client lives: a browser keeps its tokens in memory or sessionStorage, so
// a working day, not the apps' week.
const PortalRefreshTokenHours = 12

// PortalScopes are the OAuth scopes the portal asks for (AddClient allows
// exactly these).
var PortalScopes = []string{"openid", "email", "profile"}

// NewPortal creates the bucket, the distribution and its headers.
func NewPortal(scope constructs.Construct, id string, p PortalProps) *Portal {
	c := constructs.NewConstruct(scope, jsii.String(id))
	st := awscdk.Stack_Of(c)
	pt := &Portal{Construct: c, props: p}
	pt.Bucket = newBucket(c, "Bundle", awss3.BucketProps{
		// The bundle is the portal's code, which CloudFront hands to anyone:
		// no PHI, nothing a customer key would protect (see Suppressions).
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		MinimumTLSVersion:      jsii.Number(1.2),
		ServerAccessLogsBucket: p.AccessLogs,
		ServerAccessLogsPrefix: jsii.String("portal/"),
		LifecycleRules:         expireOldVersions("expire-old-bundles"),
	})
	// CloudFront's standard logs are written with an ACL: their bucket
	// must let the object writer own what it writes.
	pt.Logs = newBucket(c, "CdnLogs", awss3.BucketProps{
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		ObjectOwnership:        awss3.ObjectOwnership_OBJECT_WRITER,
		ServerAccessLogsBucket: p.AccessLogs,
		ServerAccessLogsPrefix: jsii.String("portal-cdn-logs/"),
		LifecycleRules:         expireLogs("expire-cdn-logs"),
	})

	region := *st.Region()
	headerOrigins := portal.Origins{
		Media:   []string{"https://*.s3." + region + ".amazonaws.com"},
		Connect: []string{"https://*.execute-api." + region + ".amazonaws.com"},
	}
	if p.ChatCDN {
		headerOrigins.Media = append(headerOrigins.Media, "https://*.cloudfront.net")
	}
	if p.DomainPrefix != "" {
		headerOrigins.Connect = append(headerOrigins.Connect, cognitoOrigin(p.DomainPrefix, region))
	}
	pt.Headers = headersPolicy(c, "Headers", headerOrigins, portal.CacheNone)
	pt.AssetHeaders = headersPolicy(c, "AssetHeaders", headerOrigins, portal.CacheImmutable)
	origin := awscloudfrontorigins.S3BucketOrigin_WithOriginAccessControl(pt.Bucket, nil)
	pt.Distribution = awscloudfront.NewDistribution(c, jsii.String("Cdn"), &awscloudfront.DistributionProps{
		Comment:           jsii.String("MedShare portal"),
		DefaultRootObject: jsii.String("index.html"),
		DefaultBehavior: &awscloudfront.BehaviorOptions{
			Origin:               origin,
			ViewerProtocolPolicy: awscloudfront.ViewerProtocolPolicy_REDIRECT_TO_HTTPS,
			// index.html and config.json change with every deploy, and
			// are never stored by a cache (portal.CacheControl).
			CachePolicy:           awscloudfront.CachePolicy_CACHING_DISABLED(),
			ResponseHeadersPolicy: pt.Headers,
			AllowedMethods:        awscloudfront.AllowedMethods_ALLOW_GET_HEAD(),
		},
		AdditionalBehaviors: &map[string]*awscloudfront.BehaviorOptions{
			"/" + portal.AssetsDir + "*": {
				Origin:                origin,
				ViewerProtocolPolicy:  awscloudfront.ViewerProtocolPolicy_REDIRECT_TO_HTTPS,
				CachePolicy:           awscloudfront.CachePolicy_CACHING_OPTIMIZED(),
				ResponseHeadersPolicy: pt.AssetHeaders,
				AllowedMethods:        awscloudfront.AllowedMethods_ALLOW_GET_HEAD(),
			},
		},
		HttpVersion: awscloudfront.HttpVersion_HTTP2_AND_3,
		// No MinimumProtocolVersion: with the default *.cloudfront.net
		// certificate CloudFront fixes it, and the CDK ignores one (with a
		// warning); a custom domain and certificate are the operator's.
		PriceClass:    awscloudfront.PriceClass_PRICE_CLASS_100,
		EnableLogging: jsii.Bool(true),
		LogBucket:     pt.Logs,
		LogFilePrefix: jsii.String("cdn/"),
	})
	// The browser sends the ciphertexts and chat images it uploads, and
	// reads the ones it decrypts, straight to and from the bucket. A
	// presigned PUT signs Content-Type, x-amz-checksum-sha256 and
	// If-None-Match (write-once uploads: s3blob.PresignPut), which the
	// browser must be allowed to send, as in the stack's own CORS rule
	// (NewStorage).
	p.Objects.AddCorsRule(&awss3.CorsRule{
		Id:             jsii.String("portal"),
		AllowedOrigins: jsii.Strings(*pt.Origin()),
		AllowedMethods: &[]awss3.HttpMethods{awss3.HttpMethods_PUT, awss3.HttpMethods_GET},
		AllowedHeaders: jsii.Strings("content-type", "if-none-match", "x-amz-*"),
		ExposedHeaders: jsii.Strings("ETag"),
		MaxAge:         jsii.Number(3000),
	})
	return pt
}

// cognitoOrigin is the hosted UI's origin for a domain prefix.
func cognitoOrigin(prefix, region string) string {
	return "https://" + prefix + ".auth." + region + ".amazoncognito.com"
}

// headersPolicy is a response-headers policy with the portal's security
// headers (portal.Headers) for origins, HSTS, and the Cache-Control cache.
func headersPolicy(scope constructs.Construct, id string, o portal.Origins, cache string) awscloudfront.ResponseHeadersPolicy {
	custom := []*awscloudfront.ResponseCustomHeader{{Header: jsii.String("Cache-Control"), Value: jsii.String(cache), Override: jsii.Bool(true)}}
	for _, name := range []string{"Cross-Origin-Opener-Policy", "Cross-Origin-Resource-Policy", "Permissions-Policy"} {
		custom = append(custom, &awscloudfront.ResponseCustomHeader{
			Header: jsii.String(name), Value: jsii.String(portal.Headers(o)[name]), Override: jsii.Bool(true),
		})
	}
	return awscloudfront.NewResponseHeadersPolicy(scope, jsii.String(id), &awscloudfront.ResponseHeadersPolicyProps{
		Comment: jsii.String("MedShare portal: the headers of medshare serve (shared/httpapi/portal), Cache-Control " + cache),
		SecurityHeadersBehavior: &awscloudfront.ResponseSecurityHeadersBehavior{
			ContentSecurityPolicy: &awscloudfront.ResponseHeadersContentSecurityPolicy{ContentSecurityPolicy: jsii.String(portal.CSP(o)), Override: jsii.Bool(true)},
			ContentTypeOptions:    &awscloudfront.ResponseHeadersContentTypeOptions{Override: jsii.Bool(true)},
			FrameOptions:          &awscloudfront.ResponseHeadersFrameOptions{FrameOption: awscloudfront.HeadersFrameOption_DENY, Override: jsii.Bool(true)},
			ReferrerPolicy:        &awscloudfront.ResponseHeadersReferrerPolicy{ReferrerPolicy: awscloudfront.HeadersReferrerPolicy_NO_REFERRER, Override: jsii.Bool(true)},
			StrictTransportSecurity: &awscloudfront.ResponseHeadersStrictTransportSecurity{
				AccessControlMaxAge: awscdk.Duration_Days(jsii.Number(365)), IncludeSubdomains: jsii.Bool(true), Override: jsii.Bool(true),
			},
		},
		CustomHeadersBehavior: &awscloudfront.ResponseCustomHeadersBehavior{CustomHeaders: &custom},
	})
}

// Origin is the portal's origin, https://<distribution domain>.
func (pt *Portal) Origin() *string {
	return jsii.String("https://" + *pt.Distribution.DistributionDomainName())
}

// URL is the portal's address: its origin and "/", which is also the
// OAuth callback and logout URL.
func (pt *Portal) URL() *string { return jsii.String(*pt.Origin() + "/") }

// AddClient makes the hosted UI's domain on pool and the portal's app
// client: public (no secret), the authorization-code flow only (no
// implicit flow, no client credentials, no password flows), Cognito users
// only, the portal's URL as its only callback and logout URL, access and ID
// tokens of an hour and refresh tokens of PortalRefreshTokenHours.
func (pt *Portal) AddClient(pool awscognito.UserPool) awscognito.UserPoolClient {
	pt.Domain = awscognito.NewUserPoolDomain(pt.Construct, jsii.String("SignIn"), &awscognito.UserPoolDomainProps{
		UserPool:      pool,
		CognitoDomain: &awscognito.CognitoDomainOptions{DomainPrefix: jsii.String(pt.props.DomainPrefix)},
	})
	scopes := []awscognito.OAuthScope{awscognito.OAuthScope_OPENID(), awscognito.OAuthScope_EMAIL(), awscognito.OAuthScope_PROFILE()}
	pt.Client = awscognito.NewUserPoolClient(pt.Construct, jsii.String("Client"), &awscognito.UserPoolClientProps{
		UserPool:       pool,
		GenerateSecret: jsii.Bool(false),
		// No password or SRP flow: the portal signs in through the hosted
		// UI only; a refresh token renews its tokens.
		AuthFlows: &awscognito.AuthFlow{},
		OAuth: &awscognito.OAuthSettings{
			Flows:        &awscognito.OAuthFlows{AuthorizationCodeGrant: jsii.Bool(true), ImplicitCodeGrant: jsii.Bool(false), ClientCredentials: jsii.Bool(false)},
			Scopes:       &scopes,
			CallbackUrls: jsii.Strings(*pt.URL()),
			LogoutUrls:   jsii.Strings(*pt.URL()),
		},
		SupportedIdentityProviders: &[]awscognito.UserPoolClientIdentityProvider{awscognito.UserPoolClientIdentityProvider_COGNITO()},
		PreventUserExistenceErrors: jsii.Bool(true),
		EnableTokenRevocation:      jsii.Bool(true),
		AccessTokenValidity:        awscdk.Duration_Hours(jsii.Number(TokenValidityHours)),
		IdTokenValidity:            awscdk.Duration_Hours(jsii.Number(TokenValidityHours)),
		RefreshTokenValidity:       awscdk.Duration_Hours(jsii.Number(PortalRefreshTokenHours)),
		WriteAttributes:            userWritableAttributes(),
	})
	// No flow but the hosted UI's and refresh: without this list Cognito
	// also allows SRP and custom authentication from the client.
	pt.Client.Node().DefaultChild().(awscognito.CfnUserPoolClient).SetExplicitAuthFlows(jsii.Strings("ALLOW_REFRESH_TOKEN_AUTH"))
	return pt.Client
}

// Config is the portal's config.json for an API at apiURL: the hosted UI
// and the portal's client when AddClient made them, a pasted token
// otherwise (an external issuer).
func (pt *Portal) Config(apiURL string) portal.Config {
	cfg := portal.Config{APIBaseURL: apiURL, Auth: portal.Auth{Mode: portal.AuthToken}}
	if pt.Client != nil {
		base := *pt.Domain.BaseUrl(nil)
		cfg.Auth = portal.Auth{
			Mode:                  portal.AuthCognito,
			AuthorizationEndpoint: base + "/oauth2/authorize",
			TokenEndpoint:         base + "/oauth2/token",
			LogoutEndpoint:        base + "/logout",
			ClientID:              *pt.Client.UserPoolClientId(),
			RedirectURI:           *pt.URL(),
			Scopes:                PortalScopes,
		}
	}
	return cfg
}

// Configure deploys the bundle with its config.json for the API at apiURL,
// and index.html with the exact-origin CSP (the type comment): the bundle's
// files as they are but index.html, which is written with the <meta>
// policy, and config.json, both made at deploy time, when the API's URL,
// the bucket's name and the client's id are known. cdn is the chat images'
// distribution, whose domain the page may load images from, or nil.
func (pt *Portal) Configure(apiURL string, cdn *ChatCDN) error {
	if (cdn != nil) != pt.props.ChatCDN {
		return fmt.Errorf("portal: the chat CDN given to Configure does not match PortalProps.ChatCDN")
	}
	st := awscdk.Stack_Of(pt.Construct)
	index, err := os.ReadFile(filepath.Join(pt.props.Dir, "index.html"))
	if err != nil {
		return fmt.Errorf("portal: %w", err)
	}
	exact := portal.Origins{
		Media:   []string{"https://" + *pt.props.Objects.BucketRegionalDomainName()},
		Connect: []string{apiURL},
	}
	if cdn != nil {
		exact.Media = append(exact.Media, "https://"+*cdn.Distribution.DistributionDomainName())
	}
	if pt.Domain != nil {
		exact.Connect = append(exact.Connect, cognitoOrigin(pt.props.DomainPrefix, *st.Region()))
	}
	page, err := portal.WithMetaCSP(index, portal.CSPMeta(exact))
	if err != nil {
		return err
	}
	cfgJSON, err := json.Marshal(pt.Config(apiURL))
	if err != nil {
		return fmt.Errorf("portal: config: %w", err)
	}
	var cfg map[string]any // the same JSON, with CDK's tokens in its strings
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		return fmt.Errorf("portal: config: %w", err)
	}
	logs := awslogs.NewLogGroup(pt.Construct, jsii.String("DeployLogs"), &awslogs.LogGroupProps{
		Retention:     pt.props.LogRetention,
		EncryptionKey: pt.props.LogsKey,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	// The bundle but index.html and config.json, as an asset of its own so
	// that its object is known.
	bundle := awss3assets.NewAsset(pt.Construct, jsii.String("Files"), &awss3assets.AssetProps{
		Path:    jsii.String(pt.props.Dir),
		Exclude: jsii.Strings("index.html", strings.TrimPrefix(portal.ConfigPath, "/")),
	})
	pt.DeployRole = awsiam.NewRole(pt.Construct, jsii.String("DeployRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("MedShare portal deployment: reads the bundle's assets, writes the portal bucket"),
	})
	pt.DeployPolicy = awsiam.NewManagedPolicy(pt.Construct, jsii.String("DeployPolicy"), &awsiam.ManagedPolicyProps{
		Description: jsii.String("MedShare portal deployment: the calls of aws-cdk-lib's BucketDeployment, on the resources it touches"),
		Roles:       &[]awsiam.IRole{pt.DeployRole},
		Statements: &[]awsiam.PolicyStatement{
			// The deployment's sources are zips in the CDK assets bucket,
			// named by their content hashes at synth.
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions: jsii.Strings("s3:GetObject"), Resources: jsii.Strings(*bundle.Bucket().ArnForObjects(jsii.String("*"))),
			}),
			// aws s3 sync --delete into the portal bucket.
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions: jsii.Strings("s3:ListBucket"), Resources: jsii.Strings(*pt.Bucket.BucketArn()),
			}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions: jsii.Strings("s3:PutObject", "s3:DeleteObject"), Resources: jsii.Strings(*pt.Bucket.ArnForObjects(jsii.String("*"))),
			}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions: jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"), Resources: jsii.Strings(*logs.LogGroupArn()),
			}),
		},
	})
	pt.Deployment = awss3deployment.NewBucketDeployment(pt.Construct, jsii.String("Deploy"), &awss3deployment.BucketDeploymentProps{
		DestinationBucket: pt.Bucket,
		Sources: &[]awss3deployment.ISource{
			awss3deployment.Source_Bucket(bundle.Bucket(), bundle.S3ObjectKey()),
			awss3deployment.Source_Data(jsii.String("index.html"), jsii.String(string(page)), nil),
			awss3deployment.Source_JsonData(jsii.String(strings.TrimPrefix(portal.ConfigPath, "/")), cfg, nil),
		},
		// The role's policy above is all it gets: the construct's own
		// grants (wider actions, an inline policy, AWS's basic execution
		// policy) are not added to it.
		Role:           pt.DeployRole.WithoutPolicyUpdates(nil),
		LogGroup:       logs,
		MemoryLimit:    jsii.Number(256),
		Prune:          jsii.Bool(true),
		RetainOnDelete: jsii.Bool(true),
	})
	// The handler runs with its permissions in place.
	pt.Deployment.Node().AddDependency(pt.DeployPolicy)
	return nil
}
