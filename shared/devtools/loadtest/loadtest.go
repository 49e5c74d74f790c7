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
//
// The files follow the run: config.go is the plan, loadtest.go runs the
// phases (Run), setup.go, view.go, revoke.go and checks.go are the phases,
// state.go is what a run keeps of its patients, sessions and keys for the
// checks, and report.go, stats.go and transport.go are what it measures.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/core"
)

// engine is one run: its plan, what it did and what it saw, shared by the
// phases.
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
	e.note(&e.nProblems, &e.problems, format, args...)
}

// note counts one more failure of a kind (n) and keeps the first
// maxExamples of them (examples).
func (e *engine) note(n *int, examples *[]string, format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	*n++
	if len(*examples) < maxExamples {
		*examples = append(*examples, fmt.Sprintf(format, args...))
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
