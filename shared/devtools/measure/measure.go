// Package measure holds what the measuring tools (coldstart, throughput)
// and the test kits (testenv) share: the machine's load, said with every
// figure so that a reader can tell a busy machine from a slow change, and
// a buffer that collects output written from many goroutines.
package measure

import (
	"bytes"
	"os"
	"strings"
	"sync"
)

// LoadAverage returns the 1, 5 and 15 minute load averages, as
// /proc/loadavg says them, or "unknown".
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers (captured logs,
// a process's output) that can be read while they write.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
