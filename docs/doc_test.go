//go:build unix

// Package docs_test checks that the commands README.md and docs/*.md show
// work as written: each test reads the text from the document itself, so a
// document that drifts from the code fails here.
package docs_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/medshare/medshare/shared/devtools/testenv"
)

// root is the repository root, seen from this package's directory.
const root = ".."

// readDoc returns a file of the repository as text.
func readDoc(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// section returns the text of the "## heading" section of a Markdown
// document, up to the next heading of the same level.
func section(t *testing.T, doc, heading string) string {
	t.Helper()
	start := strings.Index(doc, "\n## "+heading+"\n")
	if start < 0 {
		t.Fatalf("no section %q", heading)
	}
	rest := doc[start+len("\n## "+heading+"\n"):]
	if end := strings.Index(rest, "\n## "); end >= 0 {
		rest = rest[:end]
	}
	return rest
}

// fence is one fenced code block: its info string and its text.
type fence struct {
	lang, text string
}

// fences returns the fenced code blocks (```) of a Markdown text in order.
func fences(text string) []fence {
	var out []fence
	var cur *fence
	var body []string
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			cur = &fence{lang: strings.TrimPrefix(trimmed, "```")}
			body = nil
		case cur != nil && trimmed == "```":
			cur.text = strings.Join(body, "\n") + "\n"
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			body = append(body, line)
		}
	}
	return out
}

// needTools fails the test, naming the install command, when a command the
// documented steps run is not on PATH. It never skips: a machine that cannot
// run the README cannot pass the suite (`make test` installs them, see the
// Makefile's doc-tools).
func needTools(t *testing.T, names ...string) {
	t.Helper()
	var missing []string
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%s not found on PATH: install with `apt-get install -y %s` (Debian; `make doc-tools` does it as root)",
			strings.Join(missing, ", "), strings.Join(missing, " "))
	}
}

// cleanEnv is this process's environment without what an enclosing `make`
// passes down (so that the `make` a test runs is a top-level one) and
// without the variables the documented commands read, then extra.
func cleanEnv(extra ...string) []string {
	drop := map[string]bool{"MAKEFLAGS": true, "MFLAGS": true, "MAKELEVEL": true, "MAKEOVERRIDES": true,
		"ADDR": true, "DATA_DIR": true, "API": true}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// server is a `make run` started by a test.
type server struct {
	api     string // http://127.0.0.1:PORT
	addr    string // 127.0.0.1:PORT
	dataDir string
	stdout  *testenv.SyncBuffer
}

// freeAddr returns a loopback address with a port that was free a moment
// ago; startServer retries when another process took it meanwhile.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer runs command (the README's "make run") from the repository
// root, in a process group of its own, with ADDR on a free loopback port and
// DATA_DIR a new directory, as a reader who changed both would; it waits
// until the server answers /health, and stops the whole group when the test
// ends.
func startServer(t *testing.T, command string) *server {
	t.Helper()
	needTools(t, "bash", "make")
	dataDir := t.TempDir()
	for attempt := 1; ; attempt++ {
		addr := freeAddr(t)
		s := &server{api: "http://" + addr, addr: addr, dataDir: dataDir, stdout: &testenv.SyncBuffer{}}
		var stderr testenv.SyncBuffer
		cmd := exec.Command("bash", "-c", command)
		cmd.Dir = root
		cmd.Env = cleanEnv("ADDR="+addr, "DATA_DIR="+dataDir)
		cmd.Stdout, cmd.Stderr = s.stdout, &stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatalf("%s: %v", command, err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		stop := func() {
			// SIGTERM to make, go run and medshare: the server shuts down
			// and closes its store.
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(time.Minute):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
			}
		}
		err := waitHealthy(t, s.api, exited)
		if err == nil {
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					t.Logf("%s stderr:\n%s", command, stderr.String())
				}
			})
			return s
		}
		stop()
		if strings.Contains(stderr.String(), "address already in use") && attempt < 3 {
			continue
		}
		t.Fatalf("%s (ADDR=%s DATA_DIR=%s): %v\nstdout:\n%s\nstderr:\n%s", command, addr, dataDir, err, s.stdout, stderr.String())
	}
}

// waitHealthy polls /health until it answers 200. It gives up when the
// process exits or the test's own deadline nears: the first `go run` of a
// cold build cache compiles the whole server, which takes as long as it
// takes, so no shorter limit is set.
func waitHealthy(t *testing.T, api string, exited <-chan error) error {
	deadline, ok := t.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Hour)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for {
		resp, err := client.Get(api + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("exited before it served: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Until(deadline) < time.Minute {
			return errors.New("no answer from /health before the test's deadline")
		}
	}
}

// exports parses `export NAME=VALUE` lines.
func exports(text string) (names []string, values map[string]string) {
	values = map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "export ")
		if !ok {
			continue
		}
		k, v, _ := strings.Cut(rest, "=")
		names = append(names, k)
		values[k] = v
	}
	return names, values
}

// run runs a command in dir with env and returns what it printed.
func run(t *testing.T, dir string, env []string, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// wordRE matches a shell variable name in prose.
var wordRE = regexp.MustCompile(`[A-Z][A-Z0-9_]*`)
