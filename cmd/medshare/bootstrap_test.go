package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/awstest"
	"github.com/medshare/medshare/shared/httpapi"
	"github.com/medshare/medshare/shared/runtime/awsruntime"
	"github.com/medshare/medshare/shared/runtime/lambdafn"
	"github.com/medshare/medshare/shared/runtime/lambdafn/wired"
	"github.com/medshare/medshare/shared/runtime/localserver"
)

// bootstrapEnv runs `medshare bootstrap` with args and returns the names it
// exported, in order, and their values. It fails unless every line it
// printed is an export.
func bootstrapEnv(t *testing.T, args ...string) ([]string, map[string]string) {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), append([]string{"bootstrap"}, args...), os.Getenv, &out, io.Discard); err != nil {
		t.Fatalf("medshare bootstrap %s: %v", strings.Join(args, " "), err)
	}
	var names []string
	vals := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !strings.HasPrefix(line, "export ") || !ok || v == "" {
			t.Fatalf("medshare bootstrap printed %q, want export NAME=VALUE lines", line)
		}
		names = append(names, k)
		vals[k] = v
	}
	return names, vals
}

// readmeFunctionVars are the variables README.md's Configuration table
// gives to the functions ("functions: ..." rows).
func readmeFunctionVars(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `(MEDSHARE_[A-Z0-9_]+)` \\| [^|]* \\| functions: ")
	var out []string
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	if len(out) == 0 {
		t.Fatal("README.md's Configuration lists no functions: variables")
	}
	slices.Sort(out)
	return out
}

// functions wires each operation's Lambda handler from an environment, with
// wired.Build (lambdafn.Build with the Links of lambdafn.Uses), which is all
// that every functions/<op>/main.go does before lambda.Start; the local server plays API Gateway in front of them.
type functions struct {
	getenv func(string) string
	mu     sync.Mutex
	built  map[string]lambdafn.Handler
	errs   []error
}

func (f *functions) Handle(ctx context.Context, route httpapi.Route, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	op := route.Op
	f.mu.Lock()
	h, ok := f.built[op]
	if !ok {
		var err error
		if h, err = wired.Build(ctx, op, f.getenv); err != nil {
			f.errs = append(f.errs, err)
			f.mu.Unlock()
			return events.APIGatewayV2HTTPResponse{StatusCode: 502, Body: `{"error":{"code":"internal","message":"cold start failed","request_id":""}}`}
		}
		f.built[op] = h
	}
	f.mu.Unlock()
	resp, err := h(ctx, ev)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{StatusCode: 502, Body: `{"error":{"code":"internal","message":"bad gateway","request_id":""}}`}
	}
	return resp
}

