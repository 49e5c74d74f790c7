// Package functions_test runs every function as a real Lambda bootstrap under
// the Lambda Runtime Interface Emulator, against the AWS emulators.
package functions_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/runtime/devauth"
	"github.com/medshare/medshare/shared/runtime/localserver"

	"github.com/medshare/medshare/shared/blob/cdnblob"
	"github.com/medshare/medshare/shared/blob/cdnblob/cdnblobtest"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/awstest"
	"github.com/medshare/medshare/shared/devtools/samples"
	"github.com/medshare/medshare/shared/httpapi"
	"github.com/medshare/medshare/shared/jobs"
	"github.com/medshare/medshare/shared/legacy/migrate"
	"github.com/medshare/medshare/shared/runtime/awsruntime"
)

// function is one bootstrap running under its own emulator.
type function struct {
	op        string
	url       string
	coldStart time.Duration
}

// gateway invokes each operation's function under its emulator.
type gateway map[string]*function

func (g gateway) Handle(ctx context.Context, route httpapi.Route, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	resp, err := g[route.Op].invokeErr(ev)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{StatusCode: 502, Body: `{"error":{"code":"internal","message":"bad gateway","request_id":""}}`}
	}
	return resp
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// buildAll builds every function as a bootstrap for this host, as `make build`
// does for arm64.
func buildAll(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", dir+string(os.PathSeparator), "./...")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build functions: %v\n%s", err, out)
	}
	return dir
}

// start runs op's bootstrap under the runtime interface emulator on a loopback
// port and invokes it once to measure the cold start.
func start(t *testing.T, rie, bin, op string, env []string) *function {
	t.Helper()
	rt, _ := httpapi.RouteByOp(op)
	probe := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: rt.RouteKey(), RequestContext: events.APIGatewayV2HTTPRequestContext{RouteKey: rt.RouteKey()}}
	return startWith(t, rie, bin, op, env, func(f *function) error { _, err := f.invokeErr(probe); return err })
}

// startJob runs a scheduled job's bootstrap under the emulator; it probes
// with an event the handler refuses to decode, so that no job runs.
func startJob(t *testing.T, rie, bin, name string, env []string) *function {
	t.Helper()
	return startWith(t, rie, bin, name, env, func(f *function) error {
		resp, err := http.Post(f.url, "application/json", strings.NewReader(`{"time": "not a time"}`))
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil // any answer: the runtime is up (this one is the handler's decoding error)
	})
}

// invokeJob invokes a job's function with a scheduled event and returns what
// it did.
func (f *function) invokeJob(t *testing.T, ev events.EventBridgeEvent) jobs.Result {
	t.Helper()
	b, _ := json.Marshal(ev)
	resp, err := http.Post(f.url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", f.op, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out jobs.Result
	if err := json.Unmarshal(body, &out); err != nil || resp.StatusCode != 200 || out.Job != f.op {
		t.Fatalf("%s: %d %s", f.op, resp.StatusCode, body)
	}
	return out
}

func loadScheduled(t *testing.T, name string) events.EventBridgeEvent {
	t.Helper()
	return loadJSON[events.EventBridgeEvent](t, filepath.Join("..", "events", "scheduled", name+".json"))
}

// loadJSON reads the sample event at path.
func loadJSON[E any](t *testing.T, path string) E {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ev E
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func startWith(t *testing.T, rie, bin, op string, env []string, probe func(*function) error) *function {
	t.Helper()
	addr := freePort(t)
	// Each emulator also needs its own port for the runtime API its bootstrap
	// talks to (9001 by default), or concurrent emulators collide.
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", freePort(t), filepath.Join(bin, op))
	cmd.Env = append(append(os.Environ(), env...), "AWS_LAMBDA_FUNCTION_NAME="+op, "AWS_LAMBDA_FUNCTION_TIMEOUT=30")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s under the emulator: %v", op, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s logs:\n%s", op, logs.String())
		}
	})
	f := &function{op: op, url: "http://" + addr + "/2015-03-31/functions/function/invocations"}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := probe(f); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer under the emulator:\n%s", op, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.coldStart = time.Since(begin)
	return f
}

func (f *function) invokeErr(ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	var out events.APIGatewayV2HTTPResponse
	b, _ := json.Marshal(ev)
	resp, err := http.Post(f.url, "application/json", bytes.NewReader(b))
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return out, fmt.Errorf("invoke: %d %s", resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, &out); err != nil || out.StatusCode == 0 {
		return out, fmt.Errorf("invoke: not an HTTP API response: %s", body)
	}
	return out, nil
}

