package stack

import (
	"encoding/json"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/httpapi"
)

// AccessLogFormat is the API's access log line: who, when, which route,
// what answer. It names the route key (e.g. "GET /v1/shares/{share_id}"),
// never the path or the query string, and no header but the user agent:
// nothing in it is PHI, a token or a signed URL (signed URLs are in response
// bodies, which API Gateway never logs).
var AccessLogFormat = map[string]string{
	"requestId":         "$context.requestId",
	"requestTime":       "$context.requestTimeEpoch",
	"ip":                "$context.identity.sourceIp",
	"userAgent":         "$context.identity.userAgent",
	"sub":               "$context.authorizer.claims.sub",
	"routeKey":          "$context.routeKey",
	"protocol":          "$context.protocol",
	"status":            "$context.status",
	"responseLength":    "$context.responseLength",
	"latency":           "$context.responseLatency",
	"integrationStatus": "$context.integrationStatus",
	"integrationError":  "$context.integrationErrorMessage",
	"authorizerError":   "$context.authorizer.error",
}

// Token lifetimes of the Cognito app client. Access and ID tokens are what
// the API accepts; a refresh token gets new ones without the password and
// MFA, so it is kept to a week.
const (
	TokenValidityHours       = 1
	RefreshTokenValidityDays = 7
)

// Throttling of each public route (GET /health). A route's settings replace
// the stage's defaults (throttleRate, throttleBurst) for that route, so
// unauthenticated traffic, each request of which costs a DynamoDB read, an
// S3 HeadBucket and a KMS DescribeKey, is held to this however high the
// stage's limits are, and cannot use the stage's budget. A stage configured
// lower than this holds the public routes to its own limits.
const (
	PublicThrottleRate  = 5
	PublicThrottleBurst = 10
)

// APIProps are what the API is built from.
type APIProps struct {
	Functions    *Functions
	LogsKey      awskms.IKey
	LogRetention awslogs.RetentionDays
	Config       Config
	// Portal, when not nil, is the browser portal: its app client joins
	// the authorizer's audience and its origin the API's CORS origins.
	Portal *Portal
}

// API is the HTTP API: one route per entry of the route table, each
// integrated (payload 2.0) with its operation's function, behind a JWT
// authorizer except for public routes.
//
// The authorizer trusts a Cognito user pool made here, whose groups are
// the roles of the route table (patient, professional, clinic): Cognito
// puts a user's groups in the cognito:groups claim of both its ID and
// access tokens, and API Gateway hands that claim to the function as
// "[patient]", which is what the edge reads (httpapi.ClaimGroups). With
// context oidcIssuer it trusts that issuer instead, whose tokens must carry
// the role in a claim named cognito:groups.
type API struct {
	constructs.Construct
	HTTPAPI    awsapigatewayv2.HttpApi
	Stage      awsapigatewayv2.HttpStage
	AccessLogs awslogs.LogGroup
	// Routes by operation.
	Routes map[string]awsapigatewayv2.HttpRoute
	// UserPool and Client are nil with an external issuer.
	UserPool awscognito.UserPool
	Client   awscognito.UserPoolClient
	// Issuer and Audience are what the authorizer checks.
	Issuer   *string
	Audience *[]*string
}

// Roles returns the roles of the route table, each a user pool group.
func Roles() []core.Role {
	var roles []core.Role
	for _, r := range httpapi.Routes() {
		for _, role := range r.Roles {
			if !slices.Contains(roles, role) {
				roles = append(roles, role)
			}
		}
	}
	slices.Sort(roles)
	return roles
}

