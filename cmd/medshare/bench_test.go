package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/medshare/medshare/shared/devtools/awstest"
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
	for _, args := range [][]string{{"bench"}, {"bench", "nothing"}, {"bench", "coldstart", "--functions", "no-such-function", "--rie", rie}} {
		if err := run(context.Background(), args, os.Getenv, io.Discard, io.Discard); err == nil {
			t.Errorf("medshare %v succeeded", args)
		}
	}
}

// TestBenchThroughput runs `medshare bench throughput` briefly, with a few
// clients: it sets up its data, drives the floor and the embedded server,
// and prints both rows of the table with no failed request (the command
// fails on one). It checks what is printed, never a speed.
func TestBenchThroughput(t *testing.T) {
	var out, progress bytes.Buffer
	args := []string{"bench", "throughput", "--duration", "300ms", "--warmup", "50ms", "--runs", "1", "--clients", "3", "--patients", "2"}
	if err := run(context.Background(), args, os.Getenv, &out, &progress); err != nil {
		t.Fatalf("%v\n%s\n%s", err, out.String(), progress.String())
	}
	for _, want := range []string{"3 keep-alive clients, 2 patients", "floor req/s", "chat signed URLs/s", "photo views/s", "≥ 0.25×", "≥ 0.10×", "load average", "run 1: floor"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, out.String())
		}
	}
	for _, args := range [][]string{
		{"bench", "throughput", "--clients", "2", "--patients", "3"},
		{"bench", "throughput", "--runs", "0"},
		{"bench", "throughput", "extra"},
	} {
		if err := run(context.Background(), args, os.Getenv, io.Discard, io.Discard); err == nil {
			t.Errorf("medshare %v succeeded", args)
		}
	}
}