func (f *function) invoke(t *testing.T, ev events.APIGatewayV2HTTPRequest) (int, map[string]any) {
	t.Helper()
	resp, err := f.invokeErr(ev)
	if err != nil {
		t.Fatalf("%s: %v", f.op, err)
	}
	var body map[string]any
	json.Unmarshal([]byte(resp.Body), &body)
	return resp.StatusCode, body
}

func loadEvent(t *testing.T, op string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	return loadJSON[events.APIGatewayV2HTTPRequest](t, filepath.Join("..", "events", op+".json"))
}

// as returns ev with another caller, path and body.
func as(ev events.APIGatewayV2HTTPRequest, sub string, role core.Role, params map[string]string, body any) events.APIGatewayV2HTTPRequest {
	ev.RequestContext.Authorizer.JWT.Claims = map[string]string{"sub": sub, "cognito:groups": httpapi.FormatGroups([]string{string(role)})}
	ev.PathParameters = params
	ev.Body = ""
	if body != nil {
		b, _ := json.Marshal(body)
		ev.Body = string(b)
	}
	return ev
}

// get GETs url (a signed URL) and returns the status and the body.
func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// chatImage registers the appointment appt-<who> (clinic-<who>, with the
// patient pat-<who> and the professional pro-<who>), and uploads img to
// it as the patient through chat-upload, the presigned PUT and
// chat-finalize, as a user's client does; it returns the image's id.
func chatImage(t *testing.T, fns map[string]*function, who string, img []byte) string {
	t.Helper()
	now := time.Now().UTC()
	if st, b := fns["register-appointment"].invoke(t, as(loadEvent(t, "register-appointment"), "clinic-"+who, core.RoleClinic,
		map[string]string{"appointment_id": "appt-" + who},
		map[string]any{"patient_id": "pat-" + who, "professional_ids": []string{"pro-" + who}, "starts_at": now, "ends_at": now.Add(time.Hour)})); st != 201 {
		t.Fatalf("register: %d %v", st, b)
	}
	sum := sha256.Sum256(img)
	st, b := fns["chat-upload"].invoke(t, as(loadEvent(t, "chat-upload"), "pat-"+who, core.RolePatient, nil,
		map[string]any{"appointment_id": "appt-" + who, "content_type": "image/png", "size": len(img), "sha256": sum[:]}))
	if st != 201 {
		t.Fatalf("chat upload: %d %v", st, b)
	}
	id := b["image_id"].(string)
	if st := send(t, b["upload"].(map[string]any), img); st != 200 {
		t.Fatalf("upload to the presigned URL: %d", st)
	}
	if st, b := fns["chat-finalize"].invoke(t, as(loadEvent(t, "chat-finalize"), "pat-"+who, core.RolePatient, map[string]string{"id": id}, nil)); st != 200 {
		t.Fatalf("finalize: %d %v", st, b)
	}
	return id
}

