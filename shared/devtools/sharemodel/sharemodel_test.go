package sharemodel

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
)

// call is one hand-made operation: client, call and return times, input,
// output.
type call struct {
	client   int
	from, to int64
	in       Input
	out      Output
}

func history(calls ...call) []porcupine.Operation {
	var ops []porcupine.Operation
	for _, c := range calls {
		ops = append(ops, porcupine.Operation{ClientId: c.client, Input: c.in, Call: c.from, Output: c.out, Return: c.to})
	}
	return ops
}

// seq makes calls one after another on client 0, each returning before the
// next is made, starting at time 1000 (so that hand-made concurrent calls
// can come before them).
func seq(start int64, steps ...call) []call {
	for i := range steps {
		steps[i].from, steps[i].to = start+int64(2*i), start+int64(2*i+1)
	}
	return steps
}

func create(maxViews, maxDevices int) call {
	return call{in: Input{Op: OpCreate, ID: "sh_1", MaxViews: maxViews, MaxDevices: maxDevices}}
}

func issue(key, code string) call {
	out := Output{Code: code}
	if code == "" {
		out.ID = key
	}
	return call{in: Input{Op: OpIssue, ID: key}, out: out}
}

func claim(key, code string) call {
	return call{in: Input{Op: OpClaim, ID: key}, out: Output{Code: code}}
}
func open(device, code string) call {
	return call{in: Input{Op: OpOpen, ID: device}, out: Output{Code: code}}
}
func revoke(wrote bool) call { return call{in: Input{Op: OpRevoke}, out: Output{Wrote: wrote}} }

// at places c on client from from to to.
func at(c call, client int, from, to int64) call {
	c.client, c.from, c.to = client, from, to
	return c
}

var (
	storeLevel   = Options{RevokeReportsWrite: true}
	serviceLevel = Options{Detectors: true}
)

