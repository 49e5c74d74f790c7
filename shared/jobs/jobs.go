// Package jobs is the table of scheduled jobs: the single source of truth for
// their Lambda functions (functions/<name>), their EventBridge schedules in
// the CDK app, their sample events and the in-process schedule of
// `medshare serve`.
package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/runtime/emf"
)

// Job is one scheduled job.
type Job struct {
	Name     string // also the function's directory under functions/
	Schedule string // EventBridge schedule expression
	Summary  string
	// Every and Offset are the same schedule for `medshare serve`: the job
	// runs at every multiple of Every (from 00:00 UTC) plus Offset.
	Every  time.Duration
	Offset time.Duration
}

// Jobs is the job table.
var Jobs = []Job{
	{
		Name: "cleanup", Schedule: "rate(15 minutes)", Every: 15 * time.Minute,
		Summary: "Expire sessions and notify their parties, delete expired keys, abort abandoned uploads, retry undelivered notifications",
	},
	{
		Name: "daily-report", Schedule: "cron(15 0 * * ? *)", Every: 24 * time.Hour, Offset: 15 * time.Minute,
		Summary: "Count yesterday's sessions, views, suspicious events and chat-image fetches; store and publish the report",
	},
}

// ByName returns the job called name.
func ByName(name string) (Job, bool) {
	for _, j := range Jobs {
		if j.Name == name {
			return j, true
		}
	}
	return Job{}, false
}

// Result is what one run of a job did: what its function returns and its log
// line records. It holds counts and a day, never content.
type Result struct {
	Job     string              `json:"job"`
	Cleanup *core.CleanupResult `json:"cleanup,omitempty"`
	Report  *Report             `json:"report,omitempty"`
}

// Report is a daily report as the function returns it and `medshare job`
// prints it.
type Report struct {
	Day string `json:"day"` // YYYY-MM-DD, UTC
	core.ReportCounts
}

// ReportOf is r as a Report.
func ReportOf(r core.DailyReport) *Report {
	return &Report{Day: r.Day.UTC().Format(time.DateOnly), ReportCounts: r.ReportCounts}
}

// Run runs job name once. now is the time the run was scheduled for (an
// EventBridge event's time, or the clock): daily-report reports the UTC day
// before it, so that a retried event reports the same day. It logs one line
// with the outcome, the counts and the latency, and one line per failed item
// (ids only).
func Run(ctx context.Context, svc *core.Service, name string, now time.Time, log *slog.Logger) (Result, error) {
	start := time.Now()
	res := Result{Job: name}
	var err error
	switch name {
	case "cleanup":
		var c core.CleanupResult
		c, err = svc.Cleanup(ctx)
		res.Cleanup = &c
		for _, e := range c.Errors {
			log.Warn("cleanup item failed", "job", name, "error", e.Error())
		}
		if err == nil && c.Failed > 0 {
			// The run did what it could; the failed items stay due and hold
			// their kind's watermark. Failing the run makes it visible: the
			// function's error metric, its retries and its dead-letter queue.
			err = fmt.Errorf("%d items failed and stay due", c.Failed)
		}
	case "daily-report":
		var r core.DailyReport
		r, err = svc.DailyReport(ctx, now.UTC().Truncate(24*time.Hour).Add(-24*time.Hour))
		if err == nil {
			res.Report = ReportOf(r)
		}
	default:
		return res, fmt.Errorf("run job: unknown job %q", name)
	}
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	latency := float64(time.Since(start).Microseconds()) / 1000
	attrs := []any{"job", name, "outcome", outcome, "latency_ms", latency}
	if res.Cleanup != nil {
		attrs = append(attrs, "result", res.Cleanup)
	}
	// The line is also an Embedded Metric Format record: runs and latency
	// per job and outcome, and what cleanup did.
	metrics := []emf.Metric{{Name: "Runs", Unit: "Count"}, {Name: "Latency", Unit: "Milliseconds"}}
	attrs = append(attrs, "Job", name, "Outcome", outcome, "Runs", 1, "Latency", latency)
	if c := res.Cleanup; c != nil {
		for _, m := range []struct {
			name string
			n    int
		}{{"SharesExpired", c.SharesExpired}, {"KeysDeleted", c.KeysDeleted}, {"UploadsAborted", c.UploadsAborted}, {"NotificationsSent", c.NotificationsSent}, {"ItemsFailed", c.Failed}} {
			metrics = append(metrics, emf.Metric{Name: m.name, Unit: "Count"})
			attrs = append(attrs, m.name, m.n)
		}
	}
	attrs = append(attrs, emf.Key, emf.New(time.Now(), [][]string{{"Job", "Outcome"}, {"Job"}}, metrics...))
	if res.Report != nil {
		attrs = append(attrs, "report", res.Report)
	}
	if err != nil {
		log.Error("job failed", append(attrs, "error", err.Error())...)
		return res, fmt.Errorf("run job %s: %w", name, err)
	}
	log.Info("job done", attrs...)
	return res, nil
}

// Next is the first time after now at which j is scheduled in `medshare
// serve`: a multiple of j.Every since 00:00 UTC of now's day, plus j.Offset.
func (j Job) Next(now time.Time) time.Time {
	day := now.UTC().Truncate(24 * time.Hour)
	t := day.Add(j.Offset)
	if t.After(now) {
		return t
	}
	steps := now.Sub(t)/j.Every + 1
	return t.Add(steps * j.Every)
}

// Schedule runs every job of the table on its schedule against svc until ctx
// ends, one run of a job at a time: this is `medshare serve`'s in-process
// EventBridge. clock is the wall clock; wait returns a channel that fires
// when job j's next run is due, in d (After; tests pass their own).
func Schedule(ctx context.Context, svc *core.Service, log *slog.Logger, clock func() time.Time, wait func(j Job, d time.Duration) <-chan time.Time) {
	var wg sync.WaitGroup
	for _, j := range Jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				at := j.Next(clock())
				select {
				case <-ctx.Done():
					return
				case <-wait(j, at.Sub(clock())):
				}
				_, _ = Run(ctx, svc, j.Name, at, log) // logged by Run; the next run retries
			}
		}()
	}
	wg.Wait()
}

// After is Schedule's wait on the wall clock.
func After(_ Job, d time.Duration) <-chan time.Time { return time.After(d) }
