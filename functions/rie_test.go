// Package functions_test runs every function as a real Lambda bootstrap under
// the Lambda Runtime Interface Emulator, against the AWS emulators.
package functions_test

import (
	"bytes"
	"context"
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
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/devauth"
	"github.com/medshare/medshare/shared/localserver"

	"github.com/medshare/medshare/shared/awsruntime"
	"github.com/medshare/medshare/shared/awstest"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/httpapi"
	"github.com/medshare/medshare/shared/samples"
)

// function is one bootstrap running under its own emulator.
type function struct {
	op        string
	url       string
	coldStart time.Duration
}

// gateway invokes each operation's function under its emulator.
type gateway map[string]*function

func (g gateway) Handle(ctx context.Context, op string, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	resp, err := g[op].invokeErr(ev)
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
	rt, _ := httpapi.RouteByOp(op)
	probe := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: rt.RouteKey(), RequestContext: events.APIGatewayV2HTTPRequestContext{RouteKey: rt.RouteKey()}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := f.invokeErr(probe); err == nil {
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
	b, err := os.ReadFile(filepath.Join("..", "events", op+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
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

// TestFunctionsUnderRuntimeEmulator builds every function's bootstrap, runs
// each under the Lambda Runtime Interface Emulator with the emulators'
// endpoints in its environment, invokes it with its sample event, then drives
// the chat-image flow through the functions: real Lambda runtimes, real SigV4,
// real presigned URLs.
func TestFunctionsUnderRuntimeEmulator(t *testing.T) {
	rie := awstest.RIE(t)
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
	err = samples.Seed(context.Background(), samples.Target{
		Service: rt.Service, Store: rt.Store, Shares: rt.Store, Blobs: rt.Blobs, Keys: rt.Keys,
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
	})
	if err != nil {
		t.Fatal(err)
	}

	bin := buildAll(t)
	env := []string{"MEDSHARE_BACKEND=aws", "MEDSHARE_S3_PATH_STYLE=true"}
	for k, v := range s.Env() {
		env = append(env, k+"="+v)
	}
	fns := map[string]*function{}
	for _, r := range httpapi.Routes {
		fns[r.Op] = start(t, rie, bin, r.Op, env)
		t.Logf("cold start of %s under the emulator: %v", r.Op, fns[r.Op].coldStart.Round(time.Millisecond))
	}

	for _, op := range samples.Order {
		t.Run("sample/"+op, func(t *testing.T) {
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

	t.Run("chat flow", func(t *testing.T) {
		now := time.Now().UTC()
		st, b := fns["register-appointment"].invoke(t, as(loadEvent(t, "register-appointment"), "clinic-rie", core.RoleClinic,
			map[string]string{"appointment_id": "appt-rie"},
			map[string]any{"patient_id": "pat-rie", "professional_ids": []string{"pro-rie"}, "starts_at": now, "ends_at": now.Add(time.Hour)}))
		if st != 201 {
			t.Fatalf("register: %d %v", st, b)
		}
		img := bytes.Repeat([]byte("medshare"), 4000)
		sum := sha256.Sum256(img)
		st, b = fns["chat-upload"].invoke(t, as(loadEvent(t, "chat-upload"), "pat-rie", core.RolePatient, nil,
			map[string]any{"appointment_id": "appt-rie", "content_type": "image/png", "size": len(img), "sha256": sum[:]}))
		if st != 201 {
			t.Fatalf("chat upload: %d %v", st, b)
		}
		id := b["image_id"].(string)
		if st := send(t, b["upload"].(map[string]any), img); st != 200 {
			t.Fatalf("upload to the presigned URL: %d", st)
		}
		if st, b := fns["chat-finalize"].invoke(t, as(loadEvent(t, "chat-finalize"), "pat-rie", core.RolePatient, map[string]string{"id": id}, nil)); st != 200 {
			t.Fatalf("finalize: %d %v", st, b)
		}
		st, b = fns["chat-signed-url"].invoke(t, as(loadEvent(t, "chat-signed-url"), "pro-rie", core.RoleProfessional, map[string]string{"id": id}, nil))
		if st != 200 {
			t.Fatalf("signed url: %d %v", st, b)
		}
		resp, err := http.Get(b["url"].(string))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(got, img) {
			t.Fatalf("GET signed url: %d, %d bytes", resp.StatusCode, len(got))
		}
		if st, _ := fns["chat-signed-url"].invoke(t, as(loadEvent(t, "chat-signed-url"), "pro-other", core.RoleProfessional, map[string]string{"id": id}, nil)); st != 404 {
			t.Errorf("stranger: %d, want 404", st)
		}
		if !strings.HasPrefix(b["url"].(string), "http://127.0.0.1") {
			t.Errorf("signed url does not point at the loopback emulator")
		}
	})
}
