// Package sharemodel is the sequential specification of one sharing session,
// against which the race tests check what their goroutines were told, with
// Porcupine (github.com/anishathalye/porcupine).
//
// A race test records every call it makes on one share: History.Call just
// before the call, History.Return just after, from any goroutine. Check then
// asks Porcupine whether one order of all the calls explains every answer
// under the model, an order in which a call that returned before another was
// made comes first (linearizability). Counting the outcomes of a race (exactly
// ten keys) cannot see a key issued after the revoke returned if another
// issued before it failed; a linearizability check sees every such ordering
// fault, and a failed check writes Porcupine's visualization of the history.
//
// The model (ARCHITECTURE §2.3, §2.4, §2.5) is one share:
//
//   - Before OpCreate it does not exist: every other call answers not_found.
//     OpCreate makes it ACTIVE with its max views and max devices; another
//     create with the same idempotency key answers a replay naming it.
//   - OpRevoke always succeeds. The first one revokes; where the port reports
//     it (Options.RevokeReportsWrite), exactly that one says it wrote. From
//     then on no open, issue or claim succeeds, whatever the call.
//   - OpOpen on device d: session_revoked when revoked; else ok when d is
//     bound or there is room to bind it (then it is bound); else
//     device_mismatch. Exhausted views do not stop an open.
//   - OpIssue: session_revoked when revoked (it wins over views_exhausted);
//     else ok while views_used < max_views (one view counted, the key
//     ISSUED); else views_exhausted.
//   - OpClaim of key k: not_found when k was never issued; key_used when it
//     was claimed (on a revoked share session_revoked is allowed too: the
//     port, core.ShareStore.ClaimKey, leaves that precedence open);
//     session_revoked when the share is revoked; else ok, and k is USED.
//
// With Options.Detectors the service's own detectors are in the model too
// (core/activity.go): an issue may answer session_revoked on an active share,
// because that call's burst or IP-change signal revoked it (the share is
// revoked from then on); a claim answering key_used may have revoked it
// through the failed-claim signal (the share may be revoked from then on).
// The store-level suites run without detectors; the HTTP-level race tests
// with them.
//
// Expiry is not in the model: the race tests run well inside every expiry,
// so session_expired and key_expired are violations.
package sharemodel

import (
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/medshare/medshare/shared/core"
)

// Op names a call on a share.
type Op string

// The calls the model knows.
const (
	OpCreate Op = "create"
	OpOpen   Op = "open"
	OpIssue  Op = "issue"
	OpClaim  Op = "claim"
	OpRevoke Op = "revoke"
)

// Input is one call on the share.
type Input struct {
	Op Op
	// ID is the share's id (create), the device's fingerprint (open) or the
	// key's id (claim; issue when the caller chooses it, as the store port's
	// callers do; "" when the server does).
	ID string
	// MaxViews and MaxDevices are the created share's limits (create).
	MaxViews, MaxDevices int
}

// Output is what a call answered.
type Output struct {
	// Code is "" for success, else the error code (core.Code…).
	Code string
	// ID is the id a successful call made: the issued key's (issue), the
	// share's (create).
	ID string
	// Wrote is what a successful revoke reported: that it revoked the share
	// (core.ShareStore.RevokeShare's revoked). Only checked with
	// Options.RevokeReportsWrite.
	Wrote bool
	// ReplayOf is the share an idempotency replay names (create).
	ReplayOf string
	// Err is the error's text, for the visualization only.
	Err string
}

// OutputOf is the output of a call of the store port that returned err: its
// code, or the replayed share of a *core.IdempotencyReplayError. A nil err is
// success; the caller fills ID and Wrote.
func OutputOf(err error) Output {
	if err == nil {
		return Output{}
	}
	var replay *core.IdempotencyReplayError
	if errors.As(err, &replay) {
		return Output{ReplayOf: replay.ShareID, Err: err.Error()}
	}
	return Output{Code: core.CodeOf(err), Err: err.Error()}
}

// Options chooses what the model allows beyond the store port's contract.
type Options struct {
	// Detectors allows what the service's detectors do: an issue answering
	// session_revoked revokes an active share; a claim answering key_used may
	// revoke it.
	Detectors bool
	// RevokeReportsWrite checks Output.Wrote of revokes: exactly the first
	// revoke of the share wrote.
	RevokeReportsWrite bool
}

