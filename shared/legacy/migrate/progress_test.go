package migrate

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestBar(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Progress
		want string
	}{
		{"start", Progress{Total: 400}, "[..........] 0/400 0.0% · failed 0"},
		{"midway", Progress{Done: 100, Total: 400, Migrated: 80, AlreadyDone: 15, Failed: 5, Bytes: 20_000_000, Elapsed: 10 * time.Second},
			"[##........] 100/400 25.0% · migrated 80 · done before 15 · failed 5 · 10.0 img/s · 2.0 MB/s · ETA 30s"},
		{"done", Progress{Done: 400, Total: 400, Migrated: 400, Bytes: 1e6, Elapsed: 4 * time.Second},
			"[##########] 400/400 100.0% · migrated 400 · failed 0 · 100.0 img/s · 0.2 MB/s"},
		{"dry run, total unknown", Progress{Done: 7, WouldMigrate: 6, Failed: 1, Elapsed: time.Second},
			"7 lines · would migrate 6 · failed 1 · 7.0 img/s · 0.0 MB/s"},
		{"verify", Progress{Done: 3, Total: 3, Verified: 2, Dead: 1, Elapsed: time.Second},
			"[##########] 3/3 100.0% · verified 2 · dead 1 · failed 0 · 3.0 img/s · 0.0 MB/s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Bar(tc.p, 10); got != tc.want {
				t.Errorf("Bar =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

// TestDisplay: on a terminal the line is redrawn in place, at most every
// RedrawEvery on the display's clock, failures go above it; elsewhere
// plain lines every LogEvery, and the last line always shows.
func TestDisplay(t *testing.T) {
	var now time.Time
	clock := func() time.Time { return now }
	t.Run("tty", func(t *testing.T) {
		var out bytes.Buffer
		d := &Display{W: &out, TTY: true, Width: 4, Now: clock, RedrawEvery: time.Second}
		d.Update(Progress{Done: 1, Total: 3, Migrated: 1})
		d.Update(Progress{Done: 2, Total: 3, Migrated: 2}) // too soon: not drawn
		d.Failure(Result{Line: 7, Reason: "dead_url", Message: "gone"})
		now = now.Add(time.Second)
		d.Update(Progress{Done: 3, Total: 3, Migrated: 2, Failed: 1})
		d.Finish()
		want := "\r[#...] 1/3 33.3% · migrated 1 · failed 0\x1b[K" +
			"\r\x1b[Kline 7: dead_url: gone\n" +
			"\r[##..] 2/3 66.7% · migrated 2 · failed 0\x1b[K" +
			"\r[####] 3/3 100.0% · migrated 2 · failed 1\x1b[K" +
			"\r[####] 3/3 100.0% · migrated 2 · failed 1\x1b[K\n"
		if out.String() != want {
			t.Errorf("terminal output\n%q\nwant\n%q", out.String(), want)
		}
	})
	t.Run("log", func(t *testing.T) {
		var out bytes.Buffer
		d := &Display{W: &out, Width: 4, Now: clock, LogEvery: 10 * time.Second}
		for i := 1; i <= 5; i++ {
			now = now.Add(6 * time.Second)
			d.Update(Progress{Done: i, Total: 5, Migrated: i})
		}
		d.Failure(Result{Line: 2, Reason: "malformed", Message: "sent_at"})
		if strings.Contains(out.String(), "\r") || strings.Contains(out.String(), "\x1b") {
			t.Errorf("log output holds terminal controls: %q", out.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		want := []string{"[....] 1/5 20.0%", "[##..] 3/5 60.0%", "[####] 5/5 100.0%", "line 2: malformed: sent_at"}
		if len(lines) != len(want) {
			t.Fatalf("log lines %q, want %d", lines, len(want))
		}
		for i, w := range want {
			if !strings.HasPrefix(lines[i], w) {
				t.Errorf("line %d = %q, want it to start with %q", i, lines[i], w)
			}
		}
	})
}

func TestSniff(t *testing.T) {
	for _, tc := range []struct {
		head []byte
		want string
	}{
		{[]byte("\xff\xd8\xff\xe0\x00\x10JFIF"), "image/jpeg"},
		{[]byte("\x89PNG\r\n\x1a\n\x00"), "image/png"},
		{[]byte("GIF89a\x01\x00"), "image/gif"},
		{[]byte("RIFF\x10\x00\x00\x00WEBPVP8 "), "image/webp"},
		{[]byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00"), "image/heic"},
		{[]byte("\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00"), "image/heif"},
		{[]byte("%PDF-1.4"), ""},
		{[]byte("<svg xmlns='http://www.w3.org/2000/svg'/>"), ""},
		{nil, ""},
	} {
		if got := Sniff(tc.head); got != tc.want {
			t.Errorf("Sniff(%q) = %q, want %q", tc.head, got, tc.want)
		}
	}
}
