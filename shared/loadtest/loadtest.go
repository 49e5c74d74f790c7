// Package loadtest drives a running MedShare server on this machine with many
// patients and professionals at once, then checks the security invariants of
// ARCHITECTURE.md §2 against what it did and what the server reports.
//
// A run has four phases. Setup: every patient uploads one or two encrypted
// photos and creates its sessions. Viewing: every professional opens an
// access on its own device (X25519, P-256 or ML-KEM-768+X25519) to each
// session granted to it and views until the session is exhausted or revoked;
// some keys are claimed twice at once, and some sessions get all their views
// asked for at once. Between its views, each viewer's client reports activity
// on its access (batches of 1-5 events, mostly app_backgrounded, some
// screenshots and copy attempts), so that the server's detector warns and
// revokes some sessions by itself. Revocations: while the viewers run,
// patients revoke a fraction of the sessions, half at a random point of the
// whole run and half in the middle of their own session's views. Check: each
// session is read as its patient and each patient's audit chain is verified.
//
// The run is bounded: requests in flight (Concurrency), requests in total (a
// budget computed from the plan) and time (Duration, which covers the checks
// too). It talks to loopback addresses only.
package loadtest

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/core"
)

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

type photo struct {
	id    string
	plain []byte
}

type patient struct {
	idx      int
	id       string
	cl       *client.Client
	photos   []photo
	sessions []*session
	started  bool // its setup began: it has an audit chain to verify
	verify   *verification
	checkErr error
}

type verification struct {
	Valid       bool   `json:"valid"`
	Records     uint64 `json:"records"`
	FirstBadSeq uint64 `json:"first_bad_seq"`
	Problem     string `json:"problem"`
}

type revokePlan int

const (
	noRevoke        revokePlan = iota
	revokeAtRandom             // when the run's issued keys reach a random count
	revokeInSession            // after this session's k-th issued key (k = 0: before it opens)
)

// success is an open, issue or claim the server granted, with the time its
// request went on the wire.
type success struct {
	op    string
	id    string
	start time.Time
}

type session struct {
	idx      int
	id       string
	patient  *patient
	viewer   int
	photos   []photo
	maxViews int
	burst    bool

	plan        revokePlan
	revokeAfter int   // revokeInSession: after this many issued keys
	threshold   int64 // revokeAtRandom: when the run's issued keys reach it

	batches []batch // activity to report, in slot order

	mu             sync.Mutex
	issued         int // keys granted
	issueUnknown   int // key requests sent without an answer
	successes      []success
	views          int // photos decrypted and equal to the original
	revokeTried    bool
	revokeReturned time.Time // zero unless the revoke answered 200
	revokeUnknown  bool
	final          *client.Share
	checkErr       error

	// Activity and what the server said about the session. All requests on
	// the session's access come from its one viewer, one after another (the
	// two claims of a double claim both end before the next request), so
	// each answer's score is known exactly (see activityReport).
	nextBatch       int
	reports         []activityReport // answered 200, in order
	reportedDelta   int              // weights of the reports answered 200
	unknownDelta    int              // weights of the reports that may or may not have counted
	failedClaims    int              // claims refused key_used or key_expired: +15 each
	unknownClaims   int              // claims without an answer (or a 5xx): +0 or +15
	lastScore       int              // of the last answer; -1 before the first
	revokedAnswerAt time.Time        // when the first activity answer "revoked" returned
	revokedRefusals int              // 410 session_revoked answers to the viewer
}

// Activity events a viewer's client reports, with their weights on a
// session whose screenshot_policy is warn (every session of the plan).
const (
	evScreenshot      = "screenshot"
	evCopyAttempt     = "copy_attempt"
	evAppBackgrounded = "app_backgrounded"
	failedClaimWeight = 15 // the detector's signal on a claim of a used or expired key
	keyBurstWeight    = 30 // the detector's signal on more issue-key calls in a minute than core.BurstLimit
	warnScore         = 50
	revokeScore       = 100
)

