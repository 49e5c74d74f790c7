package migrate

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/legacy"
)

// DefaultConcurrency is how many lines a run works on at once.
const DefaultConcurrency = 8

// MaxConcurrency bounds the lines of a run at once.
const MaxConcurrency = 256

// Summary is what a run did, as `medshare migrate chat-images` prints it.
type Summary struct {
	// Run is the run's id, the request id of its audit records.
	Run    string `json:"run,omitempty"`
	DryRun bool   `json:"dry_run"`
	// Lines is how many lines of the manifest were read (valid or not).
	Lines        int `json:"lines"`
	Migrated     int `json:"migrated"`
	AlreadyDone  int `json:"already_done"`
	WouldMigrate int `json:"would_migrate"`
	Failed       int `json:"failed"`
	// FailedByReason counts the failures by reason (legacy.Reasons).
	FailedByReason map[string]int `json:"failed_by_reason"`
	// BytesCopied is the size of the objects this run copied (in a dry
	// run, would copy).
	BytesCopied int64   `json:"bytes_copied"`
	Seconds     float64 `json:"seconds"`
	// Interrupted is set when the run stopped before the end of the
	// manifest (its context ended): running it again resumes.
	Interrupted bool `json:"interrupted,omitempty"`
	// Failures are the failed lines, in line order.
	Failures []Result `json:"failures"`
}

// OK reports whether every line read was migrated, done before, or (dry
// run) would be migrated, and the run was not interrupted.
func (s Summary) OK() bool { return s.Failed == 0 && !s.Interrupted }

// Progress is a run's state after a line, for a progress display.
type Progress struct {
	Done, Total int // Total is 0 when unknown
	// A run's counts.
	Migrated, AlreadyDone, WouldMigrate int
	// A verification's counts.
	Verified, Dead int
	Failed         int
	Bytes          int64
	Elapsed        time.Duration
}

// RunOptions tune a run.
type RunOptions struct {
	// Concurrency is how many lines are worked on at once
	// (DefaultConcurrency when 0).
	Concurrency int
	// Total is the manifest's number of lines when known (for the ETA).
	Total int
	// Progress, when set, is called after every line, from one goroutine
	// at a time.
	Progress func(Progress)
	// OnFailure, when set, is called with every failed line as it fails,
	// from one goroutine at a time.
	OnFailure func(Result)
	// Now is the clock of Elapsed and Seconds (time.Now when nil).
	Now func() time.Time
}

// Run migrates every line that r reads, opts.Concurrency at a time, and
// returns the summary. A line that fails does not stop the run. It stops
// early when ctx ends (the summary says Interrupted, and the error is
// ctx's) or when the manifest cannot be read further (the error says why;
// the lines read before are done).
func (m *Migrator) Run(ctx context.Context, r *legacy.Reader, opts RunOptions) (Summary, error) {
	sum := Summary{DryRun: m.DryRun, FailedByReason: map[string]int{}, Failures: []Result{}}
	err := each(ctx, r, opts, m.One, func(res Result, p *Progress) {
		sum.Lines++
		switch res.Outcome {
		case Migrated:
			sum.Migrated++
			p.Migrated++
		case AlreadyDone:
			sum.AlreadyDone++
			p.AlreadyDone++
		case WouldMigrate:
			sum.WouldMigrate++
			p.WouldMigrate++
		default:
			sum.Failed++
			p.Failed++
			sum.FailedByReason[res.Reason]++
			sum.Failures = append(sum.Failures, res)
		}
		sum.BytesCopied += res.Bytes
		p.Bytes = sum.BytesCopied
	}, func(d time.Duration) { sum.Seconds = d.Seconds() })
	slices.SortFunc(sum.Failures, func(a, b Result) int { return a.Line - b.Line })
	if ctx.Err() != nil {
		sum.Interrupted = true
	}
	return sum, err
}

// each reads r and runs one on every valid line, opts.Concurrency at a
// time; a line the reader refuses becomes a failed Result of its reason.
// collect sees every result, from this goroutine.
func each(ctx context.Context, r *legacy.Reader, opts RunOptions, one func(context.Context, legacy.Line) Result,
	collect func(Result, *Progress), elapsed func(time.Duration)) error {
	n := opts.Concurrency
	if n <= 0 {
		n = DefaultConcurrency
	}
	n = min(n, MaxConcurrency)
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	start := now()
	lines := make(chan legacy.Line)
	results := make(chan Result)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for l := range lines {
				results <- one(ctx, l)
			}
		})
	}
	var readErr error
	go func() {
		defer func() {
			close(lines)
			wg.Wait()
			close(results)
		}()
		for ctx.Err() == nil {
			l, err := r.Next()
			var le *legacy.LineError
			switch {
			case errors.Is(err, io.EOF):
				return
			case errors.As(err, &le):
				results <- Result{Line: le.Line, Outcome: Failed, Reason: le.Reason, Message: le.Message}
				continue
			case err != nil:
				readErr = err
				return
			}
			select {
			case lines <- l:
			case <-ctx.Done():
				return
			}
		}
	}()
	p := Progress{Total: opts.Total}
	for res := range results {
		p.Done++
		collect(res, &p)
		if res.Outcome == Failed && opts.OnFailure != nil {
			opts.OnFailure(res)
		}
		if opts.Progress != nil {
			p.Elapsed = now().Sub(start)
			opts.Progress(p)
		}
	}
	elapsed(now().Sub(start))
	if err := ctx.Err(); err != nil {
		return err
	}
	return readErr
}

