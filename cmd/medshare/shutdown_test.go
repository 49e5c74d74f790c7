package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/testenv"
	"github.com/medshare/medshare/shared/runtime/embedded"
)

// Environment of a test binary started as `medshare` itself.
const (
	envRunMain = "MEDSHARE_TEST_RUN_MAIN" // the JSON array of arguments
)

// TestMain runs main instead of the tests when the test binary is started
// as a `medshare` subprocess (see startProcess): the same code, race
// detector included, with no second build.
func TestMain(m *testing.M) {
	if args := os.Getenv(envRunMain); args != "" {
		var a []string
		if err := json.Unmarshal([]byte(args), &a); err != nil {
			fmt.Fprintln(os.Stderr, "bad", envRunMain, err)
			os.Exit(2)
		}
		os.Args = append([]string{"medshare"}, a...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// process is a `medshare serve` subprocess.
type process struct {
	cmd    *exec.Cmd
	addr   string
	stderr *testenv.SyncBuffer
	exited chan struct{}
	err    error // of Wait, once exited is closed
}

// startProcess starts `medshare serve` as a subprocess on a free loopback
// port and waits for its "listening" log record.
func startProcess(t *testing.T, args ...string) *process {
	t.Helper()
	a, _ := json.Marshal(append([]string{"serve", "--addr", "127.0.0.1:0"}, args...))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envRunMain+"="+string(a))
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, stderr: &testenv.SyncBuffer{}, exited: make(chan struct{})}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.stderr.Write([]byte(line + "\n"))
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				addrc <- rec.Addr
			}
		}
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
	})
	select {
	case p.addr = <-addrc:
	case <-p.exited:
		t.Fatalf("medshare serve exited: %v\n%s", p.err, p.stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("medshare serve did not start:\n%s", p.stderr)
	}
	return p
}