// TestModel feeds the checker hand-made histories: each non-linearizable one
// (a view after the revoke returned, max_views+1 keys, a key claimed twice,
// ...) must be reported Illegal, or the race tests' checks would be vacuous;
// each linearizable one, however its calls overlap, must be Ok.
func TestModel(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		calls []call
		want  porcupine.CheckResult
	}{
		// What the model must refuse.
		{"a view after the revoke returned", storeLevel,
			seq(1, create(5, 1), open("d1", ""), revoke(true), issue("k1", "")), porcupine.Illegal},
		{"a view after the revoke returned, detectors on", serviceLevel,
			seq(1, create(5, 1), open("d1", ""), revoke(false), issue("k1", "")), porcupine.Illegal},
		{"max_views+1 concurrent issues succeed", storeLevel,
			append(seq(1, create(2, 1)),
				at(issue("k1", ""), 1, 10, 20), at(issue("k2", ""), 2, 11, 21), at(issue("k3", ""), 3, 12, 22)), porcupine.Illegal},
		{"max_views+1 issues succeed, detectors on", serviceLevel,
			seq(1, create(2, 1), issue("k1", ""), issue("k2", ""), issue("k3", "")), porcupine.Illegal},
		{"a key claimed twice at once", storeLevel,
			append(seq(1, create(5, 1), issue("k1", "")),
				at(claim("k1", ""), 1, 10, 20), at(claim("k1", ""), 2, 11, 21)), porcupine.Illegal},
		{"a key issued before the revoke claimed after it", storeLevel,
			seq(1, create(5, 1), issue("k1", ""), revoke(true), claim("k1", "")), porcupine.Illegal},
		{"a key issued before the revoke claimed after it, detectors on", serviceLevel,
			seq(1, create(5, 1), issue("k1", ""), revoke(false), claim("k1", "")), porcupine.Illegal},
		{"an open after the revoke returned", storeLevel,
			seq(1, create(5, 1), open("d1", ""), revoke(true), open("d1", "")), porcupine.Illegal},
		{"views_exhausted with a view left", storeLevel,
			seq(1, create(2, 1), issue("k1", ""), issue("k2", core.CodeViewsExhausted)), porcupine.Illegal},
		{"views_exhausted instead of session_revoked", storeLevel,
			seq(1, create(1, 1), issue("k1", ""), revoke(true), issue("k2", core.CodeViewsExhausted)), porcupine.Illegal},
		{"two concurrent revokes both wrote", storeLevel,
			append(seq(1, create(5, 1)), at(revoke(true), 1, 10, 20), at(revoke(true), 2, 11, 21)), porcupine.Illegal},
		{"a revoke that did not write on an active share", storeLevel,
			seq(1, create(5, 1), revoke(false)), porcupine.Illegal},
		{"a third device bound to a two-device share", storeLevel,
			append(seq(1, create(5, 2)),
				at(open("d1", ""), 1, 10, 20), at(open("d2", ""), 2, 11, 21), at(open("d3", ""), 3, 12, 22)), porcupine.Illegal},
		{"device_mismatch with room left", storeLevel,
			seq(1, create(5, 2), open("d1", ""), open("d2", core.CodeDeviceMismatch)), porcupine.Illegal},
		{"session_revoked before any revoke, detectors off", storeLevel,
			seq(1, create(5, 1), issue("k1", core.CodeSessionRevoked)), porcupine.Illegal},
		{"a view after an issue's detector revoked the share", serviceLevel,
			seq(1, create(5, 1), issue("k1", core.CodeSessionRevoked), issue("k2", "")), porcupine.Illegal},
		{"a claim answering session_revoked on an active share, detectors on", serviceLevel,
			seq(1, create(5, 1), issue("k1", ""), claim("k1", core.CodeSessionRevoked)), porcupine.Illegal},
		{"a key never issued claimed", storeLevel,
			seq(1, create(5, 1), claim("k9", "")), porcupine.Illegal},
		{"a key issued twice", storeLevel,
			seq(1, create(5, 1), issue("k1", ""), issue("k1", "")), porcupine.Illegal},
		{"session_expired is not in the model", storeLevel,
			seq(1, create(5, 1), issue("k1", core.CodeSessionExpired)), porcupine.Illegal},
		{"two creates under one idempotency key", storeLevel,
			[]call{at(create(5, 1), 1, 1, 10), at(call{in: Input{Op: OpCreate, ID: "sh_2", MaxViews: 5, MaxDevices: 1}}, 2, 2, 11)}, porcupine.Illegal},
		{"a replay naming a share that was not created", storeLevel,
			[]call{at(create(5, 1), 1, 1, 10), at(call{in: Input{Op: OpCreate, ID: "sh_2", MaxViews: 5, MaxDevices: 1}, out: Output{ReplayOf: "sh_3"}}, 2, 2, 11)}, porcupine.Illegal},
		{"a view before the share exists", storeLevel,
			seq(1, issue("k1", ""), create(5, 1)), porcupine.Illegal},

		// What the model must allow.
		{"a view concurrent with the revoke", storeLevel,
			append(seq(1, create(5, 1)), at(issue("k1", ""), 1, 10, 20), at(revoke(true), 2, 11, 19), at(issue("k2", core.CodeSessionRevoked), 3, 12, 18)), porcupine.Ok},
		{"exactly max_views of many concurrent issues", storeLevel,
			append(seq(1, create(2, 1)),
				at(issue("k1", core.CodeViewsExhausted), 1, 10, 30), at(issue("k2", ""), 2, 11, 31),
				at(issue("k3", core.CodeViewsExhausted), 3, 12, 32), at(issue("k4", ""), 4, 13, 33)), porcupine.Ok},
		{"exhausted while the last view was being taken", storeLevel,
			append(seq(1, create(1, 1)), at(issue("k1", ""), 1, 10, 40), at(issue("k2", core.CodeViewsExhausted), 2, 20, 30)), porcupine.Ok},
		{"one claim of many wins", storeLevel,
			append(seq(1, create(5, 1), issue("k1", "")),
				at(claim("k1", core.CodeKeyUsed), 1, 10, 20), at(claim("k1", ""), 2, 11, 21), at(claim("k1", core.CodeKeyUsed), 3, 12, 22)), porcupine.Ok},
		{"a used key on a revoked share is key_used or session_revoked", storeLevel,
			seq(1, create(5, 1), issue("k1", ""), claim("k1", ""), revoke(true), claim("k1", core.CodeKeyUsed), claim("k1", core.CodeSessionRevoked)), porcupine.Ok},
		{"two devices of three bound", storeLevel,
			append(seq(1, create(5, 2)),
				at(open("d1", ""), 1, 10, 20), at(open("d2", core.CodeDeviceMismatch), 2, 11, 21), at(open("d3", ""), 3, 12, 22), at(open("d1", ""), 4, 23, 24)), porcupine.Ok},
		{"an open on an exhausted share", storeLevel,
			seq(1, create(1, 1), issue("k1", ""), open("d1", "")), porcupine.Ok},
		{"revoke twice, the second wrote nothing", storeLevel,
			seq(1, create(5, 1), revoke(true), revoke(false), issue("k1", core.CodeSessionRevoked), open("d1", core.CodeSessionRevoked)), porcupine.Ok},
		{"creates under one idempotency key: one wins, the others replay it", storeLevel,
			[]call{
				at(call{in: Input{Op: OpCreate, ID: "sh_2", MaxViews: 5, MaxDevices: 1}, out: Output{ReplayOf: "sh_1"}}, 1, 1, 10),
				at(create(5, 1), 2, 2, 11),
				at(call{in: Input{Op: OpCreate, ID: "sh_3", MaxViews: 5, MaxDevices: 1}, out: Output{ReplayOf: "sh_1"}}, 3, 3, 12),
			}, porcupine.Ok},
		{"an issue's own detector revoked the share", serviceLevel,
			seq(1, create(5, 1), issue("k1", ""), issue("k2", core.CodeSessionRevoked), claim("k1", core.CodeSessionRevoked), revoke(false)), porcupine.Ok},
		{"a failed claim's detector revoked the share", serviceLevel,
			seq(1, create(5, 1), issue("k1", ""), issue("k2", ""), claim("k1", ""), claim("k1", core.CodeKeyUsed), claim("k2", core.CodeSessionRevoked)), porcupine.Ok},
		{"without detectors a failed claim revokes nothing", storeLevel,
			seq(1, create(5, 1), issue("k1", ""), issue("k2", ""), claim("k1", ""), claim("k1", core.CodeKeyUsed), claim("k2", core.CodeSessionRevoked)), porcupine.Illegal},
		{"the server chooses the key id", serviceLevel,
			seq(1, create(5, 1), call{in: Input{Op: OpIssue}, out: Output{ID: "ek_9"}}, claim("ek_9", "")), porcupine.Ok},
		{"not_found before the create", storeLevel,
			seq(1, claim("k1", core.CodeNotFound), create(5, 1)), porcupine.Ok},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops := history(tt.calls...)
			if got := porcupine.CheckOperationsTimeout(Model(tt.opts), ops, 10*time.Second); got != tt.want {
				t.Errorf("check: got %s, want %s", got, tt.want)
			}
			if got := porcupine.CheckOperationsTimeout(Model(tt.opts), Guided(tt.opts, ops), 10*time.Second); got != tt.want {
				t.Errorf("check of the guided history: got %s, want %s", got, tt.want)
			}
		})
	}
}

