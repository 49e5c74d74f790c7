package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/medshare/medshare/shared/awstest"
)

// TestBenchColdStart runs `medshare bench coldstart` on one function, once:
// it builds, cold-starts under the emulator (the AWS tier provides it) and
// prints the table. It checks what is printed, never a time.
func TestBenchColdStart(t *testing.T) {
	rie := awstest.RIE(t)
	var out bytes.Buffer
	err := run(context.Background(), []string{"bench", "coldstart", "--runs", "1", "--rie", rie, "--functions", "list-photos"}, os.Getenv, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"hello-world", "list-photos", "init median ms", "arm64 bytes", "load average", "of 1 functions within 1.5×"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, out.String())
		}
	}
	for _, args := range [][]string{{"bench"}, {"bench", "throughput"}, {"bench", "coldstart", "--functions", "no-such-function", "--rie", rie}} {
		if err := run(context.Background(), args, os.Getenv, io.Discard, io.Discard); err == nil {
			t.Errorf("medshare %v succeeded", args)
		}
	}
}