var eventWeights = map[string]int{evScreenshot: 40, evCopyAttempt: 30, evAppBackgrounded: 5}

// Activity actions.
const (
	actionNone    = "none"
	actionWarned  = "warned"
	actionRevoked = "revoked"
)

// batch is one activity report: sent after the slot-th key of its session
// was claimed and viewed (0: right after the open), or when the session
// ends, whichever comes first.
type batch struct {
	slot       int
	events     []string
	delta      int // the sum of the events' weights
	screenshot bool
}

// activityReport is one answer 200 to an activity report. The score it
// must carry is known: lo is the weights of the session's reports answered
// so far, this one included, plus 15 per claim refused key_used or
// key_expired before it was sent; hi adds what may or may not have counted
// (reports and claims without an answer).
type activityReport struct {
	delta      int
	screenshot bool
	lo, hi     int
	prev       int // the previous answer's score; -1 for the first
	score      int
	action     string
	end        time.Time
}

// noteRefusal counts a 410 session_revoked to the session's viewer.
func (s *session) noteRefusal(tr *trace) {
	if tr != nil && tr.code == core.CodeSessionRevoked {
		s.mu.Lock()
		s.revokedRefusals++
		s.mu.Unlock()
	}
}

// revokeSeen is the earliest moment the run knew the session revoked: its
// patient's revoke returned 200, or an activity answer said "revoked". Zero
// when neither happened.
func (s *session) revokeSeen() time.Time {
	t := s.revokeReturned
	if !s.revokedAnswerAt.IsZero() && (t.IsZero() || s.revokedAnswerAt.Before(t)) {
		t = s.revokedAnswerAt
	}
	return t
}

func (s *session) addSuccess(op, id string, start time.Time) {
	s.mu.Lock()
	s.successes = append(s.successes, success{op, id, start})
	s.mu.Unlock()
}

type keyRecord struct {
	session  *session
	claims   int // granted claims
	attempts int
	double   bool
}

type engine struct {
	cfg   Config
	runID string
	st    *stats
	tr    *transport
	http  *http.Client

	stop   atomic.Bool // no new load requests
	capHit atomic.Bool
	phase  atomic.Pointer[string]

	patients []*patient
	sessions []*session

	mu         sync.Mutex
	keys       map[string]*keyRecord
	problems   []string // unexpected answers
	nProblems  int
	viewFails  []string // claimed keys that did not give back the original
	nViewFails int
	noAnswer   int // requests without an answer while the run was not stopping

	issuedKeys atomic.Int64
	views      atomic.Int64
	revoked    atomic.Int64
	revokeWG   sync.WaitGroup

	activityPlanned int          // events planned over the sessions
	activitySent    atomic.Int64 // events in reports that went on the wire
	reportsSent     atomic.Int64
}

const maxExamples = 10

// problem records an answer no correct server gives in this plan.
func (e *engine) problem(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.nProblems++
	if len(e.problems) < maxExamples {
		e.problems = append(e.problems, fmt.Sprintf(format, args...))
	}
}

// failed classifies a failed call: unexpected answers are problems, requests
// that got no answer while the run was stopping are not.
func (e *engine) failed(what string, tr *trace, err error, expected ...string) {
	switch {
	case tr != nil && tr.status != 0:
		if !slices.Contains(expected, tr.code) {
			e.problem("%s: %d %s", what, tr.status, tr.code)
		}
	case errors.Is(err, ErrBudget):
		e.problem("%s: %v", what, err)
	case e.stop.Load():
		// cut by the duration cap
	default:
		e.mu.Lock()
		e.noAnswer++
		e.mu.Unlock()
		e.problem("%s: no answer: %v", what, err)
	}
}

func (e *engine) stopped() bool { return e.stop.Load() }

func (e *engine) setPhase(p string) { e.phase.Store(&p) }

func (e *engine) rng(stream, i uint64) *mrand.Rand {
	return mrand.New(mrand.NewPCG(e.cfg.Seed, stream<<40|i))
}