// TestBootstrapOnEmulators runs `medshare bootstrap` against the emulators
// (the AWS tier of `make test`): it prints, as exports, the functions'
// environment that README.md's Configuration lists; a second run prints the
// same (it is idempotent); and the functions, wired from exactly that
// environment over the emulators' endpoints, serve a photo's upload, share
// and view, and publish its notifications to the topic it names.
func TestBootstrapOnEmulators(t *testing.T) {
	cfg := awstest.Config(t)
	args := []string{
		"--table", awstest.UniqueName(t, "tbl"), "--bucket", awstest.UniqueName(t, "bkt"),
		"--key-alias", awstest.UniqueName(t, "key"), "--topic", awstest.UniqueName(t, "topic"),
		"--path-style",
	}
	names, env := bootstrapEnv(t, args...)
	if diff := cmp.Diff(readmeFunctionVars(t), names); diff != "" {
		t.Errorf("bootstrap's exports differ from README.md's functions: variables (-README +bootstrap):\n%s", diff)
	}
	if env[awsruntime.EnvPathStyle] != "true" {
		t.Errorf("with --path-style, %s=%q, want true", awsruntime.EnvPathStyle, env[awsruntime.EnvPathStyle])
	}
	if _, again := bootstrapEnv(t, args...); !cmp.Equal(env, again) {
		t.Errorf("a second bootstrap printed %v, the first %v", again, env)
	}

	// The functions' environment: what bootstrap printed, over the process
	// environment that holds the emulators' endpoints and credentials, as
	// a function's configuration would.
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
	fns := &functions{getenv: getenv, built: map[string]lambdafn.Handler{}}
	auth, token := minter(t, filepath.Join(t.TempDir(), "token.pem"))
	gw := httptest.NewServer(localserver.New(localserver.Options{Handler: fns, Auth: auth}))
	defer gw.Close()
	ctx := context.Background()
	pat := client.New(gw.URL, token("pat-boot", core.RolePatient))
	pro := client.New(gw.URL, token("pro-boot", core.RoleProfessional))
	photo := bytes.Repeat([]byte("a photo behind the printed environment "), 200)
	id, err := pat.UploadPhoto(ctx, "CROWN", "image/jpeg", photo, nil)
	if err != nil {
		t.Fatalf("upload (KMS Encrypt, DynamoDB, a presigned S3 PUT): %v %v", err, fns.errs)
	}
	sh, err := pat.CreateShare(ctx, client.ShareRequest{ProfessionalID: "pro-boot", PhotoIDs: []string{id}, ExpiresIn: 600, MaxViews: 1}, "")
	if err != nil {
		t.Fatalf("share: %v", err)
	}
	dev, err := client.NewDevice(core.KEMX25519)
	if err != nil {
		t.Fatal(err)
	}
	a, err := pro.OpenAccess(ctx, sh.ShareID, dev)
	if err != nil {
		t.Fatalf("open access: %v", err)
	}
	got, err := pro.ViewPhoto(ctx, dev, a.AccessID, id)
	if err != nil || !bytes.Equal(got, photo) {
		t.Fatalf("view (KMS Decrypt, a presigned S3 GET): %v, equal=%v", err, bytes.Equal(got, photo))
	}

	// The session_created notification went out on the printed topic: the
	// store marks it published only after SNS accepted it.
	var inbox struct {
		Items []struct {
			NotificationID string `json:"notification_id"`
			Type           string `json:"type"`
		} `json:"items"`
	}
	if err := pro.Do(ctx, "GET", "/v1/notifications", nil, nil, &inbox); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(inbox.Items, func(it struct {
		NotificationID string `json:"notification_id"`
		Type           string `json:"type"`
	}) bool {
		return it.Type == core.NoteSessionCreated
	})
	if i < 0 {
		t.Fatalf("no session_created notification: %+v", inbox)
	}
	settings, err := awsruntime.SettingsFromEnv(getenv)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := awsruntime.New(awsruntime.NewClients(cfg, settings.PathStyle), settings, core.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	item, err := rt.Store.GetNotification(ctx, "pro-boot", inbox.Items[i].NotificationID)
	if err != nil || !item.Published {
		t.Errorf("the session_created notification: published=%v, %v; want published to %s", item.Published, err, settings.TopicARN)
	}
}

// TestBootstrapDefaultsMatchDeployDoc: the env.json of docs/DEPLOY.md names
// the table, bucket and topic that `medshare bootstrap` creates with its
// default names, with the ARN it prints.
func TestBootstrapDefaultsMatchDeployDoc(t *testing.T) {
	awstest.Require(t)
	_, env := bootstrapEnv(t, "--path-style")
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "DEPLOY.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```json\n")
	if !ok {
		t.Fatal("docs/DEPLOY.md shows no env.json")
	}
	doc, _, _ := strings.Cut(rest, "```")
	var envJSON struct {
		Parameters map[string]string `json:"Parameters"`
	}
	if err := json.Unmarshal([]byte(doc), &envJSON); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{awsruntime.EnvTable, awsruntime.EnvBucket, awsruntime.EnvTopicARN, awsruntime.EnvPathStyle} {
		if envJSON.Parameters[k] != env[k] {
			t.Errorf("DEPLOY.md's env.json has %s=%q; medshare bootstrap --path-style prints %q", k, envJSON.Parameters[k], env[k])
		}
	}
}
