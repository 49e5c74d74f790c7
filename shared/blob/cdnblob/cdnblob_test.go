package cdnblob_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smithy "github.com/aws/smithy-go"

	"github.com/medshare/medshare/shared/blob/blobtest"
	"github.com/medshare/medshare/shared/blob/cdnblob"
	"github.com/medshare/medshare/shared/blob/cdnblob/cdnblobtest"
	"github.com/medshare/medshare/shared/blob/localblob"
	"github.com/medshare/medshare/shared/core"
)

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
)

// signingKey returns one RSA 2048 key for the package's tests (generating
// one takes a while).
func signingKey(t *testing.T) cdnblob.SigningKey {
	t.Helper()
	keyOnce.Do(func() {
		var err error
		if testKey, err = rsa.GenerateKey(rand.Reader, cdnblob.KeyBits); err != nil {
			panic(err)
		}
	})
	return cdnblob.SigningKey{KeyPairID: "K2JCJMDEHXQW5F", PrivateKey: testKey}
}

// localStore is the embedded blob store behind a real HTTP server: the store
// the CDN store wraps in these tests (it passes the blob contract).
func localStore(t *testing.T) core.Blobs {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	store, err := localblob.New(t.TempDir(), "http://"+srv.Listener.Addr().String()+"/blobs", bytes.Repeat([]byte("s"), 32))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/blobs/", store.Handler())
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return store
}

// verifyCanned checks a signed URL with the public key alone.
func verifyCanned(pub *rsa.PublicKey, signed string) (time.Time, string, error) {
	v, err := cdnblobtest.Verify(pub, signed)
	return v.Expires, v.KeyPairID, err
}