func (e *engine) client(sub string, role core.Role) (*client.Client, error) {
	tok, err := e.cfg.Mint(sub, role, e.cfg.Duration+30*time.Minute)
	if err != nil {
		return nil, fmt.Errorf("mint a token for %s: %w", sub, err)
	}
	return &client.Client{BaseURL: e.cfg.BaseURL, Token: tok, HTTP: e.http}, nil
}

// Run runs the plan against the server at cfg.BaseURL and checks the
// invariants. It returns an error only when the run cannot start (bad plan,
// not loopback, server down, token refused); violations are in the Report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg, err := cfg.normalized()
	if err != nil {
		return nil, err
	}
	e := &engine{cfg: cfg, st: newStats(), keys: map[string]*keyRecord{}}
	e.tr = newTransport(cfg.Concurrency, cfg.RequestTimeout, cfg.budget(), e.st)
	e.http = &http.Client{Transport: e.tr}
	defer e.tr.base.CloseIdleConnections()
	e.runID = fmt.Sprintf("%06x", cfg.Seed&0xffffff)
	e.setPhase("start")

	started := time.Now()
	hard, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	context.AfterFunc(hard, func() { e.stop.Store(true) })
	// The checks get the last fifth of the time, at most a minute.
	loadFor := cfg.Duration - min(cfg.Duration/5, time.Minute)
	capTimer := time.AfterFunc(loadFor, func() {
		e.capHit.Store(true)
		e.stop.Store(true)
	})
	defer capTimer.Stop()
	stopProgress := e.progress(started)
	defer stopProgress()

	if err := e.preflight(hard); err != nil {
		return nil, err
	}
	e.setPhase("setup")
	if err := e.setup(hard); err != nil {
		return nil, err
	}
	setupDone := time.Now()
	e.setPhase("viewing")
	e.planRevocations()
	e.planActivity()
	if err := e.view(hard); err != nil {
		return nil, err
	}
	loadDone := time.Now()
	capTimer.Stop()
	e.stop.Store(true)
	loadRequests := e.st.total()
	e.setPhase("check")
	e.check(hard)
	checkDone := time.Now()
	e.setPhase("done")

	r := e.report()
	r.Started = started
	r.Setup = setupDone.Sub(started)
	r.Viewing = loadDone.Sub(setupDone)
	r.Check = checkDone.Sub(loadDone)
	r.LoadRequests = loadRequests
	r.CapHit = e.capHit.Load()
	r.Interrupted = ctx.Err() != nil
	return r, nil
}