// The outcomes of a verified line.
const (
	// Verified: the line's image is READY and its private object's bytes
	// are the record's (and the line's, when it gives them).
	Verified = "verified"
	// Dead: the line's image is not migrated and its legacy object is not
	// there either: nothing is lost with the bucket.
	Dead = "dead"
)

// Verifier checks that a manifest is migrated.
type Verifier struct {
	Service  Service
	ClinicID string
	Origin   legacy.Origin
	Source   core.LegacySource
	// Private reads the private objects (Stat).
	Private interface {
		Stat(ctx context.Context, key string) (core.BlobInfo, error)
	}
}

// VerifySummary is what a verification found.
type VerifySummary struct {
	Lines          int            `json:"lines"`
	Verified       int            `json:"verified"`
	Dead           int            `json:"dead"`
	Failed         int            `json:"failed"`
	FailedByReason map[string]int `json:"failed_by_reason"`
	Seconds        float64        `json:"seconds"`
	Interrupted    bool           `json:"interrupted,omitempty"`
	Failures       []Result       `json:"failures"`
}

// OK reports whether the legacy bucket can go: every line is verified, or
// dead (its object was not there to lose).
func (s VerifySummary) OK() bool { return s.Failed == 0 && !s.Interrupted }

// One checks one line: its image is READY and its private object holds
// exactly the record's size and SHA-256 (and the line's, when given); or
// neither the image nor the legacy object exists (dead). Anything else
// fails: not_migrated (the legacy object is there and the image is not
// ready: deleting the bucket would lose it), object_mismatch, malformed,
// url_outside_legacy_source, unavailable.
func (v *Verifier) One(ctx context.Context, l legacy.Line) Result {
	r := Result{Line: l.Number, Outcome: Failed}
	key, err := v.Origin.Key(l.URL)
	if err != nil {
		r.Reason, r.Message = legacy.ReasonOutsideSource, err.Error()
		return r
	}
	id := core.LegacyChatImageID(v.ClinicID, l.AppointmentID, l.URL)
	r.ImageID = id
	img, err := v.Service.GetLegacyImage(ctx, id)
	if err != nil && !core.IsKind(err, core.KindNotFound) {
		r.Reason, r.Message = legacy.ReasonUnavailable, err.Error()
		return r
	}
	if err != nil || img.Status != core.StatusReady {
		_, serr := v.Source.Stat(ctx, key)
		switch {
		case core.IsKind(serr, core.KindNotFound) && err != nil:
			r.Outcome = Dead
		case serr != nil && !core.IsKind(serr, core.KindNotFound):
			r.Reason, r.Message = legacy.ReasonUnavailable, serr.Error()
		default:
			r.Reason, r.Message = legacy.ReasonNotMigrated, "the image is not migrated (run medshare migrate chat-images for the reason)"
		}
		return r
	}
	info, err := v.Private.Stat(ctx, img.ObjectKey())
	switch {
	case core.IsKind(err, core.KindNotFound):
		r.Reason, r.Message = legacy.ReasonObjectMismatch, "the image is migrated but its private object is missing"
	case err != nil:
		r.Reason, r.Message = legacy.ReasonUnavailable, err.Error()
	case info.Size != img.Size || !equal(info.SHA256, img.SHA256):
		r.Reason, r.Message = legacy.ReasonObjectMismatch, "the private object's size or sha256 is not the record's"
	case l.SHA256 != nil && !equal(img.SHA256, l.SHA256):
		r.Reason, r.Message = legacy.ReasonObjectMismatch, "the migrated image's sha256 is not the line's"
	case l.Size >= 0 && img.Size != l.Size:
		r.Reason, r.Message = legacy.ReasonObjectMismatch, "the migrated image's size is not the line's"
	default:
		r.Outcome = Verified
	}
	return r
}

func equal(a, b []byte) bool { return string(a) == string(b) }

// Run verifies every line r reads, opts.Concurrency at a time.
func (v *Verifier) Run(ctx context.Context, r *legacy.Reader, opts RunOptions) (VerifySummary, error) {
	sum := VerifySummary{FailedByReason: map[string]int{}, Failures: []Result{}}
	err := each(ctx, r, opts, v.One, func(res Result, p *Progress) {
		sum.Lines++
		switch res.Outcome {
		case Verified:
			sum.Verified++
			p.Verified++
		case Dead:
			sum.Dead++
			p.Dead++
		default:
			sum.Failed++
			p.Failed++
			sum.FailedByReason[res.Reason]++
			sum.Failures = append(sum.Failures, res)
		}
	}, func(d time.Duration) { sum.Seconds = d.Seconds() })
	slices.SortFunc(sum.Failures, func(a, b Result) int { return a.Line - b.Line })
	if ctx.Err() != nil {
		sum.Interrupted = true
	}
	return sum, err
}