// failRecorder is a testing.TB that records failures instead of failing.
type failRecorder struct {
	testing.TB
	errs []string
}

func (f *failRecorder) Helper()             {}
func (f *failRecorder) Logf(string, ...any) {}
func (f *failRecorder) Errorf(format string, a ...any) {
	f.errs = append(f.errs, fmt.Sprintf(format, a...))
}

// TestCheckWritesVisualization: a violation fails the test, and the failure
// names an HTML visualization of the history that exists.
func TestCheckWritesVisualization(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("MEDSHARE_PORCUPINE_DIR", dir)
	var h History
	for _, c := range seq(1, create(5, 1), revoke(true), issue("k1", "")) {
		h.Do(0, c.in, func() Output { return c.out })
	}
	rec := &failRecorder{TB: t}
	Check(rec, storeLevel, &h)
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "not linearizable") {
		t.Fatalf("Check of a view after the revoke: got failures %q, want one naming the violation", rec.errs)
	}
	files, err := filepath.Glob(filepath.Join(dir, "porcupine-*.html"))
	if err != nil || len(files) != 1 {
		t.Fatalf("visualizations in %s: got %v (%v), want one", dir, files, err)
	}
	if !strings.Contains(rec.errs[0], files[0]) {
		t.Errorf("failure %q does not name the visualization %s", rec.errs[0], files[0])
	}
	b, err := os.ReadFile(files[0])
	if err != nil || !strings.Contains(string(b), "<html") || !strings.Contains(string(b), "issue k1") {
		t.Errorf("visualization %s: %d bytes (%v), want an HTML page describing the calls", files[0], len(b), err)
	}
}