func (e *engine) progress(started time.Time) func() {
	if e.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(e.cfg.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				el := time.Since(started)
				n := e.st.total()
				fmt.Fprintf(e.cfg.Progress, "loadtest: %6.1fs %-8s %7d requests (%.0f/s) %6d keys issued %6d views %4d revoked %6d activity events\n",
					el.Seconds(), *e.phase.Load(), n, float64(n)/el.Seconds(), e.issuedKeys.Load(), e.views.Load(), e.revoked.Load(), e.activitySent.Load())
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// preflight checks that the server answers and accepts our tokens before
// the run starts.
func (e *engine) preflight(ctx context.Context) error {
	cl := &client.Client{BaseURL: e.cfg.BaseURL, HTTP: e.http}
	if err := cl.Do(ctx, "GET", "/health", nil, nil, nil); err != nil {
		return fmt.Errorf("the server at %s does not answer /health: %w", e.cfg.BaseURL, err)
	}
	pc, err := e.client(e.patientID(0), core.RolePatient)
	if err != nil {
		return err
	}
	if err := pc.Do(ctx, "GET", "/v1/photos?limit=1", nil, nil, nil); err != nil {
		if client.Code(err) == core.CodeUnauthorized {
			return fmt.Errorf("the server refuses our tokens (is --data-dir the server's data directory?): %w", err)
		}
		return fmt.Errorf("preflight: %w", err)
	}
	return nil
}

func (e *engine) patientID(i int) string { return fmt.Sprintf("lt-%s-pat-%d", e.runID, i) }
func (e *engine) viewerID(v int) string  { return fmt.Sprintf("lt-%s-pro-%d", e.runID, v) }

var angles = []string{"VERTEX", "HAIRLINE", "TEMPLES", "CROWN", "FRONT", "BACK", "LEFT", "RIGHT", "OTHER"}

// setup: every patient uploads 1-2 photos and creates its sessions, with
// Concurrency patients at a time.
func (e *engine) setup(ctx context.Context) error {
	e.patients = make([]*patient, e.cfg.Patients)
	for i := range e.patients {
		cl, err := e.client(e.patientID(i), core.RolePatient)
		if err != nil {
			return err
		}
		e.patients[i] = &patient{idx: i, id: e.patientID(i), cl: cl}
	}
	work := make(chan *patient)
	var wg sync.WaitGroup
	for range min(e.cfg.Concurrency, len(e.patients)) {
		wg.Go(func() {
			for p := range work {
				e.setupPatient(ctx, p)
			}
		})
	}
	for _, p := range e.patients {
		if e.stopped() || ctx.Err() != nil {
			break
		}
		work <- p
	}
	close(work)
	wg.Wait()
	for _, p := range e.patients {
		e.sessions = append(e.sessions, p.sessions...)
	}
	return nil
}

func (e *engine) setupPatient(ctx context.Context, p *patient) {
	p.started = true
	rng := e.rng(1, uint64(p.idx))
	for range 1 + rng.IntN(2) {
		if e.stopped() {
			return
		}
		plain := make([]byte, e.cfg.PhotoBytes/2+rng.IntN(e.cfg.PhotoBytes+1))
		rand.Read(plain)
		id, err := p.cl.UploadPhoto(ctx, angles[rng.IntN(len(angles))], "image/jpeg", plain, nil)
		if err != nil {
			if !e.stopped() {
				e.problem("patient %s: upload a photo: %v", p.id, err)
			}
			continue
		}
		p.photos = append(p.photos, photo{id: id, plain: plain})
	}
	if len(p.photos) == 0 {
		return
	}
	ids := make([]string, len(p.photos))
	for i, ph := range p.photos {
		ids[i] = ph.id
	}
	for j := range e.cfg.SessionsPerPatient {
		if e.stopped() {
			return
		}
		g := p.idx*e.cfg.SessionsPerPatient + j
		v := g % e.cfg.Viewers
		cctx, tr := withTrace(ctx)
		sh, err := p.cl.CreateShare(cctx, client.ShareRequest{
			ProfessionalID: e.viewerID(v), PhotoIDs: ids, ExpiresIn: 3600,
			MaxViews: e.cfg.ViewsPerSession, ScreenshotPolicy: "warn", Purpose: "load test",
		}, rand.Text())
		if err != nil {
			e.failed("patient "+p.id+": create a session", tr, err)
			continue
		}
		p.sessions = append(p.sessions, &session{
			idx: g, id: sh.ShareID, patient: p, viewer: v, photos: p.photos, maxViews: e.cfg.ViewsPerSession, lastScore: -1,
		})
	}
}

// planRevocations picks the sessions to revoke, half at a random point of
// the run and half within their own views, and the burst sessions.
func (e *engine) planRevocations() {
	rng := e.rng(2, 0)
	n := int(float64(len(e.sessions))*e.cfg.RevokeFraction + 0.5)
	// Keys the run should issue if nothing is revoked; random points fall in
	// the first 80% of that, so that most revocations land while viewers run.
	expected := int64(len(e.sessions)) * int64(e.cfg.ViewsPerSession) * 8 / 10
	for i, idx := range rng.Perm(len(e.sessions))[:n] {
		s := e.sessions[idx]
		if i%2 == 0 {
			s.plan = revokeInSession
			s.revokeAfter = rng.IntN(s.maxViews)
		} else {
			s.plan = revokeAtRandom
			s.threshold = rng.Int64N(max(1, expected))
		}
	}
	for _, s := range e.sessions {
		s.burst = rng.Float64() < e.cfg.BurstFraction
	}
}

// planActivity spreads the plan's activity events at random over the
// sessions, cuts each session's share into reports of 1-5 events and places
// each report after one of the session's views (or right after its open).
// Events are 80% app_backgrounded, 10% copy_attempt, 10% screenshot.
func (e *engine) planActivity() {
	if len(e.sessions) == 0 || e.cfg.ActivityReports == 0 {
		return
	}
	rng := e.rng(4, 0)
	counts := make([]int, len(e.sessions))
	for range e.cfg.ActivityReports {
		counts[rng.IntN(len(counts))]++
	}
	for i, s := range e.sessions {
		for n := counts[i]; n > 0; {
			k := 1 + rng.IntN(min(5, n))
			b := batch{slot: rng.IntN(s.maxViews + 1)}
			for range k {
				ev := evAppBackgrounded
				switch r := rng.Float64(); {
				case r < 0.1:
					ev = evScreenshot
					b.screenshot = true
				case r < 0.2:
					ev = evCopyAttempt
				}
				b.events = append(b.events, ev)
				b.delta += eventWeights[ev]
			}
			s.batches = append(s.batches, b)
			n -= k
		}
		slices.SortStableFunc(s.batches, func(a, b batch) int { return a.slot - b.slot })
		e.activityPlanned += counts[i]
	}
}

// reportActivity sends the session's reports placed up to slot upTo, one
// after another, and records their answers.
func (e *engine) reportActivity(ctx context.Context, cl *client.Client, s *session, accessID string, upTo int) {
	type event struct {
		Type    string    `json:"type"`
		At      time.Time `json:"at"`
		Details string    `json:"details,omitempty"`
	}
	path := "/v1/access/" + url.PathEscape(accessID) + "/activity"
	for {
		if e.stopped() || ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		if s.nextBatch >= len(s.batches) || s.batches[s.nextBatch].slot > upTo {
			s.mu.Unlock()
			return
		}
		b := s.batches[s.nextBatch]
		s.nextBatch++
		s.mu.Unlock()

		body := struct {
			Events []event `json:"events"`
		}{}
		now := time.Now().UTC()
		for i, ev := range b.events {
			body.Events = append(body.Events, event{Type: ev, At: now.Add(time.Duration(i-len(b.events)) * time.Millisecond), Details: "load test " + e.runID})
		}
		var ans struct {
			Action string `json:"action"`
			Score  int    `json:"score"`
		}
		actx, tr := withTrace(ctx)
		err := cl.Do(actx, "POST", path, nil, body, &ans)
		if tr.sent {
			e.reportsSent.Add(1)
			e.activitySent.Add(int64(len(b.events)))
		}
		s.mu.Lock()
		switch {
		case err == nil:
			s.reportedDelta += b.delta
			lo := s.reportedDelta + failedClaimWeight*s.failedClaims
			s.reports = append(s.reports, activityReport{
				delta: b.delta, screenshot: b.screenshot,
				lo: lo, hi: lo + s.unknownDelta + failedClaimWeight*s.unknownClaims + s.burstSlack(),
				prev: s.lastScore, score: ans.Score, action: ans.Action, end: tr.end,
			})
			s.lastScore = ans.Score
			if ans.Action == actionRevoked && s.revokedAnswerAt.IsZero() {
				s.revokedAnswerAt = tr.end
			}
		case tr.status < 400 || tr.status >= 500:
			// No answer, a 5xx or an unreadable 2xx: it may have counted.
			s.unknownDelta += b.delta
		}
		s.mu.Unlock()
		if err != nil {
			e.failed("report activity on "+s.id, tr, err)
		}
	}
}

// view runs every viewer at once, and the revocations beside them.
func (e *engine) view(ctx context.Context) error {
	byViewer := make([][]*session, e.cfg.Viewers)
	for _, s := range e.sessions {
		byViewer[s.viewer] = append(byViewer[s.viewer], s)
	}
	pros := make([]*client.Client, e.cfg.Viewers)
	for v := range byViewer {
		if len(byViewer[v]) == 0 {
			continue
		}
		cl, err := e.client(e.viewerID(v), core.RoleProfessional)
		if err != nil {
			return err
		}
		pros[v] = cl
	}

	viewersDone := make(chan struct{})
	revokerDone := make(chan struct{})
	go e.revokeAtRandomPoints(ctx, viewersDone, revokerDone)

	var wg sync.WaitGroup
	for v, list := range byViewer {
		if len(list) == 0 {
			continue
		}
		wg.Go(func() { e.runViewer(ctx, v, pros[v], list) })
	}
	wg.Wait()
	// A session whose views ended before its planned revoke (the detector
	// revoked it first) is revoked now, so that the fraction holds.
	for _, s := range e.sessions {
		if s.plan == revokeInSession {
			e.revokeAsync(ctx, s)
		}
	}
	close(viewersDone)
	<-revokerDone
	e.revokeWG.Wait()
	return nil
}

func (e *engine) revokeAtRandomPoints(ctx context.Context, viewersDone <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	var plan []*session
	for _, s := range e.sessions {
		if s.plan == revokeAtRandom {
			plan = append(plan, s)
		}
	}
	slices.SortFunc(plan, func(a, b *session) int { return int(a.threshold - b.threshold) })
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for len(plan) > 0 {
		select {
		case <-ctx.Done():
			return
		case <-viewersDone:
			// The run issued fewer keys than planned (revoked sessions
			// lose views): revoke the rest now, so the fraction holds.
			for _, s := range plan {
				e.revokeAsync(ctx, s)
			}
			return
		case <-t.C:
		}
		n := e.issuedKeys.Load()
		for len(plan) > 0 && plan[0].threshold <= n {
			e.revokeAsync(ctx, plan[0])
			plan = plan[1:]
		}
	}
}

func (e *engine) revokeAsync(ctx context.Context, s *session) {
	e.revokeWG.Go(func() { e.revoke(ctx, s) })
}

func (e *engine) revoke(ctx context.Context, s *session) {
	s.mu.Lock()
	tried := s.revokeTried
	s.revokeTried = true
	s.mu.Unlock()
	if tried || e.stopped() {
		return
	}
	rctx, tr := withTrace(ctx)
	err := s.patient.cl.RevokeShare(rctx, s.id)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err == nil:
		s.revokeReturned = tr.end
		e.revoked.Add(1)
	case tr.unknown():
		s.revokeUnknown = true
	}
	if err != nil {
		e.failed("revoke session "+s.id, tr, err)
	}
}

func (e *engine) runViewer(ctx context.Context, v int, cl *client.Client, sessions []*session) {
	dev, err := client.NewDevice(KEMs[v%len(KEMs)])
	if err != nil {
		e.problem("viewer %d: make a device: %v", v, err)
		return
	}
	rng := e.rng(3, uint64(v))
	for _, s := range sessions {
		if e.stopped() || ctx.Err() != nil {
			return
		}
		e.viewSession(ctx, rng, cl, dev, s)
	}
}

// grantee answers that a correct server may give a viewer in this plan.
var (
	openRefusals  = []string{core.CodeSessionRevoked}
	issueRefusals = []string{core.CodeViewsExhausted, core.CodeSessionRevoked}
	claimRefusals = []string{core.CodeSessionRevoked}
)

func (e *engine) viewSession(ctx context.Context, rng *mrand.Rand, cl *client.Client, dev *client.Device, s *session) {
	if s.plan == revokeInSession && s.revokeAfter == 0 {
		e.revokeAsync(ctx, s) // races with the open
	}
	octx, tr := withTrace(ctx)
	acc, err := cl.OpenAccess(octx, s.id, dev)
	if err != nil {
		s.noteRefusal(tr)
		e.failed("open access to "+s.id, tr, err, openRefusals...)
		return
	}
	s.addSuccess("open-access", acc.AccessID, tr.start)
	// Whatever ends the views, the client still reports what it saw.
	defer e.reportActivity(ctx, cl, s, acc.AccessID, math.MaxInt)
	e.reportActivity(ctx, cl, s, acc.AccessID, 0)
	if s.burst {
		e.burst(ctx, rng, cl, dev, s, acc.AccessID)
		return
	}
	// max_views keys, then one more that must be refused.
	for i := 0; i <= s.maxViews; i++ {
		if e.stopped() || ctx.Err() != nil {
			return
		}
		ph := s.photos[i%len(s.photos)]
		k, ok := e.issue(ctx, cl, s, acc.AccessID, ph)
		if !ok {
			return
		}
		if !e.claimAndView(ctx, rng, cl, dev, s, acc.AccessID, ph, k) {
			return
		}
		e.reportActivity(ctx, cl, s, acc.AccessID, i+1)
	}
	e.problem("session %s: key %d of max_views %d was granted", s.id, s.maxViews+1, s.maxViews)
}

// burst asks for max_views+1 keys at once, then claims each granted one.
func (e *engine) burst(ctx context.Context, rng *mrand.Rand, cl *client.Client, dev *client.Device, s *session, accessID string) {
	type result struct {
		k  client.IssuedKey
		ph photo
		ok bool
	}
	res := make([]result, s.maxViews+1)
	var wg sync.WaitGroup
	for i := range res {
		ph := s.photos[i%len(s.photos)]
		wg.Go(func() {
			k, ok := e.issue(ctx, cl, s, accessID, ph)
			res[i] = result{k, ph, ok}
		})
	}
	wg.Wait()
	viewed := 0
	for _, r := range res {
		if r.ok && !e.stopped() {
			if !e.claimAndView(ctx, rng, cl, dev, s, accessID, r.ph, r.k) {
				return
			}
			viewed++
			e.reportActivity(ctx, cl, s, accessID, viewed)
		}
	}
}

func (e *engine) issue(ctx context.Context, cl *client.Client, s *session, accessID string, ph photo) (client.IssuedKey, bool) {
	ictx, tr := withTrace(ctx)
	k, err := cl.IssueKey(ictx, accessID, ph.id)
	if err != nil {
		if tr.unknown() {
			s.mu.Lock()
			s.issueUnknown++
			s.mu.Unlock()
		}
		s.noteRefusal(tr)
		e.failed("issue a key of "+s.id, tr, err, issueRefusals...)
		return k, false
	}
	e.mu.Lock()
	e.keys[k.KeyID] = &keyRecord{session: s}
	e.mu.Unlock()
	s.mu.Lock()
	s.issued++
	s.successes = append(s.successes, success{"issue-key", k.KeyID, tr.start})
	n := s.issued
	s.mu.Unlock()
	e.issuedKeys.Add(1)
	if s.plan == revokeInSession && n == s.revokeAfter {
		e.revokeAsync(ctx, s) // races with the claim and the next keys
	}
	return k, true
}

// claimAndView claims a key (sometimes twice at once), downloads the
// ciphertext, opens the key on the device and compares the photo with the
// original. It reports whether the session may go on.
func (e *engine) claimAndView(ctx context.Context, rng *mrand.Rand, cl *client.Client, dev *client.Device, s *session, accessID string, ph photo, k client.IssuedKey) bool {
	double := rng.Float64() < e.cfg.DoubleClaimFraction
	var u client.SignedURL
	var granted bool
	var refusal string
	if double {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				got, ok, code := e.claim(ctx, cl, s, k.KeyID, true)
				mu.Lock()
				defer mu.Unlock()
				if ok {
					u, granted = got, true
				} else if code == core.CodeSessionRevoked {
					refusal = code
				}
			})
		}
		wg.Wait()
	} else {
		u, granted, refusal = e.claim(ctx, cl, s, k.KeyID, false)
	}
	if !granted {
		return refusal != core.CodeSessionRevoked && !e.stopped()
	}
	fctx, tr := withTrace(ctx)
	ct, err := cl.Fetch(fctx, u.URL)
	if err != nil {
		if tr.status != 0 {
			e.viewFailed("key %s of %s: the claimed URL answered %d", k.KeyID, s.id, tr.status)
		} else {
			e.failed("download the photo of key "+k.KeyID, tr, err)
		}
		return !e.stopped()
	}
	key, err := dev.OpenKey(k, accessID)
	if err != nil {
		e.viewFailed("key %s of %s: %v", k.KeyID, s.id, err)
		return true
	}
	plain, err := client.DecryptPhoto(ct, key)
	clear(key)
	switch {
	case err != nil:
		e.viewFailed("key %s of %s: %v", k.KeyID, s.id, err)
	case !slices.Equal(plain, ph.plain):
		e.viewFailed("key %s of %s: photo %s decrypted to other bytes than uploaded", k.KeyID, s.id, ph.id)
	default:
		s.mu.Lock()
		s.views++
		s.mu.Unlock()
		e.views.Add(1)
	}
	return true
}

