package awsenv

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

var staticEnv = map[string]string{
	EnvRegion: "eu-west-3", EnvAccessKeyID: "AKIDEXAMPLE", EnvSecretAccessKey: "secret", EnvSessionToken: "token",
}

func with(base map[string]string, kv ...string) map[string]string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestRegion(t *testing.T) {
	for _, c := range []struct {
		name string
		env  map[string]string
		want string // "" means an error
	}{
		{"AWS_REGION", staticEnv, "eu-west-3"},
		{"AWS_REGION wins", with(staticEnv, EnvDefaultRegion, "us-west-2"), "eu-west-3"},
		{"AWS_DEFAULT_REGION when AWS_REGION is empty", with(staticEnv, EnvRegion, "", EnvDefaultRegion, "us-west-2"), "us-west-2"},
		{"none", with(staticEnv, EnvRegion, ""), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Config(envOf(c.env))
			if c.want == "" {
				if err == nil {
					t.Fatalf("region %q, want an error", cfg.Region)
				}
				return
			}
			if err != nil || cfg.Region != c.want {
				t.Errorf("region %q, %v; want %q", cfg.Region, err, c.want)
			}
		})
	}
}

func TestStaticCredentials(t *testing.T) {
	cfg, err := Config(envOf(staticEnv))
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessKeyID != "AKIDEXAMPLE" || creds.SecretAccessKey != "secret" || creds.SessionToken != "token" || creds.Source != SourceEnvironment || creds.CanExpire {
		t.Errorf("credentials %+v, want the environment's, never expiring", creds)
	}
	for _, m := range []map[string]string{
		with(staticEnv, EnvSecretAccessKey, ""),
		with(staticEnv, EnvAccessKeyID, ""),
		with(staticEnv, EnvAccessKeyID, "", EnvSecretAccessKey, ""),
	} {
		if _, err := Config(envOf(m)); err == nil {
			t.Errorf("Config with id %q, secret %q: no error", m[EnvAccessKeyID], m[EnvSecretAccessKey])
		}
	}
}

func TestRetryerAndHTTPClient(t *testing.T) {
	cfg, err := Config(envOf(with(staticEnv, EnvExecutionEnv, "AWS_Lambda_provided.al2023")))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RetryMode != aws.RetryModeStandard || cfg.Retryer != nil {
		t.Errorf("retry mode %q, retryer set %v: want the standard mode, each client's own retryer", cfg.RetryMode, cfg.Retryer != nil)
	}
	r := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.Retryer = DynamoDBRetryer() }).Options().Retryer
	if _, ok := r.(*retry.Standard); !ok || r.MaxAttempts() != 4 {
		t.Errorf("DynamoDB retryer %T with %d attempts, want the standard retryer with DynamoDB's 4", r, r.MaxAttempts())
	}
	// The base delay shows in the backoff of a throttling-free retryable
	// error: the first retry waits at most the base delay (full jitter).
	for range 20 {
		d, err := r.RetryDelay(1, errors.New("retryable"))
		if err != nil || d > DynamoDBBaseDelay {
			t.Fatalf("first retry delay %v, %v: want at most %v", d, err, DynamoDBBaseDelay)
		}
	}
	if cfg.HTTPClient == nil {
		t.Error("no shared HTTP client")
	}
	if cfg.RuntimeEnvironment.EnvironmentIdentifier != "AWS_Lambda_provided.al2023" {
		t.Errorf("environment identifier %q", cfg.RuntimeEnvironment.EnvironmentIdentifier)
	}
}

// credentialServer is a container credentials endpoint on loopback that
// records the authorization header of each request.
func credentialServer(t *testing.T) (*httptest.Server, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var auths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		json.NewEncoder(w).Encode(map[string]string{
			"AccessKeyId": "ASIACONTAINER", "SecretAccessKey": "s", "Token": "t",
			"Expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		})
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), auths...) }
}

