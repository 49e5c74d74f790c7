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

	"github.com/medshare/medshare/shared/coldstart"
	"github.com/medshare/medshare/shared/lambdafn"
)

const benchUsage = `usage:
  medshare bench coldstart [--runs 7] [--rie PATH] [--functions a,b,...]
      builds the hello-world bootstrap and every function as make build does,
      cold-starts each under the Lambda Runtime Interface Emulator --runs times
      with the same environment and event, and prints each one's init median,
      its ratio to the hello world's and its arm64 size (run it from the
      repository; make bench-coldstart)`

// bench runs a benchmark of docs/PERFORMANCE.md.
func bench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
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
