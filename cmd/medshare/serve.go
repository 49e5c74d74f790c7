package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/medshare/medshare/shared/jobs"
	"github.com/medshare/medshare/shared/runtime/config"
	"github.com/medshare/medshare/shared/runtime/embedded"
	"github.com/medshare/medshare/shared/runtime/localserver"
	"github.com/medshare/medshare/shared/runtime/ratelimit"
)

// ready is set by tests to learn the bound address.
var ready func(addr string)

// HSTSValue is the Strict-Transport-Security header on every answer when
// TLS is on: one year. No includeSubDomains: the server does not know what
// else lives under its name.
const HSTSValue = "max-age=31536000"

// tlsCipherSuites are the TLS 1.2 suites served: ECDHE with an AEAD only
// (no CBC, no RSA key exchange). TLS 1.3 suites are Go's, all AEAD, and not
// configurable.
var tlsCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// tlsConfig loads the certificate chain and key and returns the server's TLS
// configuration: TLS 1.2 and 1.3, AEAD suites only.
func tlsConfig(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load --tls-cert and --tls-key: %w", err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: tlsCipherSuites,
		Certificates: []tls.Certificate{cert},
	}, nil
}

// hsts adds Strict-Transport-Security to every answer.
func hsts(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", HSTSValue)
		next.ServeHTTP(w, r)
	})
}

// Rate limit settings: each flag's default comes from its variable.
const (
	EnvRateLimit          = "MEDSHARE_RATE_LIMIT"            // true or false
	EnvRateLimitUserRPS   = "MEDSHARE_RATE_LIMIT_USER_RPS"   // requests per second per token subject
	EnvRateLimitUserBurst = "MEDSHARE_RATE_LIMIT_USER_BURST" // requests at once per token subject
	EnvRateLimitIPRPS     = "MEDSHARE_RATE_LIMIT_IP_RPS"     // requests per second per client address
	EnvRateLimitIPBurst   = "MEDSHARE_RATE_LIMIT_IP_BURST"   // requests at once per client address
	EnvRateLimitLoopback  = "MEDSHARE_RATE_LIMIT_LOOPBACK"   // true: limit loopback clients by address too
)

// The default limits: far above what the portal does (a patient uploading
// 50 photos is about 100 API calls and 50 blob PUTs; a professional viewing
// 50 photos about 100 calls and 50 blob GETs; a chat list of 100 images 100
// calls), and far above what `medshare loadtest` asks of any one subject.
// The address limit is shared by everyone behind one NAT, so it is larger.
const (
	DefaultUserRPS   = 10
	DefaultUserBurst = 300
	DefaultIPRPS     = 20
	DefaultIPBurst   = 600
)

type limitFlags struct {
	on                 bool
	userRPS, ipRPS     float64
	userBurst, ipBurst int
	loopback           bool
	envErr             error
}

// register defines the rate limit flags, each defaulting to its variable.
func (l *limitFlags) register(fs *flag.FlagSet, getenv func(string) string) error {
	boolEnv := func(name string, def bool) bool {
		return envDefault(l, getenv, name, def, strconv.ParseBool, "want true or false")
	}
	floatEnv := func(name string, def float64) float64 {
		parse := func(v string) (float64, error) { return strconv.ParseFloat(v, 64) }
		return envDefault(l, getenv, name, def, parse, "want a number of requests per second")
	}
	intEnv := func(name string, def int) int {
		return envDefault(l, getenv, name, def, strconv.Atoi, "want a whole number of requests")
	}
	fs.BoolVar(&l.on, "rate-limit", boolEnv(EnvRateLimit, true), "limit requests per caller (env "+EnvRateLimit+")")
	fs.Float64Var(&l.userRPS, "rate-limit-user-rps", floatEnv(EnvRateLimitUserRPS, DefaultUserRPS), "sustained requests per second per token subject (env "+EnvRateLimitUserRPS+")")
	fs.IntVar(&l.userBurst, "rate-limit-user-burst", intEnv(EnvRateLimitUserBurst, DefaultUserBurst), "requests at once per token subject (env "+EnvRateLimitUserBurst+")")
	fs.Float64Var(&l.ipRPS, "rate-limit-ip-rps", floatEnv(EnvRateLimitIPRPS, DefaultIPRPS), "sustained requests per second per client address, for what carries no valid token (env "+EnvRateLimitIPRPS+")")
	fs.IntVar(&l.ipBurst, "rate-limit-ip-burst", intEnv(EnvRateLimitIPBurst, DefaultIPBurst), "requests at once per client address (env "+EnvRateLimitIPBurst+")")
	fs.BoolVar(&l.loopback, "rate-limit-loopback", boolEnv(EnvRateLimitLoopback, false), "limit loopback clients by address too (env "+EnvRateLimitLoopback+")")
	return l.envErr
}