func TestContainerCredentials(t *testing.T) {
	srv, seen := credentialServer(t)
	region := map[string]string{EnvRegion: "us-east-1"}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	defer func(old string) { ecsEndpoint = old }(ecsEndpoint)
	ecsEndpoint = srv.URL

	for _, c := range []struct {
		name string
		env  map[string]string
		want string // path and Authorization the endpoint saw
	}{
		{"relative URI", with(region, EnvContainerRelativeURI, "/v2/credentials/abc"), "/v2/credentials/abc "},
		{"relative URI with a token", with(region, EnvContainerRelativeURI, "/creds", EnvContainerToken, "tok"), "/creds tok"},
		{"relative URI wins over the full one", with(region, EnvContainerRelativeURI, "/rel", EnvContainerFullURI, srv.URL+"/full"), "/rel "},
		{"full URI on loopback", with(region, EnvContainerFullURI, srv.URL+"/full", EnvContainerToken, "tok"), "/full tok"},
		{"the token file wins over the token", with(region, EnvContainerFullURI, srv.URL+"/full", EnvContainerToken, "tok", EnvContainerTokenFile, tokenFile), "/full from-file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(seen())
			cfg, err := Config(envOf(c.env))
			if err != nil {
				t.Fatal(err)
			}
			if len(seen()) != before {
				t.Fatal("Config called the credentials endpoint: a cold start must make no call")
			}
			creds, err := cfg.Credentials.Retrieve(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if creds.AccessKeyID != "ASIACONTAINER" || creds.Source != SourceContainer || !creds.CanExpire {
				t.Errorf("credentials %+v, want the endpoint's, expiring", creds)
			}
			if got := seen(); len(got) != before+1 || got[len(got)-1] != c.want {
				t.Errorf("the endpoint saw %q, want %q", got[before:], c.want)
			}
		})
	}

	t.Run("the environment's keys win over the endpoint", func(t *testing.T) {
		cfg, err := Config(envOf(with(staticEnv, EnvContainerFullURI, srv.URL+"/full")))
		if err != nil {
			t.Fatal(err)
		}
		creds, err := cfg.Credentials.Retrieve(context.Background())
		if err != nil || creds.Source != SourceEnvironment {
			t.Errorf("credentials %+v, %v; want the environment's", creds, err)
		}
	})
}

// TestContainerURIHosts: over http, the token may only go to loopback or
// the ECS and EKS credential endpoints, as the SDK requires.
func TestContainerURIHosts(t *testing.T) {
	for _, c := range []struct {
		uri string
		ok  bool
	}{
		{"http://127.0.0.1:8080/creds", true},
		{"http://127.9.9.9/creds", true},
		{"http://[::1]:80/creds", true},
		{"http://localhost:1234/creds", true},
		{"http://169.254.170.2/v2/credentials", true},
		{"http://169.254.170.23/v1/credentials", true},
		{"http://[fd00:ec2::23]/v1/credentials", true},
		{"https://credentials.example.com/creds", true},
		{"http://credentials.example.com/creds", false},
		{"http://10.0.0.1/creds", false},
		{"http://169.254.169.254/latest", false},
		{"ftp://127.0.0.1/creds", false},
		{"http:///creds", false},
		{"://nope", false},
	} {
		t.Run(c.uri, func(t *testing.T) {
			_, err := Config(envOf(map[string]string{EnvRegion: "us-east-1", EnvContainerFullURI: c.uri}))
			if (err == nil) != c.ok {
				t.Errorf("Config: %v, want ok=%v", err, c.ok)
			}
		})
	}
	if _, err := Config(envOf(map[string]string{EnvRegion: "us-east-1", EnvContainerRelativeURI: "creds"})); err == nil {
		t.Error("a relative URI that is not a path was accepted")
	}
}

func TestNoCredentials(t *testing.T) {
	_, err := Config(envOf(map[string]string{EnvRegion: "us-east-1"}))
	if err == nil || !strings.Contains(err.Error(), "no credentials") {
		t.Errorf("Config with no credentials: %v", err)
	}
}

