package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/medshare/medshare/shared/legacy/migrate"
	"github.com/medshare/medshare/shared/legacy/migrate/migratetest"
	"github.com/medshare/medshare/shared/runtime/embedded"
)

// progressLine is a line of `--progress log`: "[###...] 12/200 6.0% · ...".
var progressLine = regexp.MustCompile(`\] \d+/\d+ \d`)

// runMigrate runs `medshare migrate args...` as a subprocess (the test
// binary as main). With killAfter > 0 it sends SIGKILL once that many
// progress lines are out: the process dies wherever it is, with lines in
// flight. It returns stdout, and whether the process exited 0 and was
// killed.
func runMigrate(t *testing.T, killAfter int, args ...string) (stdout []byte, ok, killed bool) {
	t.Helper()
	a, _ := json.Marshal(append([]string{"migrate"}, args...))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envRunMain+"="+string(a))
	var out bytes.Buffer
	cmd.Stdout = &out
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	sc := bufio.NewScanner(pipe)
	lines := 0
	for sc.Scan() {
		stderr.WriteString(sc.Text() + "\n")
		if progressLine.MatchString(sc.Text()) {
			lines++
			if killAfter > 0 && lines == killAfter {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				killed = true
			}
		}
	}
	err = cmd.Wait()
	if killed {
		// It may have finished before the signal landed: then it was no kill.
		ws, isWS := cmd.ProcessState.Sys().(syscall.WaitStatus)
		killed = isWS && ws.Signaled() && ws.Signal() == syscall.SIGKILL
	}
	if err != nil && !killed {
		t.Logf("medshare migrate %v: %v\n%s", args, err, stderr.String())
	}
	return out.Bytes(), err == nil, killed
}

// TestMigrateCommandKilledAndResumed runs `medshare migrate chat-images`
// on the embedded backend, the legacy bucket a directory served over HTTP,
// kills it with SIGKILL at random points of the run (no deferred code, no
// flush: whatever was half-done stays), runs it again until it completes,
// then `medshare migrate verify` proves every image: exactly one record,
// one object and one audit record each.
func TestMigrateCommandKilledAndResumed(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 11))
	lib := migratetest.NewGood(seed, 150)
	ctx := context.Background()
	dataDir := t.TempDir()
	rt, err := embedded.Open(embedded.Options{DataDir: dataDir, PublicURL: "http://127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := lib.Register(ctx, rt.Service); err != nil {
		t.Fatal(err)
	}
	rt.Close()

	legacyDir := t.TempDir()
	if err := lib.PutDir(legacyDir); err != nil {
		t.Fatal(err)
	}
	// The legacy bucket answers each request after a little while, as a
	// remote one does, so that the kills land while lines are in flight
	// (the test asserts nothing of the time).
	files := http.FileServer(http.Dir(legacyDir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(10 * time.Millisecond)
		files.ServeHTTP(w, r)
	}))
	defer srv.Close()
	manifest := filepath.Join(t.TempDir(), "export.jsonl")
	if err := os.WriteFile(manifest, lib.Manifest(), 0o600); err != nil {
		t.Fatal(err)
	}
	args := func(sub string) []string {
		return []string{sub, "--manifest", manifest, "--clinic", migratetest.Clinic, "--data-dir", dataDir,
			"--legacy-url-prefix", migratetest.URLPrefix, "--legacy-source", srv.URL + "/",
			"--concurrency", "4", "--progress", "log", "--progress-every", "0"}
	}

	kills := 0
	for round := range 3 {
		at := 1 + rng.IntN(len(lib.Lines)/2)
		_, _, killed := runMigrate(t, at, args("chat-images")...)
		t.Logf("round %d: SIGKILL after %d lines: killed %v", round, at, killed)
		if killed {
			kills++
		}
	}
	if kills == 0 {
		t.Fatal("no run was killed before it finished")
	}
	out, ok, _ := runMigrate(t, 0, args("chat-images")...)
	var sum migrate.Summary
	if err := json.Unmarshal(out, &sum); err != nil || !ok {
		t.Fatalf("last run: exit ok %v, %v:\n%s", ok, err, out)
	}
	if sum.Failed != 0 || sum.Migrated+sum.AlreadyDone != len(lib.Lines) || sum.Interrupted {
		t.Errorf("last run: %+v, want every line migrated or already done", sum)
	}
	out, ok, _ = runMigrate(t, 0, args("verify")...)
	var vs migrate.VerifySummary
	if err := json.Unmarshal(out, &vs); err != nil || !ok || vs.Verified != len(lib.Lines) {
		t.Errorf("verify: exit ok %v, %v: %s", ok, err, out)
	}

	rt, err = embedded.Open(embedded.Options{DataDir: dataDir, PublicURL: "http://127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	lib.Check(t, ctx, rt.Service, rt.Blobs, nil)
}
