package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

// TestLoadTestCommand runs `medshare loadtest` at a small scale against
// `medshare serve`, with tokens minted from the server's data directory.
func TestLoadTestCommand(t *testing.T) {
	dir := t.TempDir()
	srv := launch(t, dir, nil)
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{
		"loadtest", "--url", srv.url, "--data-dir", dir,
		"--patients", "6", "--sessions-per-patient", "2", "--viewers", "8", "--views-per-session", "2",
		"--revoke-fraction", "0.25", "--activity-reports", "48", "--concurrency", "8", "--duration", "60s", "--seed", "7",
	}, nil, &out, &errOut)
	if err != nil {
		t.Fatalf("loadtest: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	for _, want := range []string{"6 patients × 2 sessions, 8 viewers", "48 activity events", "issue-key", "report-activity", "verify-audit", "invariants:", "PASS: 12 of 12 invariants held"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out.String())
		}
	}
}

func TestLoadTestCommandRefuses(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"remote host", []string{"--url", "http://192.0.2.1:8080", "--data-dir", dir}, "loopback"},
		{"name that is not localhost", []string{"--url", "http://medshare.example:8080", "--data-dir", dir}, "loopback"},
		{"no token key", []string{"--url", "http://127.0.0.1:1", "--data-dir", dir}, "no token key"},
		{"bad flag", []string{"--patients", "many"}, "invalid value"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var errOut bytes.Buffer
			err := run(context.Background(), append([]string{"loadtest"}, c.args...), nil, io.Discard, &errOut)
			if err == nil || !strings.Contains(err.Error()+errOut.String(), c.want) {
				t.Fatalf("err = %v (stderr %q), want it to mention %q", err, errOut.String(), c.want)
			}
		})
	}
}
