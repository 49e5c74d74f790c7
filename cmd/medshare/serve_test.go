package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/testenv"
	"github.com/medshare/medshare/shared/runtime/devauth"
)

// launched is a `medshare serve` run in-process, with its output kept.
type launched struct {
	url    string
	addr   string
	stdout string
	stderr *testenv.SyncBuffer
	done   chan error
	cancel context.CancelFunc
}

// launch runs `medshare serve --data-dir dir extra...` until the test ends
// (with --addr 127.0.0.1:0 unless extra gives one). The URL is https when
// extra has --tls-cert.
func launch(t *testing.T, dir string, env map[string]string, extra ...string) *launched {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	ready = func(addr string) { addrc <- addr }
	t.Cleanup(func() { ready = nil })
	var out bytes.Buffer
	l := &launched{stderr: &testenv.SyncBuffer{}, done: make(chan error, 1), cancel: cancel}
	args := []string{"serve", "--data-dir", dir}
	if !slices.Contains(extra, "--addr") {
		args = append(args, "--addr", "127.0.0.1:0")
	}
	args = append(args, extra...)
	go func() { l.done <- run(ctx, args, func(k string) string { return env[k] }, &out, l.stderr) }()
	select {
	case l.addr = <-addrc:
	case err := <-l.done:
		t.Fatalf("serve exited: %v\n%s", err, l.stderr)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	scheme := "http"
	if slices.Contains(extra, "--tls-cert") {
		scheme = "https"
	}
	l.url = scheme + "://" + l.addr
	l.stdout = out.String()
	t.Cleanup(func() { l.stop(t) })
	return l
}

// stop ends the server as a signal would and returns what serve returned.
func (l *launched) stop(t *testing.T) error {
	t.Helper()
	if l.cancel == nil {
		return nil
	}
	l.cancel()
	l.cancel = nil
	return <-l.done
}

// serveErr runs serve with args and returns its error; a server that
// starts is stopped at once and is a test failure.
func serveErr(t *testing.T, env map[string]string, args ...string) (error, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan string, 1)
	ready = func(addr string) { started <- addr }
	defer func() { ready = nil }()
	var stderr testenv.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve"}, args...), func(k string) string { return env[k] }, io.Discard, &stderr)
	}()
	select {
	case err := <-done:
		return err, stderr.String()
	case addr := <-started:
		cancel()
		<-done
		t.Fatalf("serve %v started on %s, want a refusal", args, addr)
	}
	return nil, ""
}

// testPKI is a CA and a server certificate for the loopback addresses,
// written to files.
type testPKI struct {
	pool               *x509.CertPool
	certFile, keyFile  string
	otherCert, otherKy string // a second key pair: its key does not match certFile
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "medshare test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := &testPKI{pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	write := func(name string, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	leaf := func(serial int64) ([]byte, []byte) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "127.0.0.1"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, DNSNames: []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, _ := x509.MarshalPKCS8PrivateKey(key)
		return der, kb
	}
	der, kb := leaf(2)
	p.certFile, p.keyFile = write("server.crt", "CERTIFICATE", der), write("server.key", "PRIVATE KEY", kb)
	der2, kb2 := leaf(3)
	p.otherCert, p.otherKy = write("other.crt", "CERTIFICATE", der2), write("other.key", "PRIVATE KEY", kb2)
	return p
}

// tlsClient trusts the test CA and speaks only the versions and suites given.
func (p *testPKI) tlsClient(minV, maxV uint16, suites []uint16) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: p.pool, MinVersion: minV, MaxVersion: maxV, CipherSuites: suites},
			ForceAttemptHTTP2: true,
		},
	}
}

