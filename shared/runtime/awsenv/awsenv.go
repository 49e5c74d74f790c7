// Package awsenv builds a Lambda function's AWS SDK configuration from its
// environment alone.
//
// config.LoadDefaultConfig links, and initializes at every cold start, the
// shared config and credentials files, the SSO, SSO-OIDC, STS, sign-in,
// process and EC2 instance-role providers, and their service clients. A
// Lambda function uses none of them: Lambda hands the function its role's
// credentials in environment variables, and its region in AWS_REGION
// (docs/DECISIONS.md, "Lean functions"). Config reads exactly what a function
// needs and nothing else:
//
//   - the region: AWS_REGION, else AWS_DEFAULT_REGION;
//   - the credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
//     AWS_SESSION_TOKEN when the first two are set; otherwise the container
//     credentials endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, else
//     AWS_CONTAINER_CREDENTIALS_FULL_URI, with the token of
//     AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or
//     AWS_CONTAINER_AUTHORIZATION_TOKEN) through the SDK's endpointcreds
//     provider, behind a credentials cache;
//   - the SDK's standard retry mode (each client's own standard retryer),
//     and one HTTP client for every service client.
//
// Endpoints are per service: Endpoint returns what AWS_ENDPOINT_URL_<SERVICE>
// or AWS_ENDPOINT_URL say (the emulators set them), and the caller puts it in
// the client's BaseEndpoint, as LoadDefaultConfig's configuration would.
package awsenv

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
)

// The environment variables Config and Endpoint read, with the SDK's names
// and meanings.
const (
	EnvRegion               = "AWS_REGION"
	EnvDefaultRegion        = "AWS_DEFAULT_REGION"
	EnvAccessKeyID          = "AWS_ACCESS_KEY_ID"
	EnvSecretAccessKey      = "AWS_SECRET_ACCESS_KEY"
	EnvSessionToken         = "AWS_SESSION_TOKEN"
	EnvContainerRelativeURI = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
	EnvContainerFullURI     = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
	EnvContainerToken       = "AWS_CONTAINER_AUTHORIZATION_TOKEN"
	EnvContainerTokenFile   = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
	EnvEndpointURL          = "AWS_ENDPOINT_URL"
	EnvIgnoreEndpoints      = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
	EnvExecutionEnv         = "AWS_EXECUTION_ENV"
)

// ecsEndpoint is the host a relative container credentials URI is resolved
// against (the SDK's, for ECS and Lambda).
var ecsEndpoint = "http://169.254.170.2" // a variable for the tests

// Credential sources, as aws.Credentials.Source reports them.
const (
	SourceEnvironment = credentials.StaticCredentialsName
	SourceContainer   = endpointcreds.ProviderName
)

// Config returns the SDK configuration that the environment describes. It
// makes no network call: container credentials are fetched on first use.
// It fails when the environment names no region or no credentials, or names
// a container endpoint that the SDK would refuse.
func Config(getenv func(string) string) (aws.Config, error) {
	region := getenv(EnvRegion)
	if region == "" {
		region = getenv(EnvDefaultRegion)
	}
	if region == "" {
		return aws.Config{}, fmt.Errorf("aws config: no region: set %s", EnvRegion)
	}
	creds, err := credentialsFrom(getenv)
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws config: %w", err)
	}
	return aws.Config{
		Region:      region,
		Credentials: creds,
		HTTPClient:  awshttp.NewBuildableClient(),
		// No Retryer: each client builds the SDK's standard retryer with
		// its service's defaults, as it does under LoadDefaultConfig, and
		// the DynamoDB client is given DynamoDBRetryer.
		RetryMode: aws.RetryModeStandard,
		// The user agent names the Lambda runtime, as LoadDefaultConfig's does.
		RuntimeEnvironment: aws.RuntimeEnvironment{EnvironmentIdentifier: aws.ExecutionEnvironmentID(getenv(EnvExecutionEnv))},
	}, nil
}

