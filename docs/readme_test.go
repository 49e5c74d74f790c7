//go:build unix

package docs_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// walkthrough returns the two shell blocks of the README's walkthrough: the
// command that starts the server, and the block a reader pastes.
func walkthrough(t *testing.T) (start, script string) {
	t.Helper()
	sec := section(t, readDoc(t, "README.md"), "Walkthrough: a chat image, end to end")
	var blocks []string
	for _, f := range fences(sec) {
		if f.lang == "sh" {
			blocks = append(blocks, f.text)
		}
	}
	if len(blocks) != 2 {
		t.Fatalf("the walkthrough has %d sh blocks, want 2 (start the server, then the steps)", len(blocks))
	}
	return strings.TrimSpace(blocks[0]), blocks[1]
}

var stepRE = regexp.MustCompile(`^# (\d+)\. `)

// steps splits the walkthrough block at its numbered comments ("# 1. ...").
// Step 0 is what comes before the first of them.
func steps(t *testing.T, script string) []string {
	t.Helper()
	out := []string{""}
	for _, line := range strings.SplitAfter(script, "\n") {
		if m := stepRE.FindStringSubmatch(line); m != nil {
			if n, _ := strconv.Atoi(m[1]); n != len(out) {
				t.Fatalf("step %s follows step %d", m[1], len(out)-1)
			}
			out = append(out, "")
		}
		out[len(out)-1] += line
	}
	return out
}

// documentedDemoVars are the variables the walkthrough says demo.env holds:
// the names in the comment of its `source ... demo.env` line.
func documentedDemoVars(t *testing.T) []string {
	t.Helper()
	_, script := walkthrough(t)
	for _, line := range strings.Split(script, "\n") {
		code, comment, ok := strings.Cut(line, "#")
		if ok && strings.HasPrefix(code, "source ") && strings.Contains(code, "demo.env") {
			vars := wordRE.FindAllString(comment, -1)
			if len(vars) == 0 {
				t.Fatalf("the walkthrough's source line names no variables: %q", line)
			}
			return vars
		}
	}
	t.Fatal("the walkthrough does not source demo.env")
	return nil
}