func TestChatURLsAreCloudFrontSigned(t *testing.T) {
	key := signingKey(t)
	now := time.Date(2026, 12, 4, 10, 0, 0, 700_000_000, time.UTC)
	inner := localStore(t)
	s, err := cdnblob.New(inner, cdnblob.Options{Domain: "d111111abcdef8.cloudfront.net", Key: key, Prefix: "chat/", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	id := core.NewID("ci")
	got, err := s.PresignGet(context.Background(), "chat/"+id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(got.URL)
	if u.Scheme != "https" || u.Host != "d111111abcdef8.cloudfront.net" || u.Path != "/"+id {
		t.Errorf("URL %s://%s%s, want https://d111111abcdef8.cloudfront.net/%s (the origin path is the prefix)", u.Scheme, u.Host, u.Path, id)
	}
	exp, kid, err := verifyCanned(&key.PrivateKey.PublicKey, got.URL)
	if err != nil {
		t.Fatalf("verify with the public key: %v", err)
	}
	// One hour from now, in whole seconds and never later.
	if want := time.Date(2026, 12, 4, 11, 0, 0, 0, time.UTC); !exp.Equal(want) || !got.ExpiresAt.Equal(want) {
		t.Errorf("expires %v (ExpiresAt %v), want %v", exp, got.ExpiresAt, want)
	}
	if kid != key.KeyPairID {
		t.Errorf("Key-Pair-Id %q, want %q", kid, key.KeyPairID)
	}

	t.Run("tampering breaks the signature", func(t *testing.T) {
		other := strings.Replace(got.URL, id, core.NewID("ci"), 1)
		longer := strings.Replace(got.URL, "Expires="+strconv.FormatInt(exp.Unix(), 10), "Expires="+strconv.FormatInt(exp.Unix()+3600, 10), 1)
		for name, u := range map[string]string{"another image": other, "a later expiry": longer} {
			if _, _, err := verifyCanned(&key.PrivateKey.PublicKey, u); err == nil {
				t.Errorf("%s: the signature still verifies", name)
			}
		}
		otherKey, err := rsa.GenerateKey(rand.Reader, cdnblob.KeyBits)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := verifyCanned(&otherKey.PublicKey, got.URL); err == nil {
			t.Error("the signature verifies with another public key")
		}
	})

	t.Run("other keys go to the wrapped store", func(t *testing.T) {
		photo, err := s.PresignGet(context.Background(), "photos/pat-1/"+core.NewID("ph"), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(photo.URL, "cloudfront") || !strings.HasPrefix(photo.URL, "http://127.0.0.1") {
			t.Errorf("a photo's URL %q is not the wrapped store's", photo.URL)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		for name, c := range map[string]struct {
			key string
			ttl time.Duration
		}{
			"no ttl":            {"chat/" + id, 0},
			"a ttl over 7 days": {"chat/" + id, 8 * 24 * time.Hour},
			"the prefix alone":  {"chat/", time.Hour},
			"two segments":      {"chat/a/b", time.Hour},
		} {
			if _, err := s.PresignGet(context.Background(), c.key, c.ttl); core.KindOf(err) != core.KindInvalid {
				t.Errorf("%s: %v, want invalid", name, err)
			}
		}
	})
}

func TestNewRefuses(t *testing.T) {
	key := signingKey(t)
	inner := localStore(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		blobs core.Blobs
		o     cdnblob.Options
	}{
		"no store":        {nil, cdnblob.Options{Domain: "d.cloudfront.net", Key: key, Prefix: "chat/"}},
		"no domain":       {inner, cdnblob.Options{Key: key, Prefix: "chat/"}},
		"a URL as domain": {inner, cdnblob.Options{Domain: "https://d.cloudfront.net", Key: key, Prefix: "chat/"}},
		"no prefix":       {inner, cdnblob.Options{Domain: "d.cloudfront.net", Key: key}},
		"a nested prefix": {inner, cdnblob.Options{Domain: "d.cloudfront.net", Key: key, Prefix: "a/b/"}},
		"no key":          {inner, cdnblob.Options{Domain: "d.cloudfront.net", Prefix: "chat/"}},
		"a 1024-bit key":  {inner, cdnblob.Options{Domain: "d.cloudfront.net", Key: cdnblob.SigningKey{KeyPairID: "K1", PrivateKey: small}, Prefix: "chat/"}},
		"no key pair id":  {inner, cdnblob.Options{Domain: "d.cloudfront.net", Key: cdnblob.SigningKey{PrivateKey: key.PrivateKey}, Prefix: "chat/"}},
		"a lower-case id": {inner, cdnblob.Options{Domain: "d.cloudfront.net", Key: cdnblob.SigningKey{KeyPairID: "k1", PrivateKey: key.PrivateKey}, Prefix: "chat/"}},
	} {
		if _, err := cdnblob.New(c.blobs, c.o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

// TestContract: every call but a GET under the prefix goes to the wrapped
// store, and the wrapper passes the blob contract (with a prefix the suite
// does not use, since a CloudFront URL cannot be followed here).
func TestContract(t *testing.T) {
	key := signingKey(t)
	blobtest.Run(t, blobtest.Harness{New: func(t *testing.T) core.Blobs {
		s, err := cdnblob.New(localStore(t), cdnblob.Options{Domain: "d.cloudfront.net", Key: key, Prefix: "cdn-only/"})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}})
}

// fakeSecrets is the Secrets Manager API of LoadKey, holding secrets by id.
type fakeSecrets struct {
	values map[string]*string
	err    error
	asked  []string
}

func (f *fakeSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.asked = append(f.asked, *in.SecretId)
	if f.err != nil {
		return nil, f.err
	}
	v, ok := f.values[*in.SecretId]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "ResourceNotFoundException", Message: "Secrets Manager can't find the specified secret."}
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: v}, nil
}

func str(s string) *string { return &s }

func TestLoadKey(t *testing.T) {
	key := signingKey(t)
	good, err := key.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key.PrivateKey)}))
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}))
	asJSON := func(id, pemKey string) *string {
		b, _ := json.Marshal(map[string]string{"key_pair_id": id, "private_key": pemKey})
		return str(string(b))
	}
	const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:medshare/cdn-key-AbCdEf"

	t.Run("read once, as put", func(t *testing.T) {
		f := &fakeSecrets{values: map[string]*string{arn: str(string(good))}}
		got, err := cdnblob.LoadKey(context.Background(), f, arn)
		if err != nil {
			t.Fatal(err)
		}
		if got.KeyPairID != key.KeyPairID || !got.PrivateKey.Equal(key.PrivateKey) {
			t.Errorf("loaded %s, want the key that was put", got.KeyPairID)
		}
		if len(f.asked) != 1 || f.asked[0] != arn {
			t.Errorf("asked for %v, want the one secret once", f.asked)
		}
	})
	t.Run("PKCS#1 is accepted", func(t *testing.T) {
		f := &fakeSecrets{values: map[string]*string{arn: asJSON("K1", pkcs1)}}
		if _, err := cdnblob.LoadKey(context.Background(), f, arn); err != nil {
			t.Error(err)
		}
	})
	for name, v := range map[string]*string{
		"the secret CDK generated": str(`x7#Lq0!vZ...`),
		"no private key":           asJSON("K1", ""),
		"not PEM":                  asJSON("K1", "MIIEvQIBADANBg"),
		"an ECDSA key":             asJSON("K1", ecPEM),
		"no key pair id":           asJSON("", pkcs1),
		"a binary secret":          nil,
	} {
		t.Run("refused: "+name, func(t *testing.T) {
			f := &fakeSecrets{values: map[string]*string{arn: v}}
			_, err := cdnblob.LoadKey(context.Background(), f, arn)
			if err == nil {
				t.Fatal("loaded")
			}
			if v != nil && strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), "MII") {
				t.Errorf("the error quotes the secret: %v", err)
			}
		})
	}
	t.Run("refused: no such secret", func(t *testing.T) {
		_, err := cdnblob.LoadKey(context.Background(), &fakeSecrets{}, arn)
		if err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") {
			t.Errorf("LoadKey: %v, want the service's code", err)
		}
	})
	t.Run("refused: the service fails", func(t *testing.T) {
		boom := errors.New("connection refused")
		if _, err := cdnblob.LoadKey(context.Background(), &fakeSecrets{err: boom}, arn); !errors.Is(err, boom) {
			t.Errorf("LoadKey: %v, want it to wrap the cause", err)
		}
	})
}

func TestPublicKeyPEM(t *testing.T) {
	key := signingKey(t)
	b, err := cdnblob.PublicKeyPEM(key.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PUBLIC KEY" {
		t.Fatalf("not a PUBLIC KEY PEM: %q", b)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil || !key.PrivateKey.PublicKey.Equal(pub) {
		t.Errorf("public key %v, %v: want the private key's", pub, err)
	}
}
