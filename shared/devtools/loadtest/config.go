package loadtest

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/medshare/medshare/shared/core"
)

// The plan of a run: its flags, its defaults and the request budget it
// implies.

// KEMs are the device KEMs the viewers use, in turn: DHKEM(X25519),
// DHKEM(P-256) and ML-KEM-768+X25519.
var KEMs = []uint16{0x0020, 0x0010, 0x647a}

// Config is a run's plan.
type Config struct {
	// BaseURL is the server, e.g. http://127.0.0.1:8080: loopback only.
	BaseURL string
	// Mint makes a bearer token the server accepts (devauth.Authority.Mint
	// with the server's key).
	Mint func(subject string, role core.Role, ttl time.Duration) (string, error)

	Patients           int
	SessionsPerPatient int
	Viewers            int     // professionals; session g goes to viewer g mod Viewers
	ViewsPerSession    int     // max_views of every session
	RevokeFraction     float64 // of the sessions, revoked while viewers run
	// DoubleClaimFraction of the keys are claimed by two requests at once:
	// exactly one may succeed.
	DoubleClaimFraction float64
	// BurstFraction of the sessions get max_views+1 key requests at once:
	// at most max_views may succeed.
	BurstFraction float64
	// ActivityReports is the number of activity events the viewers report
	// in all (POST /v1/access/{id}/activity, in batches of 1-5), spread at
	// random over the sessions and their views; 0: none.
	ActivityReports int
	// Scale multiplies Patients, Viewers and ActivityReports (at least 1
	// each, ActivityReports unless 0).
	Scale float64

	Concurrency    int           // requests in flight at most
	Duration       time.Duration // hard cap of the whole run, checks included
	RequestTimeout time.Duration // per request, counted once it has its slot
	PhotoBytes     int           // mean plaintext size; each photo is 0.5-1.5 times it
	Seed           uint64        // 0: random
	// Progress, when not nil, gets a line every ProgressEvery.
	Progress      io.Writer
	ProgressEvery time.Duration
}

// Defaults is the plan of issue 5: 500 patients with 5 sessions each, 1,000
// professionals, 3 views per session, 10% revoked, 10,000 activity events,
// 64 requests in flight, at most 5 minutes.
func Defaults() Config {
	return Config{
		BaseURL:             "http://127.0.0.1:8080",
		Patients:            500,
		SessionsPerPatient:  5,
		Viewers:             1000,
		ViewsPerSession:     3,
		RevokeFraction:      0.1,
		DoubleClaimFraction: 0.05,
		BurstFraction:       0.05,
		ActivityReports:     10_000,
		Scale:               1,
		Concurrency:         64,
		Duration:            5 * time.Minute,
		RequestTimeout:      30 * time.Second,
		PhotoBytes:          16 << 10,
		ProgressEvery:       10 * time.Second,
	}
}

// RegisterFlags defines the plan's flags on fs, with c's values as defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.BaseURL, "url", c.BaseURL, "server base URL; loopback only (127.0.0.0/8, ::1, localhost)")
	fs.IntVar(&c.Patients, "patients", c.Patients, "patients; each uploads 1-2 photos and creates the sessions")
	fs.IntVar(&c.SessionsPerPatient, "sessions-per-patient", c.SessionsPerPatient, "sessions each patient creates")
	fs.IntVar(&c.Viewers, "viewers", c.Viewers, "professionals viewing concurrently")
	fs.IntVar(&c.ViewsPerSession, "views-per-session", c.ViewsPerSession, "max_views of each session")
	fs.Float64Var(&c.RevokeFraction, "revoke-fraction", c.RevokeFraction, "fraction of sessions revoked while viewers run")
	fs.Float64Var(&c.DoubleClaimFraction, "double-claim-fraction", c.DoubleClaimFraction, "fraction of keys claimed twice at once")
	fs.Float64Var(&c.BurstFraction, "burst-fraction", c.BurstFraction, "fraction of sessions whose views are all asked for at once (plus one)")
	fs.IntVar(&c.ActivityReports, "activity-reports", c.ActivityReports, "activity events the viewers report in all, in batches of 1-5 (0: none)")
	fs.Float64Var(&c.Scale, "scale", c.Scale, "multiplies --patients, --viewers and --activity-reports")
	fs.IntVar(&c.Concurrency, "concurrency", c.Concurrency, "requests in flight at most")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "hard cap of the whole run, checks included")
	fs.DurationVar(&c.RequestTimeout, "request-timeout", c.RequestTimeout, "timeout of one request")
	fs.IntVar(&c.PhotoBytes, "photo-bytes", c.PhotoBytes, "mean photo size in bytes")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "random seed of the plan (0: random)")
}

