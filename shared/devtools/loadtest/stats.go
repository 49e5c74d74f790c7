package loadtest

import (
	"slices"
	"strconv"
	"sync"
	"time"
)

// stats records every request's outcome and latency per operation.
type stats struct {
	mu  sync.Mutex
	ops map[string]*opRecord
}

type opRecord struct {
	outcomes    map[string]int // "201", "410 views_exhausted", "no answer"
	latencies   []time.Duration
	first, last time.Time
}

func newStats() *stats { return &stats{ops: map[string]*opRecord{}} }

func (s *stats) record(op string, start, end time.Time, status int, code string) {
	key := "no answer"
	if status != 0 {
		key = strconv.Itoa(status)
		if code != "" {
			key += " " + code
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.ops[op]
	if r == nil {
		r = &opRecord{outcomes: map[string]int{}, first: start}
		s.ops[op] = r
	}
	r.outcomes[key]++
	r.latencies = append(r.latencies, end.Sub(start))
	if start.Before(r.first) {
		r.first = start
	}
	if end.After(r.last) {
		r.last = end
	}
}

func (s *stats) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.ops {
		n += len(r.latencies)
	}
	return n
}

// OpStats are the figures of one operation.
type OpStats struct {
	Op        string
	Requests  int
	OK        int            // 2xx
	Errors    map[string]int // every other outcome: "410 views_exhausted", "500 internal", "no answer"
	Status5xx int
	// PerSecond is Requests over the operation's active window, from its
	// first request's start to its last answer.
	PerSecond float64
	P50, P99  time.Duration
}

// opOrder is the order of the table: the order of a run.
var opOrder = []string{
	"health", "list-photos", "upload-presign", "blob-put", "finalize-upload", "create-session",
	"open-access", "issue-key", "signed-url", "blob-get", "report-activity", "revoke-session",
	"get-session", "verify-audit",
}

func (s *stats) snapshot() []OpStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.ops))
	for op := range s.ops {
		names = append(names, op)
	}
	rank := func(op string) int {
		if i := slices.Index(opOrder, op); i >= 0 {
			return i
		}
		return len(opOrder)
	}
	slices.SortFunc(names, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		if a < b {
			return -1
		}
		return 1
	})
	out := make([]OpStats, 0, len(names))
	for _, op := range names {
		r := s.ops[op]
		o := OpStats{Op: op, Requests: len(r.latencies), Errors: map[string]int{}}
		for k, n := range r.outcomes {
			status, _ := strconv.Atoi(k[:min(3, len(k))])
			switch {
			case status >= 200 && status < 300:
				o.OK += n
			default:
				o.Errors[k] += n
			}
			if status >= 500 {
				o.Status5xx += n
			}
		}
		if w := r.last.Sub(r.first).Seconds(); w > 0 {
			o.PerSecond = float64(o.Requests) / w
		}
		lat := slices.Clone(r.latencies)
		slices.Sort(lat)
		o.P50, o.P99 = percentile(lat, 0.50), percentile(lat, 0.99)
		out = append(out, o)
	}
	return out
}

// percentile of sorted values, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
