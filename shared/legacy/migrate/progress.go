package migrate

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Bar renders p as one line of at most a terminal's width: a bar of width
// cells when the total is known, the counts, the rate in images and
// megabytes a second, and the time left at that rate:
//
//	[########............] 1200/3000 40.0% migrated 1150 · done before 30 · failed 20 · 41.3 img/s · 12.5 MB/s · ETA 43s
func Bar(p Progress, width int) string {
	var b strings.Builder
	if p.Total > 0 {
		filled := min(width, p.Done*width/p.Total)
		b.WriteString("[" + strings.Repeat("#", filled) + strings.Repeat(".", width-filled) + "] ")
		fmt.Fprintf(&b, "%d/%d %.1f%%", p.Done, p.Total, 100*float64(p.Done)/float64(p.Total))
	} else {
		fmt.Fprintf(&b, "%d lines", p.Done)
	}
	for _, c := range []struct {
		n    int
		name string
	}{
		{p.Migrated, "migrated"}, {p.WouldMigrate, "would migrate"}, {p.AlreadyDone, "done before"},
		{p.Verified, "verified"}, {p.Dead, "dead"}, {p.Failed, "failed"},
	} {
		if c.n > 0 || c.name == "failed" {
			fmt.Fprintf(&b, " · %s %d", c.name, c.n)
		}
	}
	secs := p.Elapsed.Seconds()
	if secs <= 0 {
		return b.String()
	}
	rate := float64(p.Done) / secs
	fmt.Fprintf(&b, " · %.1f img/s · %.1f MB/s", rate, float64(p.Bytes)/secs/1e6)
	if p.Total > 0 && p.Done < p.Total && rate > 0 {
		left := time.Duration(float64(p.Total-p.Done) / rate * float64(time.Second))
		fmt.Fprintf(&b, " · ETA %s", left.Round(time.Second))
	}
	return b.String()
}

// Display shows a run's progress on w. On a terminal (tty) it redraws one
// line in place, at most every RedrawEvery, and prints each failure above
// it; elsewhere (a file, a pipe) it writes a line every LogEvery and each
// failure on its own line, never a carriage return.
type Display struct {
	W   io.Writer
	TTY bool
	// Width is the bar's width in cells (default 30).
	Width int
	// Now is the clock of the redraws (time.Now when nil).
	Now         func() time.Time
	RedrawEvery time.Duration // default 100ms
	LogEvery    time.Duration // default 10s

	mu    sync.Mutex
	drawn bool // at least once; then last is when
	last  time.Time
	shown string
	p     Progress
}

func (d *Display) now() time.Time {
	if d.Now == nil {
		return time.Now()
	}
	return d.Now()
}

// Update shows p when it is time to, and always at the last line.
func (d *Display) Update(p Progress) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.p = p
	every := d.LogEvery
	if every <= 0 {
		every = 10 * time.Second
	}
	if d.TTY {
		every = d.RedrawEvery
		if every <= 0 {
			every = 100 * time.Millisecond
		}
	}
	now := d.now()
	if d.drawn && now.Sub(d.last) < every && p.Done != p.Total {
		return
	}
	d.drawn, d.last = true, now
	d.draw()
}

func (d *Display) draw() {
	width := d.Width
	if width <= 0 {
		width = 30
	}
	line := Bar(d.p, width)
	if d.TTY {
		fmt.Fprintf(d.W, "\r%s\x1b[K", line)
	} else {
		fmt.Fprintln(d.W, line)
	}
	d.shown = line
}

// Failure prints a failed line: its number, reason and message.
func (d *Display) Failure(r Result) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.TTY && d.shown != "" {
		fmt.Fprint(d.W, "\r\x1b[K")
	}
	fmt.Fprintf(d.W, "line %d: %s: %s\n", r.Line, r.Reason, r.Message)
	if d.TTY && d.shown != "" {
		d.draw()
	}
}

// Finish shows the last state and ends the line.
func (d *Display) Finish() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.shown == "" && d.p.Done == 0 {
		return
	}
	d.draw()
	if d.TTY {
		fmt.Fprintln(d.W)
	}
}