// TestCheckPasses: a linearizable history passes and writes nothing; an
// empty one fails (a race test that recorded nothing checked nothing).
func TestCheckPasses(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("MEDSHARE_PORCUPINE_DIR", dir)
	var h History
	for _, c := range seq(1, create(5, 1), issue("k1", ""), revoke(true)) {
		h.Do(0, c.in, func() Output { return c.out })
	}
	rec := &failRecorder{TB: t}
	Check(rec, storeLevel, &h)
	if len(rec.errs) != 0 {
		t.Errorf("Check of a linearizable history: got failures %q, want none", rec.errs)
	}
	rec = &failRecorder{TB: t}
	Check(rec, storeLevel, &History{})
	if len(rec.errs) != 1 {
		t.Errorf("Check of an empty history: got failures %q, want one", rec.errs)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 0 {
		t.Errorf("files written: %v, want none", files)
	}
}

// TestHistoryOrder: a call that returned before another was made has the
// smaller times, across goroutines.
func TestHistoryOrder(t *testing.T) {
	var h History
	h.Do(0, Input{Op: OpCreate}, func() Output { return Output{} })
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { h.Do(i+1, Input{Op: OpIssue}, func() Output { return Output{} }) })
	}
	wg.Wait()
	h.Do(0, Input{Op: OpRevoke}, func() Output { return Output{} })
	ops := h.Operations()
	if len(ops) != 10 {
		t.Fatalf("got %d operations, want 10", len(ops))
	}
	first, last := ops[0], ops[len(ops)-1]
	for _, op := range ops[1 : len(ops)-1] {
		if !(first.Return < op.Call && op.Call < op.Return && op.Return < last.Call) {
			t.Errorf("operation %v [%d, %d] not between the create (returned %d) and the revoke (made %d)", op.Input, op.Call, op.Return, first.Return, last.Call)
		}
	}
}

func TestOutputOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Output
	}{
		{"success", nil, Output{}},
		{"core error", fmt.Errorf("issue key: %w", core.ErrGone(core.CodeViewsExhausted, "no views")), Output{Code: core.CodeViewsExhausted}},
		{"replay", &core.IdempotencyReplayError{ShareID: "sh_1"}, Output{ReplayOf: "sh_1"}},
		{"other error", errors.New("connection reset"), Output{Code: core.CodeInternal}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := OutputOf(tt.err)
			got.Err = ""
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("OutputOf(%v) mismatch (-want +got):\n%s", tt.err, diff)
			}
		})
	}
}

// TestGuidedKeepsTheAnswer: on thousands of random histories (a share's
// calls overlapping at random, answered as a correct share would, half of
// them then given one wrong answer), Porcupine answers the same on the
// history as recorded and as Guided reshapes it, under both options.
func TestGuidedKeepsTheAnswer(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	counts := map[porcupine.CheckResult]int{}
	for _, opts := range []Options{storeLevel, serviceLevel} {
		for i := range 3000 {
			ops := randomHistory(rng, opts)
			want := porcupine.CheckOperations(Model(opts), ops)
			got := porcupine.CheckOperations(Model(opts), Guided(opts, ops))
			if got != want {
				t.Fatalf("history %d under %+v: guided %v, recorded %v\n%s", i, opts, got, want, describeOps(ops))
			}
			if want {
				counts[porcupine.Ok]++
			} else {
				counts[porcupine.Illegal]++
			}
		}
	}
	// Both answers must be common, or the comparison says little.
	if counts[porcupine.Ok] < 1000 || counts[porcupine.Illegal] < 1000 {
		t.Errorf("random histories: %v, want at least 1000 of each answer", counts)
	}
}

