package coldstart

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medshare/medshare/shared/devtools/awstest"
)

func TestParseInitReport(t *testing.T) {
	log := []byte("04 Dec 2026 05:48:18,290 [INFO] (rapid) INIT START(type: on-demand, phase: init)\n" +
		"04 Dec 2026 05:48:18,336 [INFO] (rapid) INIT REPORT(durationMs: 45.505000)\n")
	d, ok := ParseInitReport(log)
	if !ok || d != 45505*time.Microsecond {
		t.Errorf("ParseInitReport = %v, %v; want 45.505ms", d, ok)
	}
	for _, bad := range []string{"", "INIT START(type: on-demand)", "INIT REPORT(durationMs: x)", "REPORT RequestId: 1 Init Duration: 0.02 ms"} {
		if d, ok := ParseInitReport([]byte(bad)); ok {
			t.Errorf("ParseInitReport(%q) = %v, want none", bad, d)
		}
	}
}

func TestMedian(t *testing.T) {
	ms := func(xs ...int) []time.Duration {
		var out []time.Duration
		for _, x := range xs {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	for _, c := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{ms(7), 7 * time.Millisecond},
		{ms(9, 1, 5), 5 * time.Millisecond},
		{ms(9, 1, 5, 3), 4 * time.Millisecond},
	} {
		if got := (Result{Inits: c.in}).Median(); got != c.want {
			t.Errorf("median of %v = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestWrite(t *testing.T) {
	rep := Report{Runs: 3, LoadBefore: "1.00 2.00 3.00", LoadAfter: "1.50 2.00 3.00", GoVersion: "go1.26", Results: []Result{
		{Name: Hello, Size: 5_832_830, Inits: []time.Duration{4 * time.Millisecond, 3 * time.Millisecond, 5 * time.Millisecond}},
		{Name: "list-photos", Size: 8_061_054, Inits: []time.Duration{5 * time.Millisecond, 6 * time.Millisecond, 5 * time.Millisecond}},
		{Name: "upload-presign", Size: 10_354_814, Inits: []time.Duration{7 * time.Millisecond, 7 * time.Millisecond, 8 * time.Millisecond}},
	}}
	var b bytes.Buffer
	if err := rep.Write(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"3 per bootstrap", "before 1.00 2.00 3.00, after 1.50 2.00 3.00",
		"list-photos", "5.00", "1.25×", "8,061,054",
		"upload-presign", "1.75×", "NO", "10,354,814", "9.88",
		"1 of 2 functions within 1.5× the hello world's init; 1 of 2 within 9 MB, 1 of 2 within 9 MiB",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	if err := (Report{}).Write(&b); err == nil {
		t.Error("a report without the hello world was written")
	}
}

// TestStartUnderTheEmulator cold-starts the hello world under the runtime
// interface emulator (the AWS tier provides it) and reads its init report.
// It asserts that there is one, not how long it took.
func TestStartUnderTheEmulator(t *testing.T) {
	rie := awstest.RIE(t)
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := build(context.Background(), root, dir, "", []string{helloPackage}); err != nil {
		t.Fatal(err)
	}
	event, err := os.ReadFile(filepath.Join(root, "events", "health.json"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Start(context.Background(), rie, filepath.Join(dir, "hello"), Hello, event)
	if err != nil {
		t.Fatal(err)
	}
	if d <= 0 {
		t.Errorf("init duration %v", d)
	}
}