func (e *engine) claim(ctx context.Context, cl *client.Client, s *session, keyID string, double bool) (client.SignedURL, bool, string) {
	cctx, tr := withTrace(ctx)
	u, err := cl.ClaimKey(cctx, keyID)
	e.mu.Lock()
	kr := e.keys[keyID]
	kr.attempts++
	kr.double = kr.double || double
	if err == nil {
		kr.claims++
	}
	e.mu.Unlock()
	if err != nil {
		s.mu.Lock()
		switch {
		case tr.code == core.CodeKeyUsed || tr.code == core.CodeKeyExpired:
			s.failedClaims++
		case tr.status == 0 || tr.status >= 500:
			s.unknownClaims++
		}
		s.mu.Unlock()
		s.noteRefusal(tr)
		refusals := claimRefusals
		if double {
			refusals = append(slices.Clone(refusals), core.CodeKeyUsed)
		}
		e.failed("claim key "+keyID, tr, err, refusals...)
		return u, false, tr.code
	}
	s.addSuccess("signed-url", keyID, tr.start)
	return u, true, ""
}

func (e *engine) viewFailed(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.nViewFails++
	if len(e.viewFails) < maxExamples {
		e.viewFails = append(e.viewFails, fmt.Sprintf(format, args...))
	}
}