// credentialsFrom picks the credentials provider: the environment's keys,
// else the container endpoint.
func credentialsFrom(getenv func(string) string) (aws.CredentialsProvider, error) {
	id, secret := getenv(EnvAccessKeyID), getenv(EnvSecretAccessKey)
	switch {
	case id != "" && secret != "":
		return aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(id, secret, getenv(EnvSessionToken))), nil
	case id != "" || secret != "":
		return nil, fmt.Errorf("%s and %s must be set together", EnvAccessKeyID, EnvSecretAccessKey)
	}
	var endpoint string
	if rel := getenv(EnvContainerRelativeURI); rel != "" {
		if !strings.HasPrefix(rel, "/") {
			return nil, fmt.Errorf("%s must be a path", EnvContainerRelativeURI)
		}
		endpoint = ecsEndpoint + rel
	} else if full := getenv(EnvContainerFullURI); full != "" {
		if err := checkContainerURI(full); err != nil {
			return nil, fmt.Errorf("%s: %w", EnvContainerFullURI, err)
		}
		endpoint = full
	} else {
		return nil, fmt.Errorf("no credentials: set %s and %s, or %s or %s",
			EnvAccessKeyID, EnvSecretAccessKey, EnvContainerRelativeURI, EnvContainerFullURI)
	}
	token, tokenFile := getenv(EnvContainerToken), getenv(EnvContainerTokenFile)
	p := endpointcreds.New(endpoint, func(o *endpointcreds.Options) {
		o.AuthorizationToken = token
		if tokenFile != "" {
			// Read at every retrieval, as the SDK does: the file is rotated.
			o.AuthorizationTokenProvider = endpointcreds.TokenProviderFunc(func() (string, error) {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return "", fmt.Errorf("read %s: %w", EnvContainerTokenFile, err)
				}
				return strings.TrimSpace(string(b)), nil
			})
		}
	})
	// Refresh five minutes before expiry, as LoadDefaultConfig does for
	// this provider.
	return aws.NewCredentialsCache(p, func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = 5 * time.Minute }), nil
}

// checkContainerURI refuses a full container credentials URI that would send
// the authorization token in clear off the machine: over http, the host
// must be a loopback address or one of the ECS and EKS credential
// endpoints, as the SDK requires. Unlike the SDK, a host name other than
// localhost is not resolved (a cold start makes no DNS query for it) and is
// refused over http.
func checkContainerURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	host := u.Hostname()
	switch {
	case host == "":
		return errors.New("no host")
	case u.Scheme == "https":
		return nil
	case u.Scheme != "http":
		return fmt.Errorf("scheme %q: want http or https", u.Scheme)
	case host == "localhost":
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return fmt.Errorf("host %q over http: only loopback, ECS and EKS addresses are allowed", host)
	}
	for _, ok := range []net.IP{net.IPv4(169, 254, 170, 2), net.IPv4(169, 254, 170, 23), net.ParseIP("fd00:ec2::23")} {
		if ip.Equal(ok) {
			return nil
		}
	}
	if !ip.IsLoopback() {
		return fmt.Errorf("host %s over http: only loopback, ECS and EKS addresses are allowed", host)
	}
	return nil
}

// DynamoDB's retry defaults since the SDK's DynamoDB client v1.74.0: one
// attempt more than the standard retryer's 3, and a shorter base backoff.
const (
	DynamoDBMaxAttempts = 4
	DynamoDBBaseDelay   = 25 * time.Millisecond
)

// DynamoDBRetryer returns the standard retryer with DynamoDB's defaults
// (DynamoDBMaxAttempts, DynamoDBBaseDelay). The module is pinned to v1.68.0,
// the last release before schema-based serialization (docs/DECISIONS.md,
// "Lean functions, second pass"), whose client gives DynamoDB the plain
// standard retryer; the functions set this one so that they retry as the
// newer client would.
func DynamoDBRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = DynamoDBMaxAttempts
		o.BaseDelay = DynamoDBBaseDelay
	})
}

// Endpoint returns the base endpoint that the environment sets for the
// service whose SDK id is sdkID (dynamodb.ServiceID, s3.ServiceID, ...), or
// nil for the SDK's own endpoint. As in the SDK, AWS_ENDPOINT_URL_<SERVICE>
// (the id in upper case, spaces as underscores) wins over AWS_ENDPOINT_URL,
// an empty value is unset, and AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true
// ignores both.
func Endpoint(getenv func(string) string, sdkID string) *string {
	if ignore, err := strconv.ParseBool(getenv(EnvIgnoreEndpoints)); err == nil && ignore {
		return nil
	}
	if v := getenv(EnvEndpointURL + "_" + strings.ReplaceAll(strings.ToUpper(sdkID), " ", "_")); v != "" {
		return aws.String(v)
	}
	if v := getenv(EnvEndpointURL); v != "" {
		return aws.String(v)
	}
	return nil
}