// state is the share at one point of a linearization. Steps never change a
// state; they make new ones (Porcupine keeps old states for backtracking).
type state struct {
	share      string // "" before the create
	revoked    bool
	views      int
	maxViews   int
	maxDevices int
	devices    []string        // bound fingerprints, sorted
	keys       map[string]bool // issued keys: true once claimed
	keysHash   uint64          // XOR of keyHash over keys, kept with them
}

func (s state) withKey(id string, used bool) state {
	old, had := s.keys[id]
	s.keys = maps.Clone(s.keys)
	if s.keys == nil {
		s.keys = map[string]bool{}
	}
	if had {
		s.keysHash ^= keyHash(id, old)
	}
	s.keys[id] = used
	s.keysHash ^= keyHash(id, used)
	return s
}

func keyHash(id string, used bool) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	if used {
		h.Write([]byte{1})
	}
	return h.Sum64()
}

func (s state) hash() uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s|%t|%d|%d|%d|%s", s.share, s.revoked, s.views, s.maxViews, s.maxDevices, strings.Join(s.devices, ","))
	return h.Sum64() ^ s.keysHash
}

func (s state) equal(o state) bool {
	return s.share == o.share && s.revoked == o.revoked && s.views == o.views && s.maxViews == o.maxViews &&
		s.maxDevices == o.maxDevices && s.keysHash == o.keysHash && slices.Equal(s.devices, o.devices) && maps.Equal(s.keys, o.keys)
}

func (s state) String() string {
	if s.share == "" {
		return "no share"
	}
	status := "active"
	if s.revoked {
		status = "revoked"
	}
	used := 0
	for _, u := range s.keys {
		if u {
			used++
		}
	}
	return fmt.Sprintf("%s, views %d/%d, devices %d/%d, keys %d issued %d used",
		status, s.views, s.maxViews, len(s.devices), s.maxDevices, len(s.keys), used)
}

// step returns every state the share can be in after the call in answered
// out in s; none when the answer is not possible.
func step(opts Options, s state, in Input, out Output) []state {
	is := func(code string) bool { return out.Code == code && out.ReplayOf == "" }
	ok := is("")
	if s.share == "" {
		switch {
		case in.Op == OpCreate && ok && in.MaxViews > 0 && in.MaxDevices > 0 && (in.ID == "" || out.ID == "" || in.ID == out.ID):
			id := cmpOr(out.ID, in.ID)
			if id == "" {
				return nil
			}
			return []state{{share: id, maxViews: in.MaxViews, maxDevices: in.MaxDevices}}
		case in.Op != OpCreate && is(core.CodeNotFound):
			return []state{s}
		}
		return nil
	}
	switch in.Op {
	case OpCreate:
		if out.Code == "" && out.ReplayOf == s.share {
			return []state{s}
		}
	case OpRevoke:
		if !ok || (opts.RevokeReportsWrite && out.Wrote == s.revoked) {
			return nil
		}
		s.revoked = true
		return []state{s}
	case OpOpen:
		bound := slices.Contains(s.devices, in.ID)
		switch {
		case s.revoked:
			if is(core.CodeSessionRevoked) {
				return []state{s}
			}
		case bound || len(s.devices) < s.maxDevices:
			if ok {
				if !bound {
					s.devices = slices.Insert(slices.Clone(s.devices), sortedIndex(s.devices, in.ID), in.ID)
				}
				return []state{s}
			}
		case is(core.CodeDeviceMismatch):
			return []state{s}
		}
	case OpIssue:
		switch {
		case s.revoked:
			if is(core.CodeSessionRevoked) {
				return []state{s}
			}
		case opts.Detectors && is(core.CodeSessionRevoked):
			s.revoked = true // this call's own detector revoked it
			return []state{s}
		case s.views < s.maxViews:
			if ok && out.ID != "" && (in.ID == "" || in.ID == out.ID) {
				if _, dup := s.keys[out.ID]; dup {
					return nil
				}
				s = s.withKey(out.ID, false)
				s.views++
				return []state{s}
			}
		case is(core.CodeViewsExhausted):
			return []state{s}
		}
	case OpClaim:
		used, issued := s.keys[in.ID]
		switch {
		case !issued:
			if is(core.CodeNotFound) {
				return []state{s}
			}
		case used:
			if is(core.CodeKeyUsed) {
				if opts.Detectors && !s.revoked {
					r := s
					r.revoked = true // the failed-claim signal may have revoked it
					return []state{s, r}
				}
				return []state{s}
			}
			if s.revoked && is(core.CodeSessionRevoked) {
				return []state{s}
			}
		case s.revoked:
			if is(core.CodeSessionRevoked) {
				return []state{s}
			}
		case ok:
			return []state{s.withKey(in.ID, true)}
		}
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func sortedIndex(s []string, v string) int {
	i, _ := slices.BinarySearch(s, v)
	return i
}

// Model is the sequential specification of one share under opts, for
// Porcupine.
func Model(opts Options) porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Init: func() []any { return []any{state{}} },
		Step: func(s, in, out any) []any {
			var next []any
			for _, n := range step(opts, s.(state), in.(Input), out.(Output)) {
				next = append(next, n)
			}
			return next
		},
		Equal: func(a, b any) bool { return a.(state).equal(b.(state)) },
		Hash:  func(s any) uint64 { return s.(state).hash() },
		DescribeOperation: func(in, out any) string {
			return describe(in.(Input), out.(Output))
		},
		DescribeState: func(s any) string { return s.(state).String() },
	}
	return nm.ToModel()
}

