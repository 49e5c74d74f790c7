package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/medshare/medshare/shared/devtools/coldstart"
	"github.com/medshare/medshare/shared/devtools/throughput"
	"github.com/medshare/medshare/shared/runtime/lambdafn"
)

const benchUsage = `usage:
  medshare bench coldstart [--runs 7] [--rie PATH] [--functions a,b,...]
      builds the hello-world bootstrap and every function as make build does,
      cold-starts each under the Lambda Runtime Interface Emulator --runs times
      with the same environment and event, and prints each one's init median,
      its ratio to the hello world's and its arm64 size (run it from the
      repository; make bench-coldstart)
  medshare bench throughput [--duration 3s] [--warmup 500ms] [--runs 10] [--clients 32] [--patients N] [--cpuprofile PREFIX]
      serves a trivial JSON server (the floor) and the embedded server on
      loopback, drives both with the same load (keep-alive clients) and
      prints the chat signed URLs/s and photo views/s with p50, p99 and the
      ratio to the floor (make bench-throughput)`

// bench runs a benchmark of docs/PERFORMANCE.md.
func bench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "throughput" {
		return benchThroughput(ctx, args[1:], getenv, stdout, stderr)
	}
	if len(args) == 0 || args[0] != "coldstart" {
		return errors.New(benchUsage)
	}
	fs := flag.NewFlagSet("bench coldstart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	runs := fs.Int("runs", 7, "cold starts per bootstrap")
	rie := fs.String("rie", "", "the aws-lambda-rie binary (default $MEDSHARE_RIE, else the one make tools installs)")
	only := fs.String("functions", "", "comma-separated functions to measure (default all)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	root, err := moduleRoot()
	if err != nil {
		return fmt.Errorf("bench coldstart: %w", err)
	}
	if *rie == "" {
		*rie = getenv("MEDSHARE_RIE")
	}
	if *rie == "" {
		tools := getenv("MEDSHARE_TOOLS_DIR")
		if tools == "" {
			tools = filepath.Join(root, ".tools")
		}
		*rie = filepath.Join(tools, "bin", "aws-lambda-rie")
	}
	fns := lambdafn.Names()
	if *only != "" {
		fns = nil
		for _, f := range strings.Split(*only, ",") {
			if _, ok := lambdafn.Uses(f); !ok {
				return fmt.Errorf("bench coldstart: %q is not a function", f)
			}
			fns = append(fns, f)
		}
	}
	event, err := os.ReadFile(filepath.Join(root, "events", "health.json"))
	if err != nil {
		return fmt.Errorf("bench coldstart: the event: %w", err)
	}
	rep, err := coldstart.Run(ctx, coldstart.Options{Root: root, RIE: *rie, Runs: *runs, Functions: fns, Event: event, Progress: stderr})
	if err != nil {
		return fmt.Errorf("bench coldstart: %w (make tools installs the emulator)", err)
	}
	return rep.Write(stdout)
}

// moduleRoot finds the repository: the nearest directory up from here with
// MedShare's go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/medshare/medshare\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run it from the repository: no MedShare go.mod above the current directory")
		}
		dir = parent
	}
}

// benchThroughput runs `medshare bench throughput`. A run in which any
// request failed prints its table and fails: its figures measure nothing.
func benchThroughput(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench throughput", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o throughput.Options
	fs.DurationVar(&o.Duration, "duration", 3*time.Second, "measured time of each run")
	fs.DurationVar(&o.Warmup, "warmup", 500*time.Millisecond, "time before each run's measure")
	fs.IntVar(&o.Runs, "runs", 10, "runs of each server on each row, interleaved")
	fs.IntVar(&o.Clients, "clients", 32, "concurrent keep-alive clients")
	fs.IntVar(&o.Patients, "patients", 0, "patients, so audit chains, the load writes to (default: one per client)")
	fs.StringVar(&o.DataDir, "data-dir", "", "the embedded server's data directory, new (default: a temporary one, removed)")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of each measured run of the embedded server to PREFIX-<row>-<run>.pprof")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench throughput: unexpected arguments %q", fs.Args())
	}
	// Zero means the default to the package, never on the command line.
	if o.Runs < 1 || o.Clients < 1 || o.Duration <= 0 {
		return errors.New("bench throughput: --runs, --clients and --duration must be positive")
	}
	o.Progress = stderr
	// The embedded server runs with serve's GC target (the floor, in the
	// same process, allocates next to nothing).
	o.GCPercent = tuneGC(getenv)
	rep, err := throughput.Run(ctx, o)
	if err != nil {
		return fmt.Errorf("bench throughput: %w", err)
	}
	if err := rep.Write(stdout); err != nil {
		return err
	}
	if n := rep.Errors(); n > 0 {
		return fmt.Errorf("bench throughput: %d requests failed", n)
	}
	return nil
}
