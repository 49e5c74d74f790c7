package cdnfn_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"
	"time"

	"github.com/medshare/medshare/shared/blob/cdnblob"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/awstest"
	"github.com/medshare/medshare/shared/runtime/awsenv"
	"github.com/medshare/medshare/shared/runtime/lambdafn"
	"github.com/medshare/medshare/shared/runtime/lambdafn/cdnfn"
	"github.com/medshare/medshare/shared/runtime/lambdafn/s3fn"
)

const secretARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:medshare/cdn-key-AbCdEf"

// wiring runs the S3 and CDN links of chat-signed-url on env, with the
// Secrets Manager endpoint sm, and returns the blob store they built.
func wiring(t *testing.T, sm *awstest.SecretsManager, env map[string]string) (core.Blobs, error) {
	t.Helper()
	base := map[string]string{
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_ENDPOINT_URL_SECRETS_MANAGER": sm.URL,
		"MEDSHARE_TABLE": "t", "MEDSHARE_BUCKET": "b", "MEDSHARE_KMS_KEY_ID": "k", "MEDSHARE_TOPIC_ARN": "arn:aws:sns:us-east-1:0:t",
	}
	for k, v := range env {
		base[k] = v
	}
	getenv := func(k string) string { return base[k] }
	cfg, err := awsenv.Config(getenv)
	if err != nil {
		t.Fatal(err)
	}
	settings, err := awsenv.SettingsFromEnv(getenv)
	if err != nil {
		t.Fatal(err)
	}
	w := &lambdafn.Wiring{Name: "chat-signed-url", Getenv: getenv, Config: cfg, Settings: settings}
	for _, l := range []lambdafn.Link{s3fn.Link, cdnfn.Link} {
		if err := l.Add(context.Background(), w); err != nil {
			return nil, err
		}
	}
	return w.Deps.Blobs, nil
}

// TestLinkLoadsTheKeyOnce: with a distribution configured, the link reads
// the signing key from Secrets Manager through the SDK's client (SigV4,
// the endpoint of AWS_ENDPOINT_URL_SECRETS_MANAGER), once, and chat images'
// URLs are then CloudFront's, signed with it; other objects keep S3's.
func TestLinkLoadsTheKeyOnce(t *testing.T) {
	sm := awstest.NewSecretsManager(t)
	secret := signingKey(t, "K2JCJMDEHXQW5F")
	sm.Set(secretARN, string(secret))
	blobs, err := wiring(t, sm, map[string]string{cdnblob.EnvDomain: "d111111abcdef8.cloudfront.net", cdnblob.EnvKeySecret: secretARN})
	if err != nil {
		t.Fatal(err)
	}
	if got := sm.Calls(); len(got) != 1 || got[0] != "GetSecretValue "+secretARN {
		t.Errorf("Secrets Manager served %v, want one GetSecretValue of the secret", got)
	}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		u, err := blobs.PresignGet(ctx, cdnfn.ChatPrefix+core.NewID("ci"), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(u.URL, "https://d111111abcdef8.cloudfront.net/ci_") || !strings.Contains(u.URL, "Key-Pair-Id=K2JCJMDEHXQW5F") {
			t.Errorf("chat image URL %s, want the distribution's, signed with the key pair", u.URL)
		}
	}
	photo, err := blobs.PresignGet(ctx, "photos/p/"+core.NewID("ph"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(photo.URL, "X-Amz-Signature=") {
		t.Errorf("photo URL %s, want a presigned S3 GET", photo.URL)
	}
	if n := len(sm.Calls()); n != 1 {
		t.Errorf("%d calls to Secrets Manager after signing URLs, want the one at cold start", n)
	}
}

// TestLinkFallsBack: without a distribution, chat images keep presigned S3
// GETs and Secrets Manager is never called.
func TestLinkFallsBack(t *testing.T) {
	sm := awstest.NewSecretsManager(t)
	blobs, err := wiring(t, sm, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := blobs.PresignGet(context.Background(), cdnfn.ChatPrefix+core.NewID("ci"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(u.URL, "X-Amz-Signature=") || strings.Contains(u.URL, "Key-Pair-Id") {
		t.Errorf("chat image URL %s, want a presigned S3 GET", u.URL)
	}
	if n := len(sm.Calls()); n != 0 {
		t.Errorf("%d calls to Secrets Manager, want none", n)
	}
}

// TestLinkRefuses: a half-configured distribution, a missing secret or one
// that holds no key fail the cold start, rather than hand out URLs
// CloudFront would refuse.
func TestLinkRefuses(t *testing.T) {
	sm := awstest.NewSecretsManager(t)
	sm.Set("placeholder", `{"generated":"by CDK"}`)
	valid := signingKey(t, "K1")
	sm.Set("valid", string(valid))
	if _, err := wiring(t, sm, map[string]string{cdnblob.EnvDomain: "d.cloudfront.net", cdnblob.EnvKeySecret: "valid"}); err != nil {
		t.Fatalf("the valid secret: %v", err)
	}
	for name, env := range map[string]map[string]string{
		"domain only":         {cdnblob.EnvDomain: "d.cloudfront.net"},
		"secret only":         {cdnblob.EnvKeySecret: secretARN},
		"no such secret":      {cdnblob.EnvDomain: "d.cloudfront.net", cdnblob.EnvKeySecret: secretARN},
		"the placeholder":     {cdnblob.EnvDomain: "d.cloudfront.net", cdnblob.EnvKeySecret: "placeholder"},
		"a URL as the domain": {cdnblob.EnvDomain: "https://d.cloudfront.net", cdnblob.EnvKeySecret: "valid"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := wiring(t, sm, env); err == nil {
				t.Error("the link succeeded")
			}
		})
	}
}

// signingKey makes a CloudFront signing key of key pair id and returns the
// secret that holds it.
func signingKey(t *testing.T, id string) []byte {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, cdnblob.KeyBits)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := cdnblob.SigningKey{KeyPairID: id, PrivateKey: priv}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return secret
}