// envDefault is the default of a flag whose variable is name: def when
// the variable is unset or empty, else its value as parse reads it. A value
// parse refuses is added to l.envErr, which register returns.
func envDefault[T any](l *limitFlags, getenv func(string) string, name string, def T, parse func(string) (T, error), want string) T {
	v := getenv(name)
	if v == "" {
		return def
	}
	x, err := parse(v)
	if err != nil {
		l.envErr = errors.Join(l.envErr, fmt.Errorf("%s=%q: %s", name, v, want))
	}
	return x
}

// limits builds the limits the flags ask for; nil when they are off.
func (l *limitFlags) limits() (*localserver.Limits, error) {
	if !l.on {
		return nil, nil
	}
	user, err := ratelimit.New(ratelimit.Config{Rate: l.userRPS, Burst: l.userBurst})
	if err != nil {
		return nil, fmt.Errorf("--rate-limit-user-rps/--rate-limit-user-burst: %w", err)
	}
	ip, err := ratelimit.New(ratelimit.Config{Rate: l.ipRPS, Burst: l.ipBurst})
	if err != nil {
		return nil, fmt.Errorf("--rate-limit-ip-rps/--rate-limit-ip-burst: %w", err)
	}
	return &localserver.Limits{User: user, IP: ip, LimitLoopback: l.loopback}, nil
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	dir := fs.String("data-dir", ".data", "data directory (created with mode 0700)")
	publicURL := fs.String("public-url", "", "base URL clients use (default http(s)://ADDR; required when ADDR is every interface)")
	demo := fs.Bool("demo", false, "seed a patient, a professional, a clinic and an appointment and print their tokens")
	runJobs := fs.Bool("jobs", true, "run the scheduled jobs (cleanup, daily-report) in-process on their schedules")
	certFile := fs.String("tls-cert", "", "PEM certificate chain: serve HTTPS (TLS 1.2+) with --tls-key")
	keyFile := fs.String("tls-key", "", "PEM private key of --tls-cert")
	insecure := fs.Bool("insecure-http", false, "allow plain HTTP on a non-loopback address (only behind a TLS proxy on a trusted network); warned at every start")
	shutdownTimeout := fs.Duration("shutdown-timeout", 30*time.Second, "on SIGTERM or SIGINT, how long requests in flight may take to finish")
	var lf limitFlags
	if err := lf.register(fs, getenv); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected arguments %q", fs.Args())
	}
	if (*certFile == "") != (*keyFile == "") {
		return errors.New("serve: give both --tls-cert and --tls-key, or neither")
	}
	if *shutdownTimeout <= 0 {
		return errors.New("serve: --shutdown-timeout must be positive")
	}
	// A long-running server trades a few MB of heap for less GC work.
	tuneGC(getenv)
	cfg, err := config.Service(getenv)
	if err != nil {
		return err
	}
	limits, err := lf.limits()
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	var tlsCfg *tls.Config
	if *certFile != "" {
		if *insecure {
			return errors.New("serve: --insecure-http and --tls-cert contradict each other")
		}
		if tlsCfg, err = tlsConfig(*certFile, *keyFile); err != nil {
			return fmt.Errorf("serve: %w", err)
		}
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer ln.Close()
	bound := ln.Addr().(*net.TCPAddr)
	if tlsCfg == nil && !bound.IP.IsLoopback() {
		if !*insecure {
			return fmt.Errorf("serve: refusing to serve plain HTTP on %s, which is not a loopback address: give --tls-cert and --tls-key, or --insecure-http if a TLS proxy on a trusted network fronts this server", bound)
		}
		// At every start, for the operator and in the log.
		fmt.Fprintf(stderr, "WARNING: serving plain HTTP on %s, a non-loopback address (--insecure-http): tokens, data keys and photos cross the network unencrypted unless a TLS proxy fronts this server\n", bound)
		log.Warn("insecure http on a non-loopback address", "addr", bound.String(), "flag", "--insecure-http")
	}
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	if *publicURL == "" {
		if bound.IP.IsUnspecified() {
			return fmt.Errorf("serve: %s listens on every interface: give --public-url, the %s URL clients reach it at", bound, scheme)
		}
		*publicURL = scheme + "://" + bound.String()
	}
	if u, err := url.Parse(*publicURL); err != nil {
		return fmt.Errorf("serve: --public-url: %w", err)
	} else if tlsCfg != nil && u.Scheme != "https" {
		return fmt.Errorf("serve: --public-url %q: with TLS on it must be an https URL", *publicURL)
	}

	rt, err := embedded.Open(embedded.Options{DataDir: *dir, PublicURL: *publicURL, Config: cfg, Log: log, Limits: limits,
		Demo: demoSignIn(*demo, bound, log)})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	storeOpen := true
	defer func() {
		if storeOpen {
			rt.Close()
		}
	}()
	if *demo {
		if err := seedDemo(ctx, rt, *dir, stdout); err != nil {
			return fmt.Errorf("serve: demo: %w", err)
		}
	}
	var handler http.Handler = rt.HTTPHandler(log)
	if tlsCfg != nil {
		handler = hsts(handler)
		leaf := tlsCfg.Certificates[0].Leaf
		log.Info("tls", "min_version", "1.2", "subject", leaf.Subject.String(), "dns_names", leaf.DNSNames, "not_after", leaf.NotAfter)
		if now := time.Now(); now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
			fmt.Fprintf(stderr, "WARNING: the TLS certificate is not valid now (valid %s to %s): clients will refuse it\n", leaf.NotBefore.Format(time.RFC3339), leaf.NotAfter.Format(time.RFC3339))
			log.Warn("tls certificate not valid now", "not_before", leaf.NotBefore, "not_after", leaf.NotAfter)
		}
	}
	srv := &http.Server{
		Handler:           handler,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute,
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	// The admin socket serves `medshare backup` while the store is held.
	adminCtx, stopAdmin := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAdmin()
	var adminSrv *http.Server
	if aln, err := embedded.ListenAdmin(*dir); err != nil {
		fmt.Fprintf(stderr, "WARNING: online backups are unavailable: %v\n", err)
		log.Warn("online backups unavailable", "err", err)
	} else {
		adminSrv = &http.Server{
			Handler:           rt.AdminHandler(log),
			ReadHeaderTimeout: 10 * time.Second,
			BaseContext:       func(net.Listener) context.Context { return adminCtx },
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		go adminSrv.Serve(aln)
		defer adminSrv.Close()
		// Serve closes the listener, but in its own goroutine, which may
		// not have started when a quick shutdown returns: closed here too,
		// the socket refuses connections (and is unlinked) before serve
		// returns, so a backup run next sees no server rather than a reset.
		defer aln.Close()
	}

	// The jobs outlive the signal: they stop after the last request.
	jobsCtx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	jobsDone := make(chan struct{})
	jobsStopped := false
	defer func() {
		if !jobsStopped {
			stopJobs()
			<-jobsDone
		}
	}()
	go func() {
		defer close(jobsDone)
		if *runJobs {
			jobs.Schedule(jobsCtx, rt.Service, log, time.Now, jobs.After)
		}
	}()

	log.Info("listening", "addr", bound.String(), "tls", tlsCfg != nil, "data_dir", *dir, "public_url", *publicURL,
		"rate_limit", limits != nil, "shutdown_timeout", shutdownTimeout.String())
	if ready != nil {
		ready(bound.String())
	}
	errc := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
	}

	// Shutdown: stop accepting and let the requests in flight finish, then
	// the backups, then the jobs, then the store; nothing a client was told
	// is lost, since every write is committed before its answer.
	log.Info("shutting down", "timeout", shutdownTimeout.String())
	shCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), *shutdownTimeout)
	defer cancel()
	var errs []error
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		errs = append(errs, fmt.Errorf("serve: %w", serveErr))
	}
	if err := srv.Shutdown(shCtx); err != nil {
		log.Error("shutdown: requests still running at the deadline were cut", "err", err)
		srv.Close()
		errs = append(errs, fmt.Errorf("serve: shutdown: %w", err))
	}
	if adminSrv != nil {
		stopAdmin() // a backup in progress ends, its client sees a cut stream
		if err := adminSrv.Shutdown(shCtx); err != nil {
			adminSrv.Close()
		}
	}
	stopJobs()
	<-jobsDone
	jobsStopped = true
	storeOpen = false
	if err := rt.Close(); err != nil {
		errs = append(errs, fmt.Errorf("serve: close the store: %w", err))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	log.Info("stopped")
	return nil
}
