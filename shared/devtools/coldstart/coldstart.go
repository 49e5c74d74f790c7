// Package coldstart measures the Lambda functions' cold starts and binary
// sizes against a hello-world bootstrap (issue 14 §3 and §5), for `medshare
// bench coldstart`.
//
// It builds the hello world (package hello) and every function with the
// flags of `make build` (-tags lambda.norpc -trimpath -ldflags='-s -w
// -buildid=', CGO_ENABLED=0): for linux/arm64 to report the sizes Lambda
// gets, and for this machine's architecture to run them. It then starts each
// bootstrap under the Lambda Runtime Interface Emulator, Runs times, with
// the same environment and the same event for all, in a fresh random order
// each round so that the machine's load falls on all of them alike, and
// reads the init duration that the emulator reports (INIT REPORT). It
// reports the median of each, its ratio to the hello world's, and the load
// average before and after. No AWS call is made: a cold start makes none,
// and the environment's endpoints point at a closed loopback port.
package coldstart

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/medshare/medshare/shared/devtools/measure"
)

// Hello is the name of the hello-world bootstrap in a Report.
const Hello = "hello-world"

// helloPackage is the hello world's package, from the module root.
const helloPackage = "./shared/devtools/coldstart/hello"

// Targets of issue 14 §3.
const (
	TargetRatio = 1.5       // a function's init median at most this many times the hello world's
	TargetBytes = 9_000_000 // an arm64 bootstrap at most 9 MB (decimal)
	TargetMiB   = 9 << 20   // and, as the project's earlier figures count, 9 MiB
)

// Env is the environment every bootstrap runs with: a region, static
// credentials, endpoints that refuse connections (a cold start makes no
// AWS call) and the functions' settings.
var Env = []string{
	"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=coldstart", "AWS_SECRET_ACCESS_KEY=coldstart",
	"AWS_ENDPOINT_URL=http://127.0.0.1:1",
	"MEDSHARE_TABLE=medshare", "MEDSHARE_BUCKET=medshare-objects", "MEDSHARE_KMS_KEY_ID=alias/medshare",
	"MEDSHARE_TOPIC_ARN=arn:aws:sns:us-east-1:000000000000:medshare-events",
	"AWS_LAMBDA_FUNCTION_TIMEOUT=30", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512",
}

// Options configure a run.
type Options struct {
	Root      string   // the module's root directory
	RIE       string   // the aws-lambda-rie binary
	Runs      int      // cold starts per bootstrap
	Functions []string // the functions under functions/ to measure
	Event     []byte   // the event of every invocation
	Progress  io.Writer
}

// Result is one bootstrap's measurements.
type Result struct {
	Name  string
	Size  int64           // bytes of its linux/arm64 bootstrap
	Inits []time.Duration // INIT REPORT durations, one per cold start
}