func send(t *testing.T, up map[string]any, data []byte) int {
	t.Helper()
	req, _ := http.NewRequest(up["method"].(string), up["url"].(string), bytes.NewReader(data))
	for k, v := range up["headers"].(map[string]any) {
		req.Header.Set(k, v.(string))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// onEmulators bootstraps fresh resources on the emulators (path-style S3)
// and returns the clients, the resources' settings and a runtime of the AWS
// adapters built on them.
func onEmulators(t *testing.T) (awsruntime.Clients, awsruntime.Settings, *awsruntime.Runtime) {
	t.Helper()
	cfg := awstest.Config(t)
	clients := awsruntime.NewClients(cfg, true)
	s, err := awsruntime.Bootstrap(context.Background(), clients, cfg.Region, awsruntime.BootstrapNames{
		Table: awstest.UniqueName(t, "tbl"), Bucket: awstest.UniqueName(t, "bkt"),
		KeyAlias: awstest.UniqueName(t, "key"), Topic: awstest.UniqueName(t, "topic"),
	})
	if err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	s.PathStyle = true
	rt, err := awsruntime.New(clients, s, core.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return clients, s, rt
}

// sampleTarget seeds the samples through rt, uploading with the presigned
// URLs.
func sampleTarget(t *testing.T, rt *awsruntime.Runtime) samples.Target {
	return samples.Target{
		Service: rt.Service, Store: rt.Store, Blobs: rt.Blobs, Keys: rt.Keys,
		Put: func(up core.Upload, data []byte) error {
			h := map[string]any{}
			for k, v := range up.Headers {
				h[k] = v
			}
			if st := send(t, map[string]any{"method": up.Method, "url": up.URL, "headers": h}, data); st != 200 {
				return fmt.Errorf("upload: %d", st)
			}
			return nil
		},
	}
}

// chatCDNSecret is the ARN of the chat CDN's signing key in chatCDN's
// Secrets Manager.
const chatCDNSecret = "arn:aws:secretsmanager:us-east-1:000000000000:secret:medshare-cdn-key-AbCdEf"

// chatCDN makes a CloudFront signing key, stores it as the stack does in a
// Secrets Manager stand-in on loopback (no emulator serves Secrets
// Manager), and returns the environment that makes chat-signed-url sign
// with it: the distribution's domain, the secret and the stand-in's
// endpoint.
func chatCDN(t *testing.T) (map[string]string, *rsa.PrivateKey, *awstest.SecretsManager) {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, cdnblob.KeyBits)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := cdnblob.SigningKey{KeyPairID: "K2JCJMDEHXQW5F", PrivateKey: priv}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	sm := awstest.NewSecretsManager(t)
	sm.Set(chatCDNSecret, string(secret))
	return map[string]string{cdnblob.EnvDomain: "d111111abcdef8.cloudfront.net", cdnblob.EnvKeySecret: chatCDNSecret,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": sm.URL}, priv, sm
}

// TestFunctionsUnderRuntimeEmulator builds every function's bootstrap, runs
// each under the Lambda Runtime Interface Emulator with the emulators'
// endpoints in its environment, invokes it with its sample event, then drives
// the sharing and chat-image flows and the scheduled jobs through the
// functions: real Lambda runtimes, real SigV4, real presigned URLs.
func TestFunctionsUnderRuntimeEmulator(t *testing.T) {
	rie := awstest.RIE(t)
	clients, s, rt := onEmulators(t)
	bin := buildAll(t)
	env := []string{"MEDSHARE_BACKEND=aws", "MEDSHARE_S3_PATH_STYLE=true"}
	for k, v := range s.Env() {
		env = append(env, k+"="+v)
	}
	fns := map[string]*function{}
	for _, r := range httpapi.Routes() {
		fns[r.Op] = start(t, rie, bin, r.Op, env)
		t.Logf("cold start of %s under the emulator: %v", r.Op, fns[r.Op].coldStart.Round(time.Millisecond))
	}

	for _, j := range jobs.Jobs {
		fns[j.Name] = startJob(t, rie, bin, j.Name, env)
		t.Logf("cold start of %s under the emulator: %v", j.Name, fns[j.Name].coldStart.Round(time.Millisecond))
	}

	// Seed just before the samples run, after the slow part (building and
	// starting every function): the sample key lives 60 seconds, so it must
	// not be created minutes before signed-url claims it.
	target := sampleTarget(t, rt)
	if err := samples.Seed(context.Background(), target); err != nil {
		t.Fatal(err)
	}

	for _, op := range samples.Order {
		t.Run("sample/"+op, func(t *testing.T) {
			if op == "signed-url" {
				if err := samples.SeedKey(context.Background(), target); err != nil {
					t.Fatal(err)
				}
			}
			if st, b := fns[op].invoke(t, loadEvent(t, op)); st != samples.Status[op] {
				t.Errorf("status %d %v, want %d", st, b, samples.Status[op])
			}
		})
	}

	t.Run("sharing flow through a gateway", func(t *testing.T) {
		// The local server plays API Gateway in front of the functions: it
		// checks tokens, builds payload 2.0 events and invokes each
		// operation's function under its emulator.
		auth, err := devauth.LoadOrCreate(filepath.Join(t.TempDir(), "token.pem"))
		if err != nil {
			t.Fatal(err)
		}
		gw := httptest.NewServer(localserver.New(localserver.Options{Handler: gateway(fns), Auth: auth}))
		defer gw.Close()
		token := func(sub string, role core.Role) string {
			tok, err := auth.Mint(sub, role, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		ctx := context.Background()
		pat := client.New(gw.URL, token("pat-gw", core.RolePatient))
		pro := client.New(gw.URL, token("pro-gw", core.RoleProfessional))
		photo := bytes.Repeat([]byte("a photo only the patient and the grantee see "), 500)
		id, err := pat.UploadPhoto(ctx, "CROWN", "image/jpeg", photo, nil)
		if err != nil {
			t.Fatalf("upload: %v", err)
		}
		// The patient reads the photo on another device of theirs: the
		// photo-key function unwraps its key under KMS and seals it to
		// that device.
		own, _ := client.NewDevice(core.KEMX25519)
		if got, err := pat.ViewOwnPhoto(ctx, own, id, "pat-gw"); err != nil || !bytes.Equal(got, photo) {
			t.Fatalf("view own photo on another device: %v (equal=%v)", err, bytes.Equal(got, photo))
		}
		sh, err := pat.CreateShare(ctx, client.ShareRequest{ProfessionalID: "pro-gw", PhotoIDs: []string{id}, ExpiresIn: 600, MaxViews: 2}, "gw-1")
		if err != nil {
			t.Fatalf("share: %v", err)
		}
		for _, kem := range []uint16{core.KEMMLKEM768X25519} {
			dev, _ := client.NewDevice(kem)
			a, err := pro.OpenAccess(ctx, sh.ShareID, dev)
			if err != nil {
				t.Fatalf("open access: %v", err)
			}
			got, err := pro.ViewPhoto(ctx, dev, a.AccessID, id)
			if err != nil || !bytes.Equal(got, photo) {
				t.Fatalf("view: %v (equal=%v)", err, bytes.Equal(got, photo))
			}
			k, err := pro.IssueKey(ctx, a.AccessID, id)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pro.IssueKey(ctx, a.AccessID, id); client.Code(err) != core.CodeViewsExhausted {
				t.Errorf("third view: %v, want views_exhausted", err)
			}
			if err := pat.RevokeShare(ctx, sh.ShareID); err != nil {
				t.Fatal(err)
			}
			if _, err := pro.ClaimKey(ctx, k.KeyID); client.Code(err) != core.CodeSessionRevoked {
				t.Errorf("claim after revoke: %v, want session_revoked", err)
			}
		}
	})

	t.Run("scheduled jobs", func(t *testing.T) {
		// A session created by a service two hours behind: it expired an
		// hour ago. The cleanup function expires it and notifies both
		// parties; the daily-report function counts its day.
		ctx := context.Background()
		past, err := awsruntime.New(clients, s, core.Config{}, func() time.Time { return time.Now().Add(-2 * time.Hour) })
		if err != nil {
			t.Fatal(err)
		}
		pat := core.Caller{ID: "pat-jobs", Role: core.RolePatient, RequestID: "rie-jobs"}
		data := bytes.Repeat([]byte("ciphertext"), 100)
		sum := sha256.Sum256(data)
		up, err := past.Service.PresignPhotoUpload(ctx, pat, core.PhotoUploadInput{Angle: "CROWN", ContentType: "image/jpeg", Size: int64(len(data)), SHA256: sum[:], DataKey: make([]byte, 32)})
		if err != nil {
			t.Fatal(err)
		}
		h := map[string]any{}
		for k, v := range up.Upload.Headers {
			h[k] = v
		}
		if st := send(t, map[string]any{"method": up.Upload.Method, "url": up.Upload.URL, "headers": h}, data); st != 200 {
			t.Fatalf("upload: %d", st)
		}
		if _, err := past.Service.FinalizePhoto(ctx, pat, up.Photo.ID); err != nil {
			t.Fatal(err)
		}
		sh, _, err := past.Service.CreateShare(ctx, pat, core.ShareInput{ProfessionalID: "pro-jobs", PhotoIDs: []string{up.Photo.ID}, ExpiresIn: time.Hour, MaxViews: 1, ScreenshotPolicy: core.ScreenshotWarn})
		if err != nil {
			t.Fatal(err)
		}

		res := fns["cleanup"].invokeJob(t, loadScheduled(t, "cleanup"))
		if res.Cleanup == nil || res.Cleanup.SharesExpired != 1 || res.Cleanup.Failed != 0 || !res.Cleanup.Complete {
			t.Errorf("cleanup: %+v, want one session expired", res.Cleanup)
		}
		if got, err := rt.Store.GetShare(ctx, sh.ID); err != nil || got.Status != core.ShareExpired {
			t.Errorf("share after cleanup: %q %v, want expired", got.Status, err)
		}
		for _, who := range []string{"pat-jobs", "pro-jobs"} {
			items, _, err := rt.Store.ListInbox(ctx, who, core.Page{Limit: 1})
			if err != nil || len(items) != 1 || items[0].Type != core.NoteSessionExpired || !items[0].Published {
				t.Errorf("%s's newest notification: %+v %v, want a published session_expired", who, items, err)
			}
		}

		ev := loadScheduled(t, "daily-report")
		day := sh.CreatedAt.UTC().Truncate(24 * time.Hour)
		ev.Time = day.Add(24*time.Hour + 15*time.Minute)
		res = fns["daily-report"].invokeJob(t, ev)
		stored, err := rt.Store.GetDailyReport(ctx, day)
		if err != nil {
			t.Fatalf("stored report: %v", err)
		}
		if res.Report == nil || *res.Report != *jobs.ReportOf(stored) || res.Report.Day != day.Format(time.DateOnly) || stored.SharesCreated < 1 {
			t.Errorf("report %v, stored %+v: want the day of the share, counting it", res.Report, stored)
		}
	})

	t.Run("chat flow", func(t *testing.T) {
		img := bytes.Repeat([]byte("medshare"), 4000)
		id := chatImage(t, fns, "rie", img)
		st, b := fns["chat-signed-url"].invoke(t, as(loadEvent(t, "chat-signed-url"), "pro-rie", core.RoleProfessional, map[string]string{"id": id}, nil))
		if st != 200 {
			t.Fatalf("signed url: %d %v", st, b)
		}
		if status, got := get(t, b["url"].(string)); status != 200 || !bytes.Equal(got, img) {
			t.Fatalf("GET signed url: %d, %d bytes", status, len(got))
		}
		if st, _ := fns["chat-signed-url"].invoke(t, as(loadEvent(t, "chat-signed-url"), "pro-other", core.RoleProfessional, map[string]string{"id": id}, nil)); st != 404 {
			t.Errorf("stranger: %d, want 404", st)
		}
		// The appointment's list holds the image for a participant, and is
		// the unknown appointment's 404 for a stranger.
		list := func(sub string) (int, map[string]any) {
			return fns["list-chat-images"].invoke(t, as(loadEvent(t, "list-chat-images"), sub, core.RoleProfessional,
				map[string]string{"appointment_id": "appt-rie"}, nil))
		}
		if st, b := list("pro-rie"); st != 200 || !strings.Contains(fmt.Sprint(b["items"]), id) {
			t.Errorf("participant's list: %d %v, want the image", st, b)
		}
		if st, b := list("pro-other"); st != 404 {
			t.Errorf("stranger's list: %d %v, want 404", st, b)
		}
		if !strings.HasPrefix(b["url"].(string), "http://127.0.0.1") {
			t.Errorf("signed url does not point at the loopback emulator")
		}
	})

	t.Run("legacy chat images through the migration function", func(t *testing.T) {
		// The migration function as Step Functions' distributed map invokes
		// it, one line per invocation, reading the legacy chat's bucket (a
		// second bucket of the S3 emulator) and copying server-side; then
		// the old URL resolves through chat-resolve to an image that
		// chat-signed-url signs, for its participants only.
		ctx := context.Background()
		legacyBucket := awstest.NewBucket(t, clients.S3, "legacy")
		worker := startJob(t, rie, bin, migrate.FunctionName, append(append([]string{}, env...),
			migrate.EnvLegacySource+"=s3://"+legacyBucket, migrate.EnvLegacyURLPrefix+"=https://old-chat.nyc3.digitaloceanspaces.com/"))
		img := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte("an image of the old chat "), 300)...)
		if _, err := clients.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(legacyBucket), Key: aws.String("images/2023/03/5d1e7a90.png"), Body: bytes.NewReader(img)}); err != nil {
			t.Fatal(err)
		}
		item, err := os.ReadFile(filepath.Join("..", "events", "worker", "migrate-chat-image.json"))
		if err != nil {
			t.Fatal(err)
		}
		var id string
		for _, want := range []string{migrate.Migrated, migrate.AlreadyDone} {
			resp, err := http.Post(worker.url, "application/json", bytes.NewReader(item))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var res migrate.Result
			if err := json.Unmarshal(body, &res); err != nil || res.Outcome != want || res.ImageID == "" {
				t.Fatalf("migrate the sample line: %d %s, want %s", resp.StatusCode, body, want)
			}
			id = res.ImageID
		}
		url := map[string]string{"url": "https://old-chat.nyc3.digitaloceanspaces.com/images/2023/03/5d1e7a90.png"}
		st, b := fns["chat-resolve"].invoke(t, as(loadEvent(t, "chat-resolve"), samples.Professional, core.RoleProfessional, nil, url))
		if st != 200 || b["status"] != "migrated" || b["image_id"] != id || b["url"] != "private://chat-images/"+id {
			t.Fatalf("resolve the old URL: %d %v, want migrated %s", st, b, id)
		}
		if st, _ := fns["chat-resolve"].invoke(t, as(loadEvent(t, "chat-resolve"), "pro-other", core.RoleProfessional, nil, url)); st != 404 {
			t.Errorf("stranger's resolve: %d, want 404", st)
		}
		st, b = fns["chat-signed-url"].invoke(t, as(loadEvent(t, "chat-signed-url"), samples.Professional, core.RoleProfessional, map[string]string{"id": id}, nil))
		if st != 200 {
			t.Fatalf("signed url of the migrated image: %d %v", st, b)
		}
		if status, got := get(t, b["url"].(string)); status != 200 || !bytes.Equal(got, img) {
			t.Errorf("GET the migrated image: %d, %d bytes, want the legacy object's %d", status, len(got), len(img))
		}
	})

	t.Run("chat images through CloudFront", func(t *testing.T) {
		// chat-signed-url as the stack runs it with a distribution: the same
		// bootstrap, with the distribution's domain and the signing key's
		// secret in its environment. No emulator serves Secrets Manager, so
		// the key comes from one on loopback (awstest.SecretsManager).
		vars, priv, sm := chatCDN(t)
		cdnEnv := append([]string{}, env...)
		for k, v := range vars {
			cdnEnv = append(cdnEnv, k+"="+v)
		}
		cdn := start(t, rie, bin, "chat-signed-url", cdnEnv)
		if got := sm.Calls(); len(got) != 1 || got[0] != "GetSecretValue "+chatCDNSecret {
			t.Errorf("cold start read %v from Secrets Manager, want the secret once", got)
		}

		img := bytes.Repeat([]byte("through the edge "), 1000)
		id := chatImage(t, fns, "cdn", img)

		asked := time.Now()
		st, b := cdn.invoke(t, as(loadEvent(t, "chat-signed-url"), "pro-cdn", core.RoleProfessional, map[string]string{"id": id}, nil))
		answered := time.Now()
		if st != 200 {
			t.Fatalf("signed url: %d %v", st, b)
		}
		v, err := cdnblobtest.Verify(&priv.PublicKey, b["url"].(string))
		if err != nil {
			t.Fatalf("the URL does not verify with the public key: %v", err)
		}
		if v.Resource != "https://d111111abcdef8.cloudfront.net/"+id || v.KeyPairID != "K2JCJMDEHXQW5F" {
			t.Errorf("URL for %s with key pair %s, want the distribution's URL of the image", v.Resource, v.KeyPairID)
		}
		if v.Expires.Before(asked.Add(time.Hour).Truncate(time.Second)) || v.Expires.After(answered.Add(time.Hour)) {
			t.Errorf("expires %v, want one hour after the request (%v)", v.Expires, asked)
		}
		if exp, err := time.Parse(time.RFC3339, b["expires_at"].(string)); err != nil || !exp.Equal(v.Expires) {
			t.Errorf("expires_at %v, the URL's expiry %v", b["expires_at"], v.Expires)
		}
		if st, _ := cdn.invoke(t, as(loadEvent(t, "chat-signed-url"), "pro-other-cdn", core.RoleProfessional, map[string]string{"id": id}, nil)); st != 404 {
			t.Errorf("stranger: %d, want 404", st)
		}
		if n := len(sm.Calls()); n != 1 {
			t.Errorf("%d reads of the secret, want the one at cold start", n)
		}
		// The same audit as the presigned GET: the grant and the stranger's
		// denied request, in the patient's chain.
		recs, _, err := rt.Service.AccessHistory(context.Background(), core.Caller{ID: "pat-cdn", Role: core.RolePatient}, core.Page{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range recs {
			if r.Action == core.AuditChatImageSignedURL && r.ResourceID == id {
				got = append(got, r.ActorID+" "+r.Outcome)
			}
		}
		if want := []string{"pro-other-cdn denied", "pro-cdn success"}; !slices.Equal(got, want) {
			t.Errorf("audit of the image's URLs %v, want %v", got, want)
		}
	})
}
