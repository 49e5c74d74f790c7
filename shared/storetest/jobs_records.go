package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
)

func testGetNotification(t *testing.T, h Harness) {
	s := newStore(t, h)
	n := CreateShare(t, s, newShare("pat-1", "dr-a", t0, t0.Add(shareTTL))).Notes[0]
	other := CreateShare(t, s, newShare("pat-1", "dr-b", t0.Add(time.Second), t0.Add(shareTTL))).Notes[0]

	get := func(t *testing.T, recipient, id string, want core.InboxItem) {
		t.Helper()
		got, err := s.GetNotification(ctx(t), recipient, id)
		Must(t, "GetNotification", err)
		if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
			t.Errorf("GetNotification(%s, %s) mismatch (-want +got):\n%s", recipient, id, diff)
		}
		WantUTC(t, "InboxItem", map[string]time.Time{"CreatedAt": got.CreatedAt})
	}
	t.Run("Found", func(t *testing.T) {
		get(t, "dr-a", n.ID, Unread(n))
		get(t, "dr-b", other.ID, Unread(other))
	})
	t.Run("Flags", func(t *testing.T) {
		Must(t, "MarkPublished", s.MarkPublished(ctx(t), "dr-a", n.ID))
		get(t, "dr-a", n.ID, core.InboxItem{Notification: n, Published: true})
		_, err := s.MarkRead(ctx(t), "dr-a", n.ID)
		Must(t, "MarkRead", err)
		get(t, "dr-a", n.ID, core.InboxItem{Notification: n, Read: true, Published: true})
	})
	t.Run("NotFound", func(t *testing.T) {
		for _, tc := range []struct{ name, recipient, id string }{
			{"another recipient's notification", "dr-a", other.ID},
			{"as another recipient", "dr-b", n.ID},
			{"as the patient", "pat-1", n.ID},
			{"as a recipient with no inbox", "dr-nobody", n.ID},
			{"unknown notification", "dr-a", core.NewSortableID("nt", t0)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.GetNotification(ctx(t), tc.recipient, tc.id)
				WantKind(t, "GetNotification", err, core.KindNotFound)
			})
		}
	})
}

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
			SessionsCreated:     base + 1,
			SessionsRevoked:     base + 2,
			SessionsAutoRevoked: base + 3,
			SessionsExpired:     base + 4,
			Views:               base + 5,
			SuspiciousEvents:    base + 6,
			ChatImageFetches:    base + 7,
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

func testTally(t *testing.T, h Harness) {
	// The counters live until an hour after the suite's clock.
	until := t0.Add(time.Hour)
	tally := func(t *testing.T, s core.Store, name string, until time.Time, want int64) {
		t.Helper()
		got, err := s.Tally(ctx(t), name, until)
		Must(t, "Tally "+name, err)
		if got != want {
			t.Errorf("Tally(%s): got %d, want %d", name, got, want)
		}
	}

	t.Run("Counts", func(t *testing.T) {
		s := newStore(t, h)
		for i := int64(1); i <= 5; i++ {
			tally(t, s, "burst:ac_1:29551", until, i)
		}
	})

	t.Run("NamesAreIndependent", func(t *testing.T) {
		// Name i is tallied i+1 times, interleaved with the others; names
		// that share a prefix are other counters.
		s := newStore(t, h)
		names := []string{"burst:ac_1:29551", "burst:ac_1:29552", "burst:ac_2:29551", "burst:ac_1:2955", "burst:ac_1:295511"}
		for round := int64(1); round <= int64(len(names)); round++ {
			for i, name := range names {
				if round <= int64(i+1) {
					tally(t, s, name, until, round)
				}
			}
		}
		for i, name := range names {
			tally(t, s, name, until, int64(i+2))
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		// Every value from 1 to n is handed out exactly once.
		const n = 100
		s := newStore(t, h)
		got := make([]int64, n)
		errs := RunAll(n, func(i int) error {
			var err error
			got[i], err = s.Tally(ctx(t), "burst:ac_hot:1", until)
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("Tally %d: %v", i, err)
			}
		}
		slices.Sort(got)
		want := make([]int64, n)
		for i := range want {
			want[i] = int64(i + 1)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("values handed out mismatch (-want +got):\n%s", diff)
		}
		tally(t, s, "burst:ac_hot:1", until, n+1)
	})

	t.Run("KeptUntilItsEnd", func(t *testing.T) {
		// A counter outlives other counters that end before it, whatever
		// the store forgets of those, up to its own until.
		c := &clock{now: t0}
		s := h.New(t, c.read)
		tally(t, s, "long", t0.Add(time.Minute), 1)
		for i := range 10 {
			tally(t, s, fmt.Sprintf("short-%d", i), t0.Add(time.Second), 1)
		}
		c.set(t0.Add(30 * time.Second)) // the short ones are over
		for i := range 10 {
			tally(t, s, fmt.Sprintf("other-%d", i), t0.Add(40*time.Second), 1)
		}
		tally(t, s, "long", t0.Add(time.Minute), 2)
		c.set(t0.Add(time.Minute - time.Nanosecond))
		for i := range 10 {
			tally(t, s, fmt.Sprintf("late-%d", i), t0.Add(2*time.Minute), 1)
		}
		tally(t, s, "long", t0.Add(time.Minute), 3)
	})
}