func describe(in Input, out Output) string {
	var b strings.Builder
	b.WriteString(string(in.Op))
	if in.ID != "" {
		b.WriteString(" " + in.ID)
	}
	b.WriteString(" → ")
	switch {
	case out.ReplayOf != "":
		b.WriteString("replay of " + out.ReplayOf)
	case out.Code != "":
		b.WriteString(out.Code)
	case in.Op == OpRevoke:
		fmt.Fprintf(&b, "ok (wrote %t)", out.Wrote)
	default:
		b.WriteString("ok")
		if out.ID != "" && out.ID != in.ID {
			b.WriteString(" " + out.ID)
		}
	}
	return b.String()
}

// History records the calls of a race on one share. Its clock is a counter:
// a call's time is taken before the call is made and its return time after
// it returned, so a call that returned before another was made has the
// smaller times, whatever the goroutines' scheduling. Safe for concurrent
// use.
type History struct {
	clock atomic.Int64
	mu    sync.Mutex
	ops   []porcupine.Operation
}

// Call returns the time of a call about to be made.
func (h *History) Call() int64 { return h.clock.Add(1) }

// Return records that client made the call in at time call (from Call) and
// that it has just returned out. Clients number the goroutines from 0; they
// are the rows of the visualization.
func (h *History) Return(client int, in Input, call int64, out Output) {
	ret := h.clock.Add(1)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
}

// Do records f as one call of client with input in, and returns its output.
func (h *History) Do(client int, in Input, f func() Output) Output {
	call := h.Call()
	out := f()
	h.Return(client, in, call, out)
	return out
}

// Operations returns the calls recorded so far.
func (h *History) Operations() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ops)
}

// Timeout bounds one check. A linearizable history of the race tests is
// checked in milliseconds (docs/PERFORMANCE.md). A history that is not
// linearizable makes Porcupine try every order the calls' overlaps allow,
// which for hundreds of overlapping calls may not end: the timeout stops it,
// and Check fails on the timeout as on a violation (passing it would let a
// violation through).
const Timeout = 30 * time.Second