// check reads every session as its patient and verifies every patient's
// audit chain, Concurrency at a time, within the time left.
func (e *engine) check(ctx context.Context) {
	work := make(chan func())
	var wg sync.WaitGroup
	for range e.cfg.Concurrency {
		wg.Go(func() {
			for f := range work {
				f()
			}
		})
	}
	for _, s := range e.sessions {
		work <- func() {
			sh, err := s.patient.cl.GetShare(ctx, s.id)
			s.mu.Lock()
			defer s.mu.Unlock()
			if err != nil {
				s.checkErr = err
				return
			}
			s.final = &sh
		}
	}
	for _, p := range e.patients {
		if !p.started {
			continue
		}
		work <- func() {
			var v verification
			if err := p.cl.Do(ctx, "GET", "/v1/audit/verify", nil, nil, &v); err != nil {
				p.checkErr = err
				return
			}
			p.verify = &v
		}
	}
	close(work)
	wg.Wait()
}

// burstSlack is what the burst detector may have added to the session's
// score: an access makes at most max_views+1 issue-key calls, and each
// minute in which more than core.BurstLimit of them fell scores
// keyBurstWeight once. The plan's sessions stay under the limit unless
// --views-per-session is raised to it.
func (s *session) burstSlack() int {
	limit := core.BurstLimit(core.Access{Photos: make([]core.SharedPhoto, len(s.photos))})
	return keyBurstWeight * ((s.maxViews + 1) / (limit + 1))
}
