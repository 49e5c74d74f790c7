// Package testenv starts the embedded runtime behind a real HTTP listener on
// loopback for tests, and speaks to it the way a client app would.
package testenv

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/measure"
	"github.com/medshare/medshare/shared/runtime/devauth"
	"github.com/medshare/medshare/shared/runtime/embedded"
)

// Env is a running server: the embedded runtime (Start) or the AWS adapters
// on the local emulators (StartAWS), behind the same local server.
type Env struct {
	T       testing.TB
	Name    string // "embedded" or "aws"
	URL     string
	Store   core.Store
	Blobs   core.Blobs
	Keys    core.KeyRing
	Service *core.Service // the service behind the server, for what is not an HTTP call (the scheduled jobs)
	Auth    *devauth.Authority
	RT      *embedded.Runtime // the embedded runtime; nil on AWS
	Logs    *SyncBuffer
	Clock   *Clock
	Client  *http.Client
	DataDir string
	// TokenKeyFile is the server's token signing key (SignToken).
	TokenKeyFile string

	dumpItems, dumpObjects func(testing.TB) []Stored // StoredItems, StoredObjects
}

// Clock is a settable clock; zero offset means the real time.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now returns the real time plus the offset.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers (captured logs).
type SyncBuffer = measure.SyncBuffer

// Start opens an embedded runtime in a temporary directory and serves it.
func Start(t testing.TB, cfg core.Config) *Env {
	t.Helper()
	env := &Env{T: t, Logs: &SyncBuffer{}, Clock: &Clock{}, DataDir: t.TempDir()}
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	log := slog.New(slog.NewJSONHandler(env.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rt, err := embedded.Open(embedded.Options{DataDir: env.DataDir, PublicURL: srv.URL, Config: cfg, Log: log, Now: env.Clock.Now})
	if err != nil {
		t.Fatalf("open embedded runtime: %v", err)
	}
	t.Cleanup(func() { rt.Close() })
	h = rt.HTTPHandler(log)
	env.Name, env.URL, env.RT, env.Client = "embedded", srv.URL, rt, srv.Client()
	env.TokenKeyFile = filepath.Join(env.DataDir, embedded.TokenKeyFile)
	env.Store, env.Blobs, env.Keys, env.Auth = rt.Store, rt.Blobs, rt.Keys, rt.Auth
	env.Service = rt.Service
	env.dumpItems = func(t testing.TB) []Stored { return boltItems(t, rt.Store) }
	env.dumpObjects = func(t testing.TB) []Stored { return blobFiles(t, env.DataDir) }
	return env
}

// Token mints a token for sub in role.
func (e *Env) Token(sub string, role core.Role) string {
	e.T.Helper()
	tok, err := e.Auth.Mint(sub, role, time.Hour)
	if err != nil {
		e.T.Fatalf("mint token: %v", err)
	}
	return tok
}

// SignToken signs claims with the server's own token key and checks nothing
// they say: it plays an identity provider that vouches for any subject and
// any groups (an OIDC issuer in AWS may). iss, aud, iat and exp are filled
// in when absent, so that only the claims a test names are unusual.
func (e *Env) SignToken(claims map[string]any) string {
	e.T.Helper()
	b, err := os.ReadFile(e.TokenKeyFile)
	if err != nil {
		e.T.Fatalf("read token key: %v", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		e.T.Fatalf("token key %s is not PEM", e.TokenKeyFile)
	}
	key, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		e.T.Fatalf("parse token key: %v", err)
	}
	now := time.Now()
	mc := jwt.MapClaims{"iss": devauth.Issuer, "aud": devauth.Audience, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for k, v := range claims {
		mc[k] = v
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodES256, mc).SignedString(key)
	if err != nil {
		e.T.Fatalf("sign token: %v", err)
	}
	return tok
}

// DoRaw sends a request exactly as given: no header is added, and body ""
// sends none.
func (e *Env) DoRaw(method, path string, headers map[string][]string, body string) Response {
	e.T.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.URL+path, rd)
	if err != nil {
		e.T.Fatalf("new request: %v", err)
	}
	for k, vs := range headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	return e.send(req)
}

// Response is a decoded API response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Code returns the error code of an error response ("" if none).
func (r Response) Code() string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

// Do sends a request with an optional bearer token; body is JSON-encoded unless
// it is a string or []byte, sent as is.
func (e *Env) Do(method, path, token string, body any) Response {
	e.T.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.T.Fatalf("encode body: %v", err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.URL+path, rd)
	if err != nil {
		e.T.Fatalf("new request: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("User-Agent", "medshare-test/1")
	return e.send(req)
}

func (e *Env) send(req *http.Request) Response {
	e.T.Helper()
	resp, err := e.Client.Do(req)
	if err != nil {
		e.T.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.T.Fatalf("read body: %v", err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Upload is the upload part of a presign response.
type Upload struct {
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	ExpiresAt time.Time         `json:"expires_at"`
}

// Send uploads data exactly as the presign response says.
func (e *Env) Send(u Upload, data []byte) Response {
	e.T.Helper()
	req, err := http.NewRequest(u.Method, u.URL, bytes.NewReader(data))
	if err != nil {
		e.T.Fatalf("new upload request: %v", err)
	}
	for k, v := range u.Headers {
		req.Header.Set(k, v)
	}
	return e.send(req)
}

// Get fetches a URL with no token.
func (e *Env) Get(url string) Response {
	e.T.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		e.T.Fatalf("new request: %v", err)
	}
	return e.send(req)
}

// RandomBytes returns n random bytes and their SHA-256.
func RandomBytes(n int) ([]byte, []byte) {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	sum := sha256.Sum256(b)
	return b, sum[:]
}