// Check fails t unless Porcupine finds the calls recorded in h linearizable
// under the model with opts within Timeout. When it does not, it writes
// Porcupine's visualization of the history to an HTML file and names it in
// the failure: in $MEDSHARE_PORCUPINE_DIR, else in the system's temporary
// directory (not the test's, which is removed when the test ends).
func Check(t testing.TB, opts Options, h *History) {
	t.Helper()
	ops := h.Operations()
	if len(ops) == 0 {
		t.Errorf("linearizability: no calls recorded")
		return
	}
	dir := os.Getenv("MEDSHARE_PORCUPINE_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	start := time.Now()
	res, path, err := CheckOperations(opts, ops, Timeout, dir, t.Name())
	t.Logf("linearizability: %d calls checked in %v: %s", len(ops), time.Since(start).Round(time.Millisecond), res)
	switch {
	case err != nil:
		t.Errorf("linearizability: %s, and the visualization could not be written: %v", res, err)
	case res == porcupine.Illegal:
		t.Errorf("linearizability: the %d calls on the share are not linearizable under the model; visualization: %s", len(ops), path)
	case res != porcupine.Ok:
		t.Errorf("linearizability: no answer within %v (%s) for %d calls; visualization of the partial search: %s", Timeout, res, len(ops), path)
	}
}

// CheckOperations checks ops against the model with opts within timeout,
// after Guided has reshaped them. Unless the result is porcupine.Ok it writes
// the visualization into a new file of dir, named after name, and returns
// its path.
func CheckOperations(opts Options, ops []porcupine.Operation, timeout time.Duration, dir, name string) (porcupine.CheckResult, string, error) {
	m := Model(opts)
	// The verbose check also keeps the partial linearizations that the
	// visualization shows; on the race tests' histories it costs no
	// measurable time more, and a failure is not checked twice.
	res, info := porcupine.CheckOperationsVerbose(m, Guided(opts, ops), timeout)
	if res == porcupine.Ok {
		return res, "", nil
	}
	f, err := os.CreateTemp(dir, "porcupine-"+fileSafe.ReplaceAllString(name, "_")+"-*.html")
	if err != nil {
		return res, "", err
	}
	path := f.Name()
	if err := f.Close(); err != nil {
		return res, path, err
	}
	return res, path, porcupine.VisualizePath(m, info, path)
}

var fileSafe = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Guided returns ops reshaped so that Porcupine's search finds an order
// quickly, without changing whether the history is linearizable under the
// model with opts (TestGuidedKeepsTheAnswer checks it on random histories).
//
// Porcupine tries calls in the order they were made, and when an order
// fails it goes back over every subset of the calls it placed after the
// wrong choice. A race test's history is hundreds of refusals
// (session_revoked after the revoke) overlapping a few successes; when
// Porcupine places the revoke before a success whose call came a little
// later, it goes back over every subset of those refusals, which does not
// end. Two changes prevent it:
//
//   - A refusal that changes nothing and stays possible once possible
//     (pure: see pureRefusal) is moved to the end of its interval: it is
//     called just before it returned. Any order that places it earlier can
//     place it there instead (the state it needs is still there, and it
//     changed nothing in between), and an order for the shortened interval
//     is one for the recorded interval.
//   - Calls made one after another with no return in between precede and
//     follow exactly the same calls, so their order among themselves is
//     free: successes are put first, then revokes, then the rest, the order
//     in which they can most often be placed.
//
// The recorded times are kept in each operation's Metadata, which the
// visualization shows.
func Guided(opts Options, ops []porcupine.Operation) []porcupine.Operation {
	type event struct {
		at   int64
		call bool
		op   int
	}
	out := slices.Clone(ops)
	events := make([]event, 0, 2*len(ops))
	for i, op := range out {
		out[i].Metadata = fmt.Sprintf("recorded [%d, %d]", op.Call, op.Return)
		// Doubled times leave room for a call just before each return.
		call, ret := 2*op.Call, 2*op.Return
		if pureRefusal(opts, op.Input.(Input), op.Output.(Output)) {
			call = max(call, ret-1)
		}
		events = append(events, event{call, true, i}, event{ret, false, i})
	}
	slices.SortFunc(events, func(a, b event) int {
		if a.at != b.at {
			return cmpInt(a.at, b.at)
		}
		// Equal times (a caller's own clock): calls first, as Porcupine
		// reads an interval as closed.
		return cmpBool(!a.call, !b.call)
	})
	for start := 0; start < len(events); {
		end := start
		for end < len(events) && events[end].call {
			end++
		}
		if end == start {
			out[events[start].op].Return = events[start].at
			start++
			continue
		}
		run := events[start:end]
		times := make([]int64, len(run))
		for i, e := range run {
			times[i] = e.at
		}
		slices.SortStableFunc(run, func(a, b event) int {
			return cmpInt(int64(rank(out[a.op].Input.(Input), out[a.op].Output.(Output))), int64(rank(out[b.op].Input.(Input), out[b.op].Output.(Output))))
		})
		for i, e := range run {
			out[e.op].Call = times[i]
		}
		start = end
	}
	return out
}

// pureRefusal reports whether the call in answering out changes no state,
// and whether every state that follows one in which it is possible allows
// it too: session_revoked of an open or a claim (a revoked share stays
// revoked, an issued key stays issued), key_used of a claim (a used key
// stays used). An issue's session_revoked and a claim's key_used may revoke
// the share when the detectors are in the model, so they are pure only
// without them.
func pureRefusal(opts Options, in Input, out Output) bool {
	if out.ReplayOf != "" {
		return false
	}
	switch {
	case out.Code == core.CodeSessionRevoked:
		return in.Op == OpOpen || in.Op == OpClaim || (in.Op == OpIssue && !opts.Detectors)
	case out.Code == core.CodeKeyUsed:
		return in.Op == OpClaim && !opts.Detectors
	}
	return false
}

// rank orders calls made one after another: successes that change the
// share, then revokes, then the rest.
func rank(in Input, out Output) int {
	switch {
	case out.Code != "" || out.ReplayOf != "":
		return 2
	case in.Op == OpRevoke:
		return 1
	}
	return 0
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}