func (c Config) normalized() (Config, error) {
	if err := CheckURL(c.BaseURL); err != nil {
		return c, err
	}
	if c.Mint == nil {
		return c, errors.New("no token minter")
	}
	if c.Scale == 0 {
		c.Scale = 1
	}
	if c.Scale < 0 || c.Scale > 100 {
		return c, fmt.Errorf("scale %v: want (0, 100]", c.Scale)
	}
	if c.Patients < 1 || c.Viewers < 1 {
		return c, fmt.Errorf("patients %d, viewers %d: want at least 1 each", c.Patients, c.Viewers)
	}
	if c.ActivityReports < 0 {
		return c, fmt.Errorf("activity-reports %d: want at least 0", c.ActivityReports)
	}
	c.Patients = max(1, int(float64(c.Patients)*c.Scale+0.5))
	c.Viewers = max(1, int(float64(c.Viewers)*c.Scale+0.5))
	if c.ActivityReports > 0 {
		c.ActivityReports = max(1, int(float64(c.ActivityReports)*c.Scale+0.5))
	}
	if c.ActivityReports > 10_000_000 {
		return c, fmt.Errorf("activity-reports %d: want at most 10000000", c.ActivityReports)
	}
	for _, r := range []struct {
		name   string
		v, max int
	}{
		{"patients", c.Patients, 100_000},
		{"sessions-per-patient", c.SessionsPerPatient, 100},
		{"viewers", c.Viewers, 100_000},
		{"views-per-session", c.ViewsPerSession, 1000},
		{"concurrency", c.Concurrency, 4096},
	} {
		if r.v < 1 || r.v > r.max {
			return c, fmt.Errorf("%s %d: want 1-%d", r.name, r.v, r.max)
		}
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"revoke-fraction", c.RevokeFraction}, {"double-claim-fraction", c.DoubleClaimFraction}, {"burst-fraction", c.BurstFraction}} {
		if f.v < 0 || f.v > 1 {
			return c, fmt.Errorf("%s %v: want 0-1", f.name, f.v)
		}
	}
	if c.Duration <= 0 || c.Duration > 24*time.Hour {
		return c, fmt.Errorf("duration %v: want (0, 24h]", c.Duration)
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.PhotoBytes < 1 || c.PhotoBytes > 8<<20 {
		return c, fmt.Errorf("photo-bytes %d: want 1-8388608", c.PhotoBytes)
	}
	if c.Seed == 0 {
		var b [8]byte
		rand.Read(b[:])
		for _, x := range b {
			c.Seed = c.Seed<<8 | uint64(x)
		}
		c.Seed |= 1
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = 10 * time.Second
	}
	return c, nil
}

// budget is an upper bound on the requests the plan can make; the transport
// refuses any beyond it.
func (c Config) budget() int64 {
	p, s, m := int64(c.Patients), int64(c.Patients*c.SessionsPerPatient), int64(c.ViewsPerSession)
	setup := 2 + p*(2*3+int64(c.SessionsPerPatient)) // preflight; 2 photos × (presign, put, finalize) + sessions
	view := s * (1 + (m + 1) + 2*m + m)              // open, issues, claims (double), downloads
	revoke := s
	activity := int64(c.ActivityReports) // a report holds at least one event
	check := s + p
	return setup + view + activity + revoke + check
}