// TestReadmeChatWalkthrough runs the README's walkthrough as a reader does:
// its first block (`make run`) in one process, with ADDR and DATA_DIR moved
// to a free port and a new directory, and its second block, as written in
// README.md, in bash from the repository root with API and DATA_DIR set to
// match. The block runs under `set -euo pipefail`, one step after the other
// in one shell, and each step's output is checked against what the README
// says it shows.
func TestReadmeChatWalkthrough(t *testing.T) {
	needTools(t, "bash", "curl", "jq", "openssl", "go")
	start, script := walkthrough(t)
	if start != "make run" {
		t.Fatalf("the walkthrough starts the server with %q; this test knows how to run `make run`", start)
	}
	srv := startServer(t, start)
	parts := steps(t, script)
	if len(parts) != 9 {
		t.Fatalf("the walkthrough has steps 1 to %d; this test checks steps 1 to 8", len(parts)-1)
	}

	var b strings.Builder
	b.WriteString("set -euo pipefail\n")
	for i, p := range parts {
		fmt.Fprintf(&b, "echo '@@step %d'\n%s\n", i, p)
	}
	b.WriteString("echo '@@end'\n")
	scriptFile := filepath.Join(t.TempDir(), "walkthrough.sh")
	if err := os.WriteFile(scriptFile, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	stdout, stderr, err := run(t, root, cleanEnv("API="+srv.api, "DATA_DIR="+srv.dataDir, "TMPDIR="+t.TempDir()), "bash", scriptFile)
	ended := time.Now()
	out := map[int]string{}
	for _, chunk := range strings.Split(stdout, "@@step ")[1:] {
		n, text, _ := strings.Cut(chunk, "\n")
		i, _ := strconv.Atoi(n)
		out[i] = strings.TrimSuffix(text, "@@end\n")
	}
	if err != nil || !strings.HasSuffix(stdout, "@@end\n") {
		last := len(out) - 1
		t.Fatalf("the walkthrough stopped in step %d: %v\nthe step:\n%s\nstdout:\n%s\nstderr:\n%s", last, err, parts[last], stdout, stderr)
	}

	// Step 2: the staged image, and how to upload it.
	var up struct {
		ImageID string `json:"image_id"`
		URL     string `json:"url"`
		Status  string `json:"status"`
		Upload  struct {
			Method string `json:"method"`
			URL    string `json:"url"`
		} `json:"upload"`
	}
	decodeOne(t, "step 2", out[2], &up)
	if !regexp.MustCompile(`^ci_[a-z2-7]{26}$`).MatchString(up.ImageID) || up.URL != "private://chat-images/"+up.ImageID ||
		up.Status != "pending" || up.Upload.Method != "PUT" || !strings.HasPrefix(up.Upload.URL, srv.api+"/") {
		t.Errorf("step 2 printed %s, want a pending ci_ image, its private:// URL and a PUT to the server", out[2])
	}
	// Step 3: a successful upload prints nothing.
	if strings.TrimSpace(out[3]) != "" {
		t.Errorf("step 3 printed %q, want nothing", out[3])
	}
	// Step 4: finalized.
	var fin struct {
		ImageID string `json:"image_id"`
		Status  string `json:"status"`
	}
	decodeOne(t, "step 4", out[4], &fin)
	if fin.ImageID != up.ImageID || fin.Status != "ready" {
		t.Errorf("step 4 printed %s, want image %s ready", out[4], up.ImageID)
	}
	// Step 5: a signed URL valid for one hour, which downloads the same bytes.
	signedJSON, downloaded, _ := strings.Cut(out[5], "}\n")
	var signed struct {
		URL       string    `json:"url"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	decodeOne(t, "step 5", signedJSON+"}", &signed)
	if signed.ExpiresAt.Before(began.Add(time.Hour-time.Second)) || signed.ExpiresAt.After(ended.Add(time.Hour)) {
		t.Errorf("step 5: the URL expires at %v, want one hour after the request (between %v and %v)",
			signed.ExpiresAt, began.Add(time.Hour), ended.Add(time.Hour))
	}
	if strings.TrimSpace(downloaded) != "downloaded the same bytes" {
		t.Errorf("step 5 printed %q after the URL, want \"downloaded the same bytes\"", downloaded)
	}
	// Step 6: the stranger's answer is the documented error shape, and the
	// same as for an id that does not exist.
	var stranger, unknown errorBody
	decodeOne(t, "step 6", out[6], &stranger)
	proToken := demoEnv(t, srv.dataDir)["PRO_TOKEN"]
	status, body := call(t, "GET", srv.api+"/api/chat-images/ci_"+strings.Repeat("a", 26)+"/signed-url", proToken, "")
	decodeOne(t, "an unknown id", body, &unknown)
	if status != http.StatusNotFound || stranger.Error.Code != "not_found" || stranger.Error.RequestID == "" ||
		stranger.Error.Code != unknown.Error.Code || stranger.Error.Message != unknown.Error.Message {
		t.Errorf("step 6 printed %s; an unknown id answers %d %s; want the same not_found", out[6], status, body)
	}
	// Step 7: the professional's page of the appointment's images holds
	// the image; the stranger's answer is an unknown appointment's.
	pageJSON, strangerList, _ := strings.Cut(out[7], "\n}\n")
	var page struct {
		Items []struct {
			ImageID    string `json:"image_id"`
			URL        string `json:"url"`
			UploaderID string `json:"uploader_id"`
		} `json:"items"`
		NextCursor string `json:"next_cursor"`
	}
	decodeOne(t, "step 7 (the list)", pageJSON+"\n}", &page)
	if len(page.Items) != 1 || page.Items[0].ImageID != up.ImageID || page.Items[0].URL != up.URL ||
		page.Items[0].UploaderID != "demo-patient" || page.NextCursor != "" {
		t.Errorf("step 7 listed %s, want the one image %s uploaded by demo-patient", pageJSON, up.ImageID)
	}
	var strangerAnswer, unknownAppt errorBody
	decodeOne(t, "step 7 (the stranger)", strangerList, &strangerAnswer)
	status, body = call(t, "GET", srv.api+"/api/appointments/no-such-appointment/chat-images", proToken, "")
	decodeOne(t, "an unknown appointment", body, &unknownAppt)
	if status != http.StatusNotFound || strangerAnswer.Error.Code != "not_found" ||
		strangerAnswer.Error.Message != unknownAppt.Error.Message {
		t.Errorf("step 7: the stranger's list printed %s; an unknown appointment answers %d %s; want the same not_found", strangerList, status, body)
	}
	// Step 8: the trail holds the upload, the granted and the denied
	// request, and verifies.
	type record struct {
		Seq      int    `json:"seq"`
		Action   string `json:"action"`
		ActorID  string `json:"actor_id"`
		Outcome  string `json:"outcome"`
		SourceIP string `json:"source_ip"`
	}
	var records []record
	var verify struct {
		Valid   bool `json:"valid"`
		Records int  `json:"records"`
	}
	dec := json.NewDecoder(strings.NewReader(out[8]))
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("step 8 printed %s: %v", out[8], err)
		}
		if bytes.Contains(raw, []byte(`"valid"`)) {
			decodeOne(t, "step 8 (verify)", string(raw), &verify)
			continue
		}
		var r record
		decodeOne(t, "step 8 (a record)", string(raw), &r)
		records = append(records, r)
	}
	for _, want := range []record{
		{Action: "chat_image.upload", ActorID: "demo-patient", Outcome: "success"},
		{Action: "chat_image.signed_url", ActorID: "demo-professional", Outcome: "success"},
		{Action: "chat_image.signed_url", ActorID: "someone-else", Outcome: "denied"},
	} {
		if !slices.ContainsFunc(records, func(r record) bool {
			return r.Action == want.Action && r.ActorID == want.ActorID && r.Outcome == want.Outcome && r.SourceIP == "127.0.0.1"
		}) {
			t.Errorf("step 8: no record %s by %s (%s) from 127.0.0.1 in %+v", want.Action, want.ActorID, want.Outcome, records)
		}
	}
	if !verify.Valid || verify.Records != len(records) {
		t.Errorf("step 8: verify says valid=%v over %d records, want valid over the %d listed", verify.Valid, verify.Records, len(records))
	}
}

// errorBody is the documented error shape.
type errorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	} `json:"error"`
}

// decodeOne decodes exactly one JSON value, with no unknown fields left out
// silently: what a step prints must parse as what the README shows.
func decodeOne(t *testing.T, what, text string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(text))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s printed %q: %v", what, text, err)
	}
	if dec.More() {
		t.Fatalf("%s printed more than one JSON value: %q", what, text)
	}
}

// call makes one request and returns the status and body.
func call(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// demoEnv reads the data directory's demo.env.
func demoEnv(t *testing.T, dataDir string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "demo.env"))
	if err != nil {
		t.Fatal(err)
	}
	_, vals := exports(string(b))
	return vals
}

// subject returns the sub claim of a JWT, unverified: the server checks
// the token; this only reads whom it names.
func subject(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("%q is not a JWT", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.Sub
}

// TestDemoEnv: `make run` (serve --demo) prints export lines and writes the
// same lines to DATA_DIR/demo.env, mode 0600, with exactly the variables the
// README lists; each token acts as the role the README gives it, and the
// appointment is the one they share.
func TestDemoEnv(t *testing.T) {
	want := documentedDemoVars(t)
	start, _ := walkthrough(t)
	srv := startServer(t, start)

	path := filepath.Join(srv.dataDir, "demo.env")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("serve --demo wrote no demo.env: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("demo.env has mode %v, want 0600: it holds bearer tokens", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	names, vals := exports(string(b))
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("demo.env's variables differ from the README's list (-README +demo.env):\n%s", diff)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if !strings.HasPrefix(line, "export ") {
			t.Errorf("demo.env line %q is not an export", line)
		}
		if !strings.Contains(srv.stdout.String(), line+"\n") {
			t.Errorf("make run did not print %q", line)
		}
	}

	pat, pro, cli, appt := vals["PATIENT_TOKEN"], vals["PRO_TOKEN"], vals["CLINIC_TOKEN"], vals["APPOINTMENT_ID"]
	// The Go fragment of the README shares with "demo-professional".
	if got := subject(t, pro); got != "demo-professional" {
		t.Errorf("PRO_TOKEN names %q, want demo-professional (README's Go fragment shares with it)", got)
	}
	for _, c := range []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"the patient lists photos", "GET", "/v1/photos", pat, "", http.StatusOK},
		{"the patient stages a chat image in the appointment", "POST", "/api/chat-images", pat,
			`{"appointment_id":"` + appt + `","content_type":"image/png","size":10,"sha256":"` + base64.StdEncoding.EncodeToString(make([]byte, 32)) + `"}`, http.StatusCreated},
		{"the professional lists shares", "GET", "/v1/shares", pro, "", http.StatusOK},
		{"the professional may not upload photos", "POST", "/v1/photos", pro,
			`{"angle":"CROWN","content_type":"image/jpeg","size":10,"sha256":"` + base64.StdEncoding.EncodeToString(make([]byte, 32)) + `","data_key":"` + base64.StdEncoding.EncodeToString(make([]byte, 32)) + `"}`, http.StatusForbidden},
		{"the clinic updates its appointment", "PUT", "/v1/appointments/" + appt, cli,
			fmt.Sprintf(`{"patient_id":%q,"professional_ids":[%q],"starts_at":%q,"ends_at":%q}`, subject(t, pat), subject(t, pro),
				time.Now().UTC().Format(time.RFC3339), time.Now().UTC().Add(time.Hour).Format(time.RFC3339)), http.StatusOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			if status, body := call(t, c.method, srv.api+c.path, c.token, c.body); status != c.want {
				t.Errorf("%s %s: %d %s, want %d", c.method, c.path, status, body, c.want)
			}
		})
	}
}

// TestReadmeLayoutListsEverySharedPackage: the README's Layout names every
// package under shared/, and names nothing that does not exist.
func TestReadmeLayoutListsEverySharedPackage(t *testing.T) {
	blocks := fences(section(t, readDoc(t, "README.md"), "Layout"))
	if len(blocks) != 1 {
		t.Fatalf("the Layout section has %d code blocks, want 1", len(blocks))
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(blocks[0].text, "\n") {
		// An entry starts its line; an indented line continues the one
		// before.
		if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(line, " ") {
			listed[strings.TrimSuffix(f[0], "/")] = true
		}
	}
	// Every directory of shared/ and every package one level inside a
	// group (shared/store/boltstore); deeper packages (lambdafn's links,
	// migratetest) are named in their parent's entry.
	entries, err := os.ReadDir(filepath.Join(root, "shared"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if !listed["shared/"+e.Name()] {
			t.Errorf("the README's Layout does not list shared/%s", e.Name())
		}
		inner, err := os.ReadDir(filepath.Join(root, "shared", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range inner {
			p := "shared/" + e.Name() + "/" + d.Name()
			if d.IsDir() && d.Name() != "testdata" && hasGoFiles(t, filepath.Join(root, p)) && !listed[p] {
				t.Errorf("the README's Layout does not list %s", p)
			}
		}
	}
	for path := range listed {
		p := strings.TrimSuffix(strings.SplitN(path, "<", 2)[0], "/")
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("the README's Layout lists %s, which does not exist", path)
		}
	}
}

// TestReadmeGoFragmentIsTheExample: the README's Go fragment ("Sharing a
// photo") is, line for line, the body of the Example in
// client/example_test.go between its README markers, which go test compiles
// and runs against a server.
func TestReadmeGoFragmentIsTheExample(t *testing.T) {
	var frag []string
	for _, f := range fences(section(t, readDoc(t, "README.md"), "Sharing a photo")) {
		if f.lang == "go" {
			frag = append(frag, f.text)
		}
	}
	if len(frag) != 1 {
		t.Fatalf("the Sharing a photo section has %d go blocks, want 1", len(frag))
	}
	example := readDoc(t, "client/example_test.go")
	_, body, ok := strings.Cut(example, "\t// README: begin\n")
	body, _, ok2 := strings.Cut(body, "\t// README: end\n")
	if !ok || !ok2 {
		t.Fatal("client/example_test.go has no README: begin/end markers")
	}
	var lines []string
	for _, line := range strings.SplitAfter(body, "\n") {
		lines = append(lines, strings.TrimPrefix(line, "\t"))
	}
	if diff := cmp.Diff(frag[0], strings.Join(lines, "")); diff != "" {
		t.Errorf("README.md and client/example_test.go differ (-README +example):\n%s", diff)
	}
}

// TestDeployPinsTheMakefilesCDK: docs/DEPLOY.md's bootstrap command runs the
// CDK CLI version that `make deploy` runs.
func TestDeployPinsTheMakefilesCDK(t *testing.T) {
	re := regexp.MustCompile(`aws-cdk@([0-9][0-9.]*[0-9])`)
	mk := re.FindStringSubmatch(readDoc(t, "Makefile"))
	if mk == nil {
		t.Fatal("the Makefile pins no aws-cdk version")
	}
	for _, m := range re.FindAllStringSubmatch(readDoc(t, "docs/DEPLOY.md"), -1) {
		if m[1] != mk[1] {
			t.Errorf("docs/DEPLOY.md runs aws-cdk@%s, the Makefile aws-cdk@%s", m[1], mk[1])
		}
	}
}

// hasGoFiles reports whether dir holds a .go file.
func hasGoFiles(t *testing.T, dir string) bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	return len(files) > 0
}
