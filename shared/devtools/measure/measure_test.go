package measure_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/medshare/medshare/shared/devtools/measure"
)

// TestSyncBufferKeepsEveryWrite: many goroutines write whole lines at once
// and each line is there once, whole (under -race).
func TestSyncBufferKeepsEveryWrite(t *testing.T) {
	var b measure.SyncBuffer
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() { fmt.Fprintf(&b, "line %03d\n", i) })
	}
	wg.Wait()
	got := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(got) != 50 {
		t.Fatalf("%d lines, want 50:\n%s", len(got), b.String())
	}
	for i := range 50 {
		if n := strings.Count(b.String(), fmt.Sprintf("line %03d\n", i)); n != 1 {
			t.Errorf("line %03d written %d times, want 1", i, n)
		}
	}
}

// TestLoadAverage: three numbers, or "unknown" where /proc/loadavg is not.
func TestLoadAverage(t *testing.T) {
	got := measure.LoadAverage()
	if got != "unknown" && len(strings.Fields(got)) != 3 {
		t.Errorf("LoadAverage() = %q, want three fields or unknown", got)
	}
}