// randomHistory returns the create of a share followed by up to 8
// overlapping calls answered as a correct share answers them in some order,
// and, half of the time, with one answer then replaced by another.
func randomHistory(rng *rand.Rand, opts Options) []porcupine.Operation {
	maxViews, maxDevices := 1+rng.IntN(3), 1+rng.IntN(2)
	n := 2 + rng.IntN(7)
	inputs := make([]Input, n)
	for i := range inputs {
		switch rng.IntN(6) {
		case 0, 1:
			inputs[i] = Input{Op: OpIssue, ID: fmt.Sprintf("k%d", i)}
		case 2, 3:
			inputs[i] = Input{Op: OpClaim, ID: fmt.Sprintf("k%d", rng.IntN(n))}
		case 4:
			inputs[i] = Input{Op: OpOpen, ID: fmt.Sprintf("d%d", rng.IntN(3))}
		default:
			inputs[i] = Input{Op: OpRevoke}
		}
	}
	// Answer them in a random order (the linearization), from the states the
	// model allows, choosing at random where it allows several.
	s := []state{{}}
	s = step(opts, s[0], Input{Op: OpCreate, ID: "sh_1", MaxViews: maxViews, MaxDevices: maxDevices}, Output{ID: "sh_1"})
	cur := s[0]
	order := rng.Perm(n)
	outs := make([]Output, n)
	for _, i := range order {
		var options []Output
		var nexts []state
		for _, out := range candidates(inputs[i]) {
			for _, next := range step(opts, cur, inputs[i], out) {
				options, nexts = append(options, out), append(nexts, next)
			}
		}
		j := rng.IntN(len(options))
		outs[i], cur = options[j], nexts[j]
	}
	if rng.IntN(2) == 0 {
		i := rng.IntN(n)
		c := candidates(inputs[i])
		outs[i] = c[rng.IntN(len(c))]
	}
	// Intervals around the linearization points: point p of the k-th call
	// in the order is 10k; its call and return are up to 25 either side, so
	// that up to five calls overlap.
	ops := []porcupine.Operation{{ClientId: 0, Input: Input{Op: OpCreate, ID: "sh_1", MaxViews: maxViews, MaxDevices: maxDevices}, Call: -100, Output: Output{ID: "sh_1"}, Return: -99}}
	for k, i := range order {
		p := int64(10 * k)
		ops = append(ops, porcupine.Operation{ClientId: i + 1, Input: inputs[i], Output: outs[i],
			Call: p - int64(rng.IntN(26)), Return: p + int64(rng.IntN(26))})
	}
	return ops
}

// candidates are the answers a call may get, right or wrong.
func candidates(in Input) []Output {
	switch in.Op {
	case OpRevoke:
		return []Output{{Wrote: true}, {Wrote: false}}
	case OpIssue:
		return []Output{{ID: in.ID}, {Code: core.CodeSessionRevoked}, {Code: core.CodeViewsExhausted}}
	case OpClaim:
		return []Output{{}, {Code: core.CodeSessionRevoked}, {Code: core.CodeKeyUsed}, {Code: core.CodeNotFound}}
	case OpOpen:
		return []Output{{}, {Code: core.CodeSessionRevoked}, {Code: core.CodeDeviceMismatch}}
	}
	return nil
}

func describeOps(ops []porcupine.Operation) string {
	var b strings.Builder
	for _, op := range ops {
		fmt.Fprintf(&b, "  [%d, %d] %s\n", op.Call, op.Return, describe(op.Input.(Input), op.Output.(Output)))
	}
	return b.String()
}
