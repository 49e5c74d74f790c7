package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
)

func testWatermark(t *testing.T, h Harness) {
	t.Run("ForwardOnly", func(t *testing.T) {
		s := newStore(t, h)
		for _, k := range core.DueKinds {
			got, err := s.JobWatermark(ctx(t), k)
			Must(t, "JobWatermark", err)
			if !got.IsZero() {
				t.Errorf("JobWatermark(%s) of a new store: got %v, want the zero time", k, got)
			}
		}
		wm := func(k core.DueKind) time.Time {
			t.Helper()
			got, err := s.JobWatermark(ctx(t), k)
			Must(t, "JobWatermark "+string(k), err)
			WantUTC(t, "watermark of "+string(k), map[string]time.Time{"watermark": got})
			return got
		}
		set := func(k core.DueKind, tm time.Time, want time.Time) {
			t.Helper()
			Must(t, "SetJobWatermark", s.SetJobWatermark(ctx(t), k, tm))
			if got := wm(k); !got.Equal(want) {
				t.Errorf("JobWatermark(%s) after SetJobWatermark(%v): got %v, want %v", k, tm, got, want)
			}
		}
		set(core.DueShare, t0.In(elsewhere), t0)                             // first, at nanosecond precision
		set(core.DueShare, t0.Add(-time.Nanosecond), t0)                     // back: unchanged
		set(core.DueShare, t0, t0)                                           // the same: unchanged
		set(core.DueShare, t0.Add(time.Nanosecond), t0.Add(time.Nanosecond)) // forward
		set(core.DueShare, t0.Add(-24*time.Hour), t0.Add(time.Nanosecond))   // far back: unchanged
		set(core.DueShare, t0.Add(48*time.Hour), t0.Add(48*time.Hour))       // far forward
		// Each kind has its own.
		set(core.DueKey, t0.Add(-time.Hour), t0.Add(-time.Hour))
		if got := wm(core.DueShare); !got.Equal(t0.Add(48 * time.Hour)) {
			t.Errorf("JobWatermark(share) after SetJobWatermark(key): got %v, want %v", got, t0.Add(48*time.Hour))
		}
		for _, k := range []core.DueKind{core.DueUpload, core.DueNotification} {
			if got := wm(k); !got.IsZero() {
				t.Errorf("JobWatermark(%s), never set: got %v, want the zero time", k, got)
			}
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		// Overlapping runs set watermarks in any order: the largest wins,
		// and a reader never sees one move back.
		const n = 50
		s := newStore(t, h)
		at := func(i int) time.Time { return t0.Add(time.Duration((i*37)%n) * time.Millisecond) }
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var readErrs []error
		wg.Go(func() {
			var last time.Time
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, err := s.JobWatermark(ctx(t), core.DueUpload)
				if err == nil && got.Before(last) {
					err = fmt.Errorf("watermark moved back from %v to %v", last, got)
				}
				if err != nil {
					readErrs = append(readErrs, err)
					return
				}
				last = got
			}
		})
		errs := RunAll(n, func(i int) error {
			if err := s.SetJobWatermark(ctx(t), core.DueUpload, at(i)); err != nil {
				return err
			}
			// What this writer set, or later, is there now.
			got, err := s.JobWatermark(ctx(t), core.DueUpload)
			if err == nil && got.Before(at(i)) {
				err = fmt.Errorf("after setting %v the watermark is %v", at(i), got)
			}
			return err
		})
		close(stop)
		wg.Wait()
		for i, err := range append(errs, readErrs...) {
			if err != nil {
				t.Errorf("watermark %d: %v", i, err)
			}
		}
		want := t0.Add((n - 1) * time.Millisecond)
		if got, err := s.JobWatermark(ctx(t), core.DueUpload); err != nil || !got.Equal(want) {
			t.Errorf("JobWatermark after the race: got %v, %v; want %v", got, err, want)
		}
	})
}

// dailyReport returns the report of day with every count set, from base+1
// to base+7, generated 15 minutes after the day ended.
func dailyReport(day time.Time, base int64) core.DailyReport {
	return core.DailyReport{
		Day:         day,
		GeneratedAt: day.Add(24*time.Hour + 15*time.Minute + 123456789),
		ReportCounts: core.ReportCounts{
			SharesCreated:     base + 1,
			SharesRevoked:     base + 2,
			SharesAutoRevoked: base + 3,
			SharesExpired:     base + 4,
			Views:             base + 5,
			SuspiciousEvents:  base + 6,
			ChatImageFetches:  base + 7,
		},
	}
}

func testDailyReport(t *testing.T, h Harness) {
	report := dailyReport
	get := func(t *testing.T, s core.Store, day time.Time, want core.DailyReport) {
		t.Helper()
		got, err := s.GetDailyReport(ctx(t), day)
		Must(t, "GetDailyReport", err)
		if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
			t.Errorf("GetDailyReport(%v) mismatch (-want +got):\n%s", day, diff)
		}
		WantUTC(t, "DailyReport", map[string]time.Time{"Day": got.Day, "GeneratedAt": got.GeneratedAt})
	}

	t.Run("RoundTrip", func(t *testing.T) {
		s := newStore(t, h)
		r := report(day0, 1<<40) // counts beyond 32 bits
		in := r
		in.GeneratedAt = in.GeneratedAt.In(elsewhere)
		Must(t, "PutDailyReport", s.PutDailyReport(ctx(t), in))
		get(t, s, day0, r)
		// The day is named by any time within it, in any zone.
		get(t, s, day0.In(elsewhere), r)
		get(t, s, day0.Add(24*time.Hour-time.Nanosecond), r)
		get(t, s, t0.In(elsewhere), r)
		get(t, s, day0.Add(24*time.Hour-time.Nanosecond).In(elsewhere), r) // the next day in that zone
	})

	t.Run("Replace", func(t *testing.T) {
		s := newStore(t, h)
		Must(t, "PutDailyReport", s.PutDailyReport(ctx(t), report(day0, 10)))
		next := report(day0.Add(24*time.Hour), 20)
		Must(t, "PutDailyReport of the next day", s.PutDailyReport(ctx(t), next))
		again := report(day0, 30)
		again.GeneratedAt = again.GeneratedAt.Add(time.Hour)
		Must(t, "PutDailyReport again", s.PutDailyReport(ctx(t), again))
		get(t, s, day0, again)
		get(t, s, next.Day, next)
	})

	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t, h)
		Must(t, "PutDailyReport", s.PutDailyReport(ctx(t), report(day0, 0)))
		for _, day := range []time.Time{day0.Add(-time.Nanosecond), day0.Add(24 * time.Hour), day0.AddDate(1, 0, 0)} {
			_, err := s.GetDailyReport(ctx(t), day)
			WantKind(t, fmt.Sprintf("GetDailyReport(%v)", day), err, core.KindNotFound)
		}
	})
}
