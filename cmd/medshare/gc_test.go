package main

import (
	"runtime/debug"
	"testing"
)

// TestTuneGC: without GOGC the server's target is serverGCPercent; with
// GOGC set, the operator's target (which the runtime read at start) stays.
func TestTuneGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })
	for _, c := range []struct {
		name string
		gogc string
		want int
	}{
		{"GOGC unset", "", serverGCPercent},
		{"GOGC set", "150", 150},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.gogc != "" {
				debug.SetGCPercent(150) // what the runtime made of GOGC=150
			} else {
				debug.SetGCPercent(100)
			}
			got := tuneGC(func(k string) string {
				if k == "GOGC" {
					return c.gogc
				}
				return ""
			})
			in := debug.SetGCPercent(100)
			if got != c.want || in != c.want {
				t.Errorf("tuneGC = %d, target in force %d; want %d", got, in, c.want)
			}
		})
	}
}