// inflightUpload sends a presigned blob PUT over a raw connection with
// "Expect: 100-continue" and stops after the headers: once the server
// answers 100 Continue, its handler is running and reading the body. finish
// sends the body and returns the final status.
func inflightUpload(t *testing.T, addr string, up client.Upload, body []byte) (finish func() (int, error)) {
	t.Helper()
	u, err := url.Parse(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var req bytes.Buffer
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\nExpect: 100-continue\r\nConnection: close\r\n", up.Method, u.RequestURI(), u.Host, len(body))
	for k, v := range up.Headers {
		fmt.Fprintf(&req, "%s: %s\r\n", k, v)
	}
	req.WriteString("\r\n")
	if _, err := conn.Write(req.Bytes()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("want 100 Continue, got %q %v", line, err)
	}
	if _, err := br.ReadString('\n'); err != nil { // the blank line after it
		t.Fatal(err)
	}
	return func() (int, error) {
		if _, err := conn.Write(body); err != nil {
			return 0, err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
}

// TestGracefulShutdown sends SIGTERM to a real `medshare serve` process in
// the middle of a load and while an upload is provably in flight: the
// upload finishes, no client gets a 5xx, the process exits 0 after logging
// its stop, and after a restart the store holds every write that was
// answered with a 2xx.
func TestGracefulShutdown(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := startProcess(t, "--data-dir", dir, "--jobs=true")
	base := "http://" + p.addr
	_, mint := minter(t, filepath.Join(dir, embedded.TokenKeyFile))

	// An upload staged now, whose bytes will be sent after the signal.
	pat := client.New(base, mint("slow-patient", core.RolePatient))
	slowBytes := bytes.Repeat([]byte("in flight "), 5000)
	ct, dataKey, err := client.EncryptPhoto(slowBytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(ct)
	var staged struct {
		PhotoID string        `json:"photo_id"`
		Upload  client.Upload `json:"upload"`
	}
	if err := pat.Do(ctx, "POST", "/v1/photos", nil, map[string]any{"angle": "BACK", "content_type": "image/jpeg", "size": len(ct), "sha256": sum[:], "data_key": dataKey}, &staged); err != nil {
		t.Fatal(err)
	}

	l := &ledger{photos: map[string]ackedPhoto{}, shares: map[string]ackedShare{}, revokes: map[string]bool{}, deletes: map[string]bool{}, views: map[string][]view{}}
	var acks atomic.Int64
	stop := make(chan struct{})
	wg := runLoad(ctx, base, mint, l, &acks, stop)
	waitAcks(t, &acks, 40, l)

	finish := inflightUpload(t, p.addr, staged.Upload, ct)
	l.stopping.Store(true)
	signalled := acks.Load()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	status, err := finish()
	if err != nil || status != 200 {
		t.Errorf("the upload in flight at the signal: status %d, %v; want 200", status, err)
	}
	<-p.exited
	close(stop)
	wg.Wait()
	if p.err != nil {
		t.Fatalf("medshare serve exited with %v, want 0\n%s", p.err, p.stderr)
	}
	if len(l.bad) > 0 {
		t.Fatalf("clients got answers they should not have (5xx or unexpected):\n%s", strings.Join(l.bad, "\n"))
	}
	logs := p.stderr.String()
	for _, msg := range []string{`"msg":"shutting down"`, `"msg":"stopped"`} {
		if !strings.Contains(logs, msg) {
			t.Errorf("the log lacks %s:\n%s", msg, logs)
		}
	}
	if strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("the log has errors:\n%s", logs)
	}

	// Restarted: every acknowledged write is there.
	srv := launch(t, dir, nil, "--jobs=false")
	pat = client.New(srv.url, mint("slow-patient", core.RolePatient))
	if err := pat.Do(ctx, "POST", "/v1/photos/"+staged.PhotoID+"/finalize", nil, nil, nil); err != nil {
		t.Errorf("finalize the upload that was in flight, after the restart: %v", err)
	}
	var photos, shares, views, revokes, deletes int
	for id, ph := range l.photos {
		c := client.New(srv.url, mint(ph.patient, core.RolePatient))
		var got struct {
			Items []struct {
				PhotoID string `json:"photo_id"`
				Status  string `json:"status"`
			} `json:"items"`
		}
		// One read per photo keeps the check simple; the load is small.
		if err := c.Do(ctx, "GET", "/v1/photos?limit=100", nil, nil, &got); err != nil {
			t.Fatal(err)
		}
		status := ""
		for _, it := range got.Items {
			if it.PhotoID == id {
				status = it.Status
			}
		}
		if _, deleted := l.deletes[id]; deleted {
			deletes++
			if status != "" {
				t.Errorf("photo %s: delete was acknowledged, photo is %q after the restart", id, status)
			}
			continue
		}
		photos++
		if status != "ready" {
			t.Errorf("photo %s: finalize was acknowledged, photo is %q after the restart", id, status)
		}
	}
	for id, sh := range l.shares {
		shares++
		c := client.New(srv.url, mint(sh.patient, core.RolePatient))
		got, err := c.GetShare(ctx, id)
		if err != nil {
			t.Errorf("share %s was acknowledged, after the restart: %v", id, err)
			continue
		}
		if _, ok := l.revokes[id]; ok {
			revokes++
			if got.Status != "revoked" {
				t.Errorf("share %s: revoke was acknowledged, status %q after the restart", id, got.Status)
			}
		}
		views += len(l.views[id])
		if got.ViewsUsed < len(l.views[id]) {
			t.Errorf("share %s: %d keys issued were acknowledged, views_used %d after the restart", id, len(l.views[id]), got.ViewsUsed)
		}
	}
	patients := map[string]bool{"slow-patient": true}
	for _, ph := range l.photos {
		patients[ph.patient] = true
	}
	for patient := range patients {
		var v struct {
			Valid bool `json:"valid"`
		}
		c := client.New(srv.url, mint(patient, core.RolePatient))
		if err := c.Do(ctx, "GET", "/v1/audit/verify", nil, nil, &v); err != nil || !v.Valid {
			t.Errorf("%s: audit chain after the restart: valid=%v %v", patient, v.Valid, err)
		}
	}
	t.Logf("acknowledged: %d photos kept, %d deleted, %d shares, %d revokes, %d keys issued; %d of those answered after SIGTERM", photos, deletes, shares, revokes, views, acks.Load()-signalled)
}