// NewAPI creates the API.
func NewAPI(scope constructs.Construct, id string, p APIProps) *API {
	c := constructs.NewConstruct(scope, jsii.String(id))
	st := awscdk.Stack_Of(c)
	a := &API{Construct: c, Routes: map[string]awsapigatewayv2.HttpRoute{}}

	if p.Config.OIDCIssuer != "" {
		a.Issuer = jsii.String(p.Config.OIDCIssuer)
		a.Audience = jsii.Strings(p.Config.OIDCAudience...)
	} else {
		a.UserPool = awscognito.NewUserPool(c, jsii.String("Users"), &awscognito.UserPoolProps{
			// A changed email takes effect only once the user has verified
			// it; until then the original stays, and signs in.
			KeepOriginal: &awscognito.KeepOriginalAttrs{Email: jsii.Bool(true)},
			// Accounts are created by an operator (or a back office) who also
			// puts each in exactly one group: a token without a role is 403.
			SelfSignUpEnabled: jsii.Bool(false),
			SignInAliases:     &awscognito.SignInAliases{Email: jsii.Bool(true)},
			AutoVerify:        &awscognito.AutoVerifiedAttrs{Email: jsii.Bool(true)},
			Mfa:               awscognito.Mfa_REQUIRED,
			MfaSecondFactor:   &awscognito.MfaSecondFactor{Otp: jsii.Bool(true), Sms: jsii.Bool(false)},
			PasswordPolicy: &awscognito.PasswordPolicy{
				MinLength:            jsii.Number(12),
				RequireLowercase:     jsii.Bool(true),
				RequireUppercase:     jsii.Bool(true),
				RequireDigits:        jsii.Bool(true),
				RequireSymbols:       jsii.Bool(true),
				TempPasswordValidity: awscdk.Duration_Days(jsii.Number(3)),
			},
			AccountRecovery:              awscognito.AccountRecovery_EMAIL_ONLY,
			FeaturePlan:                  awscognito.FeaturePlan_PLUS,
			StandardThreatProtectionMode: awscognito.StandardThreatProtectionMode_FULL_FUNCTION,
			DeletionProtection:           jsii.Bool(true),
			RemovalPolicy:                awscdk.RemovalPolicy_RETAIN,
		})
		for _, role := range Roles() {
			awscognito.NewCfnUserPoolGroup(c, jsii.String("Group"+pascal(string(role))), &awscognito.CfnUserPoolGroupProps{
				UserPoolId:  a.UserPool.UserPoolId(),
				GroupName:   jsii.String(string(role)),
				Description: jsii.String("MedShare role " + string(role) + ": put each user in exactly one role group"),
			})
		}
		a.Client = a.UserPool.AddClient(jsii.String("App"), &awscognito.UserPoolClientOptions{
			GenerateSecret:             jsii.Bool(false),
			AuthFlows:                  &awscognito.AuthFlow{UserSrp: jsii.Bool(true)},
			DisableOAuth:               jsii.Bool(true),
			PreventUserExistenceErrors: jsii.Bool(true),
			EnableTokenRevocation:      jsii.Bool(true),
			AccessTokenValidity:        awscdk.Duration_Hours(jsii.Number(TokenValidityHours)),
			IdTokenValidity:            awscdk.Duration_Hours(jsii.Number(TokenValidityHours)),
			RefreshTokenValidity:       awscdk.Duration_Days(jsii.Number(RefreshTokenValidityDays)),
			WriteAttributes:            userWritableAttributes(),
		})
		a.Issuer = jsii.String("https://cognito-idp." + *st.Region() + ".amazonaws.com/" + *a.UserPool.UserPoolId())
		a.Audience = &[]*string{a.Client.UserPoolClientId()}
		if p.Portal != nil {
			*a.Audience = append(*a.Audience, p.Portal.AddClient(a.UserPool).UserPoolClientId())
		}
	}
	authorizer := awsapigatewayv2authorizers.NewHttpJwtAuthorizer(jsii.String("Jwt"), a.Issuer, &awsapigatewayv2authorizers.HttpJwtAuthorizerProps{
		JwtAudience:    a.Audience,
		IdentitySource: jsii.Strings("$request.header.Authorization"),
	})

	origins := p.Config.CORSOrigins
	if p.Portal != nil {
		origins = append(slices.Clone(origins), *p.Portal.Origin())
	}
	var cors *awsapigatewayv2.CorsPreflightOptions
	if len(origins) > 0 {
		cors = &awsapigatewayv2.CorsPreflightOptions{
			AllowOrigins: jsii.Strings(origins...),
			AllowMethods: &[]awsapigatewayv2.CorsHttpMethod{
				awsapigatewayv2.CorsHttpMethod_GET, awsapigatewayv2.CorsHttpMethod_POST,
				awsapigatewayv2.CorsHttpMethod_PUT, awsapigatewayv2.CorsHttpMethod_DELETE,
			},
			AllowHeaders: jsii.Strings("authorization", "content-type", "idempotency-key"),
			MaxAge:       awscdk.Duration_Hours(jsii.Number(1)),
		}
	}
	a.HTTPAPI = awsapigatewayv2.NewHttpApi(c, jsii.String("Http"), &awsapigatewayv2.HttpApiProps{
		ApiName:            jsii.String(p.Config.StackName),
		Description:        jsii.String("MedShare HTTP API (routes from httpapi.Routes())"),
		CreateDefaultStage: jsii.Bool(false),
		CorsPreflight:      cors,
	})
	a.AccessLogs = awslogs.NewLogGroup(c, jsii.String("AccessLogs"), &awslogs.LogGroupProps{
		Retention:     p.LogRetention,
		EncryptionKey: p.LogsKey,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	a.Stage = a.HTTPAPI.AddStage(jsii.String("Stage"), &awsapigatewayv2.HttpStageOptions{
		StageName:              jsii.String("$default"),
		AutoDeploy:             jsii.Bool(true),
		DetailedMetricsEnabled: jsii.Bool(true),
		Throttle: &awsapigatewayv2.ThrottleSettings{
			RateLimit:  jsii.Number(p.Config.ThrottleRate),
			BurstLimit: jsii.Number(float64(p.Config.ThrottleBurst)),
		},
	})
	format, err := json.Marshal(AccessLogFormat)
	if err != nil {
		panic(err)
	}
	a.Stage.Node().DefaultChild().(awsapigatewayv2.CfnStage).SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: a.AccessLogs.LogGroupArn(),
		Format:         jsii.String(string(format)),
	})

	routeSettings := map[string]any{}
	for _, r := range httpapi.Routes() {
		fn := p.Functions.ByName[r.Op].Fn
		integration := awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String(pascal(r.Op)+"Integration"), fn,
			&awsapigatewayv2integrations.HttpLambdaIntegrationProps{
				PayloadFormatVersion: awsapigatewayv2.PayloadFormatVersion_VERSION_2_0(),
			})
		var auth awsapigatewayv2.IHttpRouteAuthorizer = authorizer
		if r.Public() {
			auth = awsapigatewayv2.NewHttpNoneAuthorizer()
		}
		routes := a.HTTPAPI.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
			Path:        jsii.String(r.Path),
			Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod(r.Method)},
			Integration: integration,
			Authorizer:  auth,
		})
		a.Routes[r.Op] = (*routes)[0]
		if r.Public() {
			// Unauthenticated callers get a budget of their own, so that
			// they cannot spend the stage's.
			routeSettings[r.RouteKey()] = map[string]any{
				"ThrottlingRateLimit":    min(PublicThrottleRate, p.Config.ThrottleRate),
				"ThrottlingBurstLimit":   min(PublicThrottleBurst, p.Config.ThrottleBurst),
				"DetailedMetricsEnabled": true, // as the stage's default
			}
			// The stage's route settings name the route, which must exist
			// first.
			a.Stage.Node().AddDependency((*routes)[0].Node().DefaultChild())
		}
	}
	if len(routeSettings) > 0 {
		a.Stage.Node().DefaultChild().(awsapigatewayv2.CfnStage).SetRouteSettings(routeSettings)
	}
	return a
}

// URL is the API's base URL.
func (a *API) URL() *string { return a.HTTPAPI.ApiEndpoint() }

// userWritableAttributes are the attributes an app client lets users write:
// none of their identity. Email (the sign-in name), name, phone and the
// rest are set by the operator who creates the account (AdminCreateUser,
// AdminUpdateUserAttributes). An empty list would not do: Cognito reads it
// as "every standard attribute", so the clients may write one harmless
// preference.
func userWritableAttributes() awscognito.ClientAttributes {
	return awscognito.NewClientAttributes().WithStandardAttributes(&awscognito.StandardAttributesMask{
		Locale: jsii.Bool(true),
	})
}