func TestEndpoint(t *testing.T) {
	for _, c := range []struct {
		name string
		env  map[string]string
		id   string
		want string // "" means nil: the SDK's own endpoint
	}{
		{"none", nil, dynamodb.ServiceID, ""},
		{"global", map[string]string{EnvEndpointURL: "http://127.0.0.1:4566"}, dynamodb.ServiceID, "http://127.0.0.1:4566"},
		{"per service", map[string]string{"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8000"}, dynamodb.ServiceID, "http://127.0.0.1:8000"},
		{"per service wins", map[string]string{EnvEndpointURL: "http://127.0.0.1:4566", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:7070"}, s3.ServiceID, "http://127.0.0.1:7070"},
		{"another service's is not ours", map[string]string{"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:7070"}, dynamodb.ServiceID, ""},
		{"empty is unset", map[string]string{EnvEndpointURL: "", "AWS_ENDPOINT_URL_DYNAMODB": ""}, dynamodb.ServiceID, ""},
		{"empty per service falls back to global", map[string]string{EnvEndpointURL: "http://g", "AWS_ENDPOINT_URL_DYNAMODB": ""}, dynamodb.ServiceID, "http://g"},
		{"spaces in the id", map[string]string{"AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://sm"}, "Secrets Manager", "http://sm"},
		{"ignored", map[string]string{EnvIgnoreEndpoints: "true", EnvEndpointURL: "http://g", "AWS_ENDPOINT_URL_DYNAMODB": "http://d"}, dynamodb.ServiceID, ""},
		{"not ignored", map[string]string{EnvIgnoreEndpoints: "false", "AWS_ENDPOINT_URL_DYNAMODB": "http://d"}, dynamodb.ServiceID, "http://d"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Endpoint(envOf(c.env), c.id)
			if c.want == "" && got != nil || c.want != "" && (got == nil || *got != c.want) {
				t.Errorf("Endpoint = %v, want %q", aws.ToString(got), c.want)
			}
		})
	}
}

// TestSameAsLoadDefaultConfig: for a Lambda's environment, the lean
// configuration agrees with config.LoadDefaultConfig on what a function
// uses: the region, the credentials and each client's endpoint. The
// process environment is set for LoadDefaultConfig (it reads nothing else:
// its shared files point at nothing).
func TestSameAsLoadDefaultConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		env  map[string]string
	}{
		{"Lambda", staticEnv},
		{"emulators", with(staticEnv, "AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000", "AWS_ENDPOINT_URL_S3", "http://127.0.0.1:7070")},
		{"one endpoint", with(staticEnv, EnvEndpointURL, "http://127.0.0.1:4566", "AWS_ENDPOINT_URL_S3", "http://127.0.0.1:7070")},
		{"default region", with(staticEnv, EnvRegion, "", EnvDefaultRegion, "ap-south-1")},
		{"endpoints ignored", with(staticEnv, EnvEndpointURL, "http://g", EnvIgnoreEndpoints, "true")},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, k := range []string{EnvRegion, EnvDefaultRegion, EnvAccessKeyID, EnvSecretAccessKey, EnvSessionToken,
				EnvEndpointURL, "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3", EnvIgnoreEndpoints,
				EnvContainerFullURI, EnvContainerRelativeURI, "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"} {
				t.Setenv(k, "")
				os.Unsetenv(k) // unset, not empty: the SDK tells the two apart for endpoints
			}
			nowhere := filepath.Join(t.TempDir(), "none")
			t.Setenv("AWS_CONFIG_FILE", nowhere)
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", nowhere)
			for k, v := range c.env {
				if v != "" {
					t.Setenv(k, v)
				}
			}
			ref, err := config.LoadDefaultConfig(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			got, err := Config(os.Getenv)
			if err != nil {
				t.Fatal(err)
			}
			if got.Region != ref.Region {
				t.Errorf("region %q, LoadDefaultConfig %q", got.Region, ref.Region)
			}
			gc, err := got.Credentials.Retrieve(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			rc, err := ref.Credentials.Retrieve(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if gc.AccessKeyID != rc.AccessKeyID || gc.SecretAccessKey != rc.SecretAccessKey || gc.SessionToken != rc.SessionToken || gc.CanExpire != rc.CanExpire {
				t.Errorf("credentials %+v, LoadDefaultConfig %+v", gc, rc)
			}
			for _, id := range []string{dynamodb.ServiceID, s3.ServiceID} {
				if want, have := retryAttempts(ref, id), retryAttempts(got, id); want != have {
					t.Errorf("%s retries %d times, LoadDefaultConfig %d", id, have, want)
				}
				want := baseEndpoint(ref, id, func() *string { return nil }, false)
				have := baseEndpoint(got, id, func() *string { return Endpoint(os.Getenv, id) }, true)
				if want != have {
					t.Errorf("%s endpoint %q, LoadDefaultConfig %q", id, have, want)
				}
			}
		})
	}
}

// baseEndpoint is the BaseEndpoint a client of service id gets from cfg;
// lean clients set it from Endpoint, as the functions' Links do.
func baseEndpoint(cfg aws.Config, id string, endpoint func() *string, lean bool) string {
	switch id {
	case dynamodb.ServiceID:
		return aws.ToString(dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
			if lean {
				o.BaseEndpoint = endpoint()
			}
		}).Options().BaseEndpoint)
	case s3.ServiceID:
		return aws.ToString(s3.NewFromConfig(cfg, func(o *s3.Options) {
			if lean {
				o.BaseEndpoint = endpoint()
			}
		}).Options().BaseEndpoint)
	}
	panic(id)
}

// retryAttempts is the attempts of the retryer a client of service id gets
// from cfg.
func retryAttempts(cfg aws.Config, id string) int {
	switch id {
	case dynamodb.ServiceID:
		return dynamodb.NewFromConfig(cfg).Options().Retryer.MaxAttempts()
	case s3.ServiceID:
		return s3.NewFromConfig(cfg).Options().Retryer.MaxAttempts()
	}
	panic(id)
}