// Median returns the median init duration (the mean of the middle two for
// an even count).
func (r Result) Median() time.Duration {
	if len(r.Inits) == 0 {
		return 0
	}
	s := slices.Clone(r.Inits)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// Report is a run's results: the hello world first, then the functions.
type Report struct {
	Results               []Result
	Runs                  int
	LoadBefore, LoadAfter string
	GoVersion             string
}

// Run builds and measures.
func Run(ctx context.Context, o Options) (Report, error) {
	if o.Runs < 1 {
		return Report{}, errors.New("coldstart: runs must be at least 1")
	}
	if _, err := os.Stat(o.RIE); err != nil {
		return Report{}, fmt.Errorf("coldstart: the runtime interface emulator: %w", err)
	}
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	dir, err := os.MkdirTemp("", "medshare-coldstart-")
	if err != nil {
		return Report{}, err
	}
	defer os.RemoveAll(dir)
	names := append([]string{Hello}, o.Functions...)
	pkgs := []string{helloPackage}
	for _, f := range o.Functions {
		pkgs = append(pkgs, "./functions/"+f)
	}
	fmt.Fprintf(progress, "building %d bootstraps for linux/arm64 and for this machine...\n", len(pkgs))
	arm, host := filepath.Join(dir, "arm64"), filepath.Join(dir, "host")
	if err := build(ctx, o.Root, arm, "arm64", pkgs); err != nil {
		return Report{}, err
	}
	if err := build(ctx, o.Root, host, "", pkgs); err != nil {
		return Report{}, err
	}
	rep := Report{Runs: o.Runs, LoadBefore: measure.LoadAverage()}
	if out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output(); err == nil {
		rep.GoVersion = strings.TrimSpace(string(out))
	}
	byName := map[string]*Result{}
	for _, n := range names {
		bin := binName(n)
		fi, err := os.Stat(filepath.Join(arm, bin))
		if err != nil {
			return Report{}, fmt.Errorf("coldstart: %s: %w", n, err)
		}
		byName[n] = &Result{Name: n, Size: fi.Size()}
	}
	for round := 1; round <= o.Runs; round++ {
		order := slices.Clone(names)
		rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, n := range order {
			d, err := Start(ctx, o.RIE, filepath.Join(host, binName(n)), n, o.Event)
			if err != nil {
				return Report{}, fmt.Errorf("coldstart: %s, round %d: %w", n, round, err)
			}
			byName[n].Inits = append(byName[n].Inits, d)
		}
		fmt.Fprintf(progress, "round %d/%d done\n", round, o.Runs)
	}
	rep.LoadAfter = measure.LoadAverage()
	for _, n := range names {
		rep.Results = append(rep.Results, *byName[n])
	}
	return rep, nil
}

// binName is the file go build writes for a bootstrap.
func binName(name string) string {
	if name == Hello {
		return "hello"
	}
	return name
}

// build compiles pkgs into dir with the functions' flags, for linux/arch
// (this machine's architecture when arch is empty).
func build(ctx context.Context, root, dir, arch string, pkgs []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	args := append([]string{"build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w -buildid=", "-o", dir + string(os.PathSeparator)}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if arch != "" {
		cmd.Env = append(cmd.Env, "GOARCH="+arch)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("coldstart: go build: %v\n%s", err, out)
	}
	return nil
}

// initReport is the emulator's line for a finished init phase.
var initReport = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)`)

// ParseInitReport returns the init duration in an emulator's log.
func ParseInitReport(log []byte) (time.Duration, bool) {
	m := initReport.FindSubmatch(log)
	if m == nil {
		return 0, false
	}
	ms, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil || ms < 0 {
		return 0, false
	}
	return time.Duration(ms * float64(time.Millisecond)), true
}

// Start cold-starts the bootstrap bin once under the emulator rie: it starts
// the emulator on free loopback ports, invokes the function with event,
// waits for the emulator's INIT REPORT, then stops the emulator (the
// process it started) and returns the reported init duration.
func Start(ctx context.Context, rie, bin, name string, event []byte) (time.Duration, error) {
	addr, err := freePort()
	if err != nil {
		return 0, err
	}
	api, err := freePort()
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", api, bin)
	cmd.Env = append(append([]string{"PATH=" + os.Getenv("PATH")}, Env...), "AWS_LAMBDA_FUNCTION_NAME="+name)
	cmd.Dir = filepath.Dir(bin)
	// Its own process group, so that stopping it stops the bootstrap it
	// started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logs := &measure.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start the emulator: %w", err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}()
	url := "http://" + addr + "/2015-03-31/functions/function/invocations"
	// The emulator starts the bootstrap at the first invocation. The answer
	// does not matter; the init report does.
	go func() {
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(event))
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return
			}
			time.Sleep(10 * time.Millisecond) // the emulator is not listening yet
		}
	}()
	for {
		if d, ok := ParseInitReport([]byte(logs.String())); ok {
			return d, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("no INIT REPORT from the emulator:\n%s", []byte(logs.String()))
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Write prints the report as a table: each bootstrap's init median (and
// range), its ratio to the hello world's, and its arm64 size, with the
// targets met or not.
func (r Report) Write(w io.Writer) error {
	if len(r.Results) == 0 || r.Results[0].Name != Hello {
		return errors.New("coldstart: the report has no hello world")
	}
	hello := r.Results[0].Median()
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "cold starts under the Lambda Runtime Interface Emulator: %d per bootstrap, interleaved; %s\n", r.Runs, r.GoVersion)
	fmt.Fprintf(bw, "load average (1, 5, 15 min): before %s, after %s\n\n", r.LoadBefore, r.LoadAfter)
	tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "bootstrap\tinit median ms\tmin-max ms\tratio\t≤1.5×\tarm64 bytes\tMiB\t≤9 MB\t≤9 MiB\t")
	var slow, big, bigMiB int
	for _, res := range r.Results {
		ratio := float64(res.Median()) / float64(hello)
		lo, hi := slices.Min(res.Inits), slices.Max(res.Inits)
		okRatio, okSize, okMiB := mark(ratio <= TargetRatio), mark(res.Size <= TargetBytes), mark(res.Size <= TargetMiB)
		if res.Name == Hello {
			okRatio = ""
		} else {
			slow += count(ratio > TargetRatio)
			big += count(res.Size > TargetBytes)
			bigMiB += count(res.Size > TargetMiB)
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%.1f-%.1f\t%.2f×\t%s\t%s\t%.2f\t%s\t%s\t\n", res.Name, ms(res.Median()), ms(lo), ms(hi), ratio, okRatio,
			thousands(res.Size), float64(res.Size)/(1<<20), okSize, okMiB)
	}
	tw.Flush()
	n := len(r.Results) - 1
	fmt.Fprintf(bw, "\n%d of %d functions within %.1f× the hello world's init; %d of %d within 9 MB, %d of %d within 9 MiB\n",
		n-slow, n, TargetRatio, n-big, n, n-bigMiB, n)
	return bw.Flush()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mark(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

func count(b bool) int {
	if b {
		return 1
	}
	return 0
}

// thousands writes n with comma separators.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