// TestServeTLS: a real handshake with TLS 1.2 and 1.3, HSTS on every answer,
// https blob URLs that work, and what a server must refuse: TLS 1.1 and
// TLS 1.2 without an AEAD suite.
func TestServeTLS(t *testing.T) {
	pki := newTestPKI(t)
	dir := t.TempDir()
	srv := launch(t, dir, nil, "--demo", "--tls-cert", pki.certFile, "--tls-key", pki.keyFile)
	tok := demoTokens(t, srv.stdout)

	for _, c := range []struct {
		name      string
		minV      uint16
		maxV      uint16
		suites    []uint16
		wantVer   uint16
		wantError string // "" for a handshake that succeeds
	}{
		{name: "TLS 1.3", minV: tls.VersionTLS13, maxV: tls.VersionTLS13, wantVer: tls.VersionTLS13},
		{name: "TLS 1.2 with AEAD", minV: tls.VersionTLS12, maxV: tls.VersionTLS12, wantVer: tls.VersionTLS12},
		{name: "TLS 1.1", minV: tls.VersionTLS10, maxV: tls.VersionTLS11, wantError: "protocol version"},
		{name: "TLS 1.0", minV: tls.VersionTLS10, maxV: tls.VersionTLS10, wantError: "protocol version"},
		{name: "TLS 1.2 with CBC suites only", minV: tls.VersionTLS12, maxV: tls.VersionTLS12,
			suites:    []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256},
			wantError: "handshake failure"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, err := pki.tlsClient(c.minV, c.maxV, c.suites).Get(srv.url + "/health")
			if c.wantError != "" {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("handshake succeeded with %s, want a refusal", tls.VersionName(resp.TLS.Version))
				}
				if !strings.Contains(err.Error(), c.wantError) {
					t.Errorf("err = %v, want %q", err, c.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.TLS == nil || resp.TLS.Version != c.wantVer {
				t.Fatalf("status %d, tls %+v; want 200 over %s", resp.StatusCode, resp.TLS, tls.VersionName(c.wantVer))
			}
			if got := resp.Header.Get("Strict-Transport-Security"); got != HSTSValue {
				t.Errorf("Strict-Transport-Security = %q, want %q", got, HSTSValue)
			}
		})
	}

	// Plain HTTP on the TLS port gets nothing useful.
	if resp, err := http.Get("http://" + srv.addr + "/health"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("plain HTTP on the TLS port answered 200")
		}
	}

	// Every answer carries HSTS: refusals and unknown paths too.
	cl := pki.tlsClient(tls.VersionTLS12, 0, nil)
	for _, c := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/v1/photos", "", 401},
		{"GET", "/v1/photos", "not-a-token", 401},
		{"GET", "/nowhere", "", 404},
		{"GET", "/openapi.yaml", "", 200},
		{"GET", "/blobs/x", "", 403},
		{"GET", "/v1/photos", tok["PATIENT_TOKEN"], 200},
	} {
		req, _ := http.NewRequest(c.method, srv.url+c.path, nil)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want || resp.Header.Get("Strict-Transport-Security") != HSTSValue {
			t.Errorf("%s %s: %d, HSTS %q; want %d with HSTS", c.method, c.path, resp.StatusCode, resp.Header.Get("Strict-Transport-Security"), c.want)
		}
	}

	// The blob URLs are https, and an upload and a download through them work.
	img := make([]byte, 5000)
	rand.Read(img)
	sum := sha256.Sum256(img)
	body, _ := json.Marshal(map[string]any{"appointment_id": tok["APPOINTMENT_ID"], "content_type": "image/png", "size": len(img), "sha256": sum[:]})
	req, _ := http.NewRequest("POST", srv.url+"/api/chat-images", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok["PATIENT_TOKEN"])
	req.Header.Set("Content-Type", "application/json")
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var staged struct {
		ImageID string `json:"image_id"`
		Upload  upload `json:"upload"`
	}
	json.NewDecoder(resp.Body).Decode(&staged)
	resp.Body.Close()
	if resp.StatusCode != 201 || !strings.HasPrefix(staged.Upload.URL, srv.url+"/blobs/") {
		t.Fatalf("presign: %d, upload url %q; want 201 and %s/blobs/...", resp.StatusCode, staged.Upload.URL, srv.url)
	}
	req, _ = http.NewRequest(staged.Upload.Method, staged.Upload.URL, bytes.NewReader(img))
	for k, v := range staged.Upload.Headers {
		req.Header.Set(k, v)
	}
	if resp, err = cl.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("upload over https: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestServeRefuses: what serve will not start with.
func TestServeRefuses(t *testing.T) {
	pki := newTestPKI(t)
	for _, c := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"plain HTTP on every interface", nil, []string{"--addr", "0.0.0.0:0"}, "--insecure-http"},
		{"plain HTTP on every IPv6 interface", nil, []string{"--addr", "[::]:0"}, "not a loopback address"},
		{"a certificate without a key", nil, []string{"--tls-cert", pki.certFile}, "both --tls-cert and --tls-key"},
		{"a key without a certificate", nil, []string{"--tls-key", pki.keyFile}, "both --tls-cert and --tls-key"},
		{"a key of another certificate", nil, []string{"--tls-cert", pki.certFile, "--tls-key", pki.otherKy}, "private key does not match"},
		{"a certificate that is not one", nil, []string{"--tls-cert", pki.keyFile, "--tls-key", pki.keyFile}, "--tls-cert"},
		{"TLS and --insecure-http", nil, []string{"--tls-cert", pki.certFile, "--tls-key", pki.keyFile, "--insecure-http"}, "contradict"},
		{"TLS with an http public URL", nil, []string{"--tls-cert", pki.certFile, "--tls-key", pki.keyFile, "--public-url", "http://127.0.0.1:1"}, "must be an https URL"},
		{"every interface without a public URL", nil, []string{"--addr", "0.0.0.0:0", "--insecure-http"}, "give --public-url"},
		{"a rate that is not a number", map[string]string{EnvRateLimitUserRPS: "fast"}, nil, EnvRateLimitUserRPS},
		{"a switch that is not a boolean", map[string]string{EnvRateLimit: "sometimes"}, nil, EnvRateLimit},
		{"a zero rate", nil, []string{"--rate-limit-ip-rps", "0"}, "--rate-limit-ip-rps"},
		{"a zero burst", map[string]string{EnvRateLimitUserBurst: "0"}, nil, "--rate-limit-user-burst"},
		{"no shutdown time", nil, []string{"--shutdown-timeout", "0s"}, "--shutdown-timeout"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"--data-dir", t.TempDir(), "--jobs=false"}, c.args...)
			if !slices.Contains(c.args, "--addr") {
				args = append(args, "--addr", "127.0.0.1:0")
			}
			err, stderr := serveErr(t, c.env, args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v (stderr %q), want it to mention %q", err, stderr, c.want)
			}
		})
	}
}

