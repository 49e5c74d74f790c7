package main

import "runtime/debug"

// serverGCPercent is the garbage collector's target (GOGC) of the long-running
// server: collect when the heap has grown by 400% of what the last
// collection left, not 100%. The embedded server's live heap under the
// throughput benchmark is about 4 MB (bbolt's file is mapped, not on the
// heap), so the heap peaks near 20 MB instead of 8, and the collector runs
// about a fifth as often: under load it took 8 to 12% of the CPU profile
// at GOGC=100 (docs/PERFORMANCE.md, "Throughput").
const serverGCPercent = 400

// tuneGC sets the collector's target to serverGCPercent unless the
// operator chose one with GOGC, and returns the target in force.
func tuneGC(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		// The runtime read it at start; read it back without changing it.
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(serverGCPercent)
	return serverGCPercent
}