// TestServeInsecureHTTPWarns: --insecure-http serves plain HTTP off
// loopback, and says so at every start, on stderr and in the log.
func TestServeInsecureHTTPWarns(t *testing.T) {
	dir := t.TempDir()
	for start := range 2 {
		srv := launch(t, dir, nil, "--addr", "0.0.0.0:0", "--insecure-http", "--public-url", "http://127.0.0.1:9", "--jobs=false")
		_, port, _ := net.SplitHostPort(srv.addr)
		if st, body := call(t, "GET", "http://127.0.0.1:"+port+"/health", "", nil, nil); st != 200 {
			t.Fatalf("start %d: health %d %s", start, st, body)
		}
		if err := srv.stop(t); err != nil {
			t.Fatalf("stop: %v", err)
		}
		out := srv.stderr.String()
		// 0.0.0.0 may be bound as [::], both stacks.
		if !strings.Contains(out, "WARNING: serving plain HTTP on ") || !strings.Contains(out, ":"+port+", a non-loopback address (--insecure-http)") {
			t.Errorf("start %d: stderr lacks the warning:\n%s", start, out)
		}
		var logged bool
		for line := range strings.SplitSeq(out, "\n") {
			var rec struct{ Level, Msg, Flag string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Level == "WARN" && rec.Msg == "insecure http on a non-loopback address" && rec.Flag == "--insecure-http" {
				logged = true
			}
		}
		if !logged {
			t.Errorf("start %d: the log has no warning record:\n%s", start, out)
		}
	}
}

// TestServeRateLimits drives the limits through `medshare serve` as
// configured by the environment and flags, with limits so small and a
// refill so slow (one request in 1,000 s) that no token comes back during
// the test.
func TestServeRateLimits(t *testing.T) {
	tiny := map[string]string{
		EnvRateLimitUserRPS: "0.001", EnvRateLimitUserBurst: "3",
		EnvRateLimitIPRPS: "0.001", EnvRateLimitIPBurst: "2",
	}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range tiny {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	type step struct {
		path  string
		token string // PATIENT_TOKEN, PRO_TOKEN, "bad" or ""
		want  int
	}
	for _, c := range []struct {
		name  string
		env   map[string]string
		flags []string
		steps []step
	}{
		{
			name: "by subject, and by address on loopback when asked",
			env:  with(map[string]string{EnvRateLimitLoopback: "true"}),
			steps: []step{
				{"/v1/photos", "PATIENT_TOKEN", 200}, {"/v1/photos", "PATIENT_TOKEN", 200}, {"/v1/photos", "PATIENT_TOKEN", 200},
				{"/v1/photos", "PATIENT_TOKEN", 429},
				{"/v1/shares", "PRO_TOKEN", 200}, // another subject
				{"/health", "", 200}, {"/v1/photos", "bad", 401}, {"/openapi.yaml", "", 429}, {"/v1/photos", "bad", 429},
				{"/v1/shares", "PRO_TOKEN", 200}, // a valid token is not limited by its address
			},
		},
		{
			name: "loopback is exempt from the address limit by default",
			env:  tiny,
			steps: []step{
				{"/health", "", 200}, {"/health", "", 200}, {"/health", "", 200}, {"/v1/photos", "bad", 401}, {"/v1/photos", "bad", 401},
				{"/v1/photos", "PATIENT_TOKEN", 200}, {"/v1/photos", "PATIENT_TOKEN", 200}, {"/v1/photos", "PATIENT_TOKEN", 200},
				{"/v1/photos", "PATIENT_TOKEN", 429},
			},
		},
		{
			name:  "off by the environment",
			env:   with(map[string]string{EnvRateLimit: "false", EnvRateLimitLoopback: "true"}),
			steps: []step{{"/v1/photos", "PATIENT_TOKEN", 200}, {"/v1/photos", "PATIENT_TOKEN", 200}, {"/v1/photos", "PATIENT_TOKEN", 200}, {"/v1/photos", "PATIENT_TOKEN", 200}, {"/v1/photos", "PATIENT_TOKEN", 200}, {"/health", "", 200}, {"/health", "", 200}, {"/health", "", 200}},
		},
		{
			name:  "off by the flag, which beats the environment",
			env:   with(map[string]string{EnvRateLimit: "true"}),
			flags: []string{"--rate-limit=false"},
			steps: []step{{"/v1/photos", "PATIENT_TOKEN", 200}, {"/v1/photos", "PATIENT_TOKEN", 200}, {"/v1/photos", "PATIENT_TOKEN", 200}, {"/v1/photos", "PATIENT_TOKEN", 200}},
		},
		{
			name:  "a flag's burst beats the environment's",
			env:   tiny,
			flags: []string{"--rate-limit-user-burst", "1"},
			steps: []step{{"/v1/photos", "PATIENT_TOKEN", 200}, {"/v1/photos", "PATIENT_TOKEN", 429}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := launch(t, t.TempDir(), c.env, append([]string{"--demo", "--jobs=false"}, c.flags...)...)
			tok := demoTokens(t, srv.stdout)
			tok["bad"] = "not-a-token"
			var got, want []int
			for _, s := range c.steps {
				req, _ := http.NewRequest("GET", srv.url+s.path, nil)
				if s.token != "" {
					req.Header.Set("Authorization", "Bearer "+tok[s.token])
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				got, want = append(got, resp.StatusCode), append(want, s.want)
				if resp.StatusCode == 429 {
					var e struct {
						Error struct{ Code, Message, RequestID string } `json:"error"`
					}
					json.Unmarshal(b, &e)
					if e.Error.Code != "rate_limited" || resp.Header.Get("Retry-After") != "1000" ||
						resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Request-Id") == "" {
						t.Errorf("%s: 429 answer %s with headers %v", s.path, b, resp.Header)
					}
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("statuses %v, want %v", got, want)
			}
		})
	}
}

// minter loads (or creates) the token signing key in keyFile and returns
// it with a function that mints an hour's token for a subject and role.
func minter(t *testing.T, keyFile string) (*devauth.Authority, func(sub string, role core.Role) string) {
	t.Helper()
	auth, err := devauth.LoadOrCreate(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return auth, func(sub string, role core.Role) string {
		t.Helper()
		tok, err := auth.Mint(sub, role, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
}
