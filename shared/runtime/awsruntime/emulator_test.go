package awsruntime_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/awstest"
	"github.com/medshare/medshare/shared/httpapi"
	"github.com/medshare/medshare/shared/runtime/awsruntime"
)

// probe counts the requests each AWS operation sends and injects faults. It
// sits in the deserialize step, which presigning never reaches, so it counts
// requests on the wire, not presigned URLs.
type probe struct {
	mu     sync.Mutex
	calls  map[string]int
	faults map[string]fault // "Service.Operation" -> fault
}

type fault struct {
	hang bool // block until the context ends instead of failing at once
}

func newProbe() *probe { return &probe{calls: map[string]int{}, faults: map[string]fault{}} }

func (p *probe) install(cfg *aws.Config) {
	cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
		return s.Deserialize.Add(middleware.DeserializeMiddlewareFunc("medshareProbe",
			func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
				name := awsmiddleware.GetServiceID(ctx) + "." + awsmiddleware.GetOperationName(ctx)
				p.mu.Lock()
				p.calls[name]++
				f, inject := p.faults[name]
				p.mu.Unlock()
				if inject && f.hang {
					<-ctx.Done()
					return middleware.DeserializeOutput{}, middleware.Metadata{}, ctx.Err()
				}
				if inject {
					return middleware.DeserializeOutput{}, middleware.Metadata{}, &smithy.GenericAPIError{
						Code: "ThrottlingException", Message: "injected by the test", Fault: smithy.FaultServer,
					}
				}
				return next.HandleDeserialize(ctx, in)
			}), middleware.Before)
	})
}

// fail makes every call of op fail with a throttling error (which the SDK
// retries, then gives up on) until heal.
func (p *probe) fail(op string) {
	p.mu.Lock()
	p.faults[op] = fault{}
	p.mu.Unlock()
}

// hang makes every call of op block until its context ends, until heal.
func (p *probe) hang(op string) {
	p.mu.Lock()
	p.faults[op] = fault{hang: true}
	p.mu.Unlock()
}

func (p *probe) heal() {
	p.mu.Lock()
	p.faults = map[string]fault{}
	p.mu.Unlock()
}

// take returns the calls counted since the last take, as "Svc.Op=n" sorted.
func (p *probe) take() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var parts []string
	for k, v := range p.calls {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(parts)
	p.calls = map[string]int{}
	return strings.Join(parts, " ")
}

type rig struct {
	rt    *awsruntime.Runtime
	h     *httpapi.Handler
	probe *probe
	http  *http.Client
}

// newRig bootstraps fresh resources on the emulators and builds the runtime on
// clients that carry the probe.
func newRig(t testing.TB) *rig {
	t.Helper()
	cfg := awstest.Config(t)
	p := newProbe()
	p.install(&cfg)
	clients := awsruntime.NewClients(cfg, true)
	names := awsruntime.BootstrapNames{
		Table: awstest.UniqueName(t, "tbl"), Bucket: awstest.UniqueName(t, "bkt"),
		KeyAlias: awstest.UniqueName(t, "key"), Topic: awstest.UniqueName(t, "topic"),
	}
	ctx := context.Background()
	s, err := awsruntime.Bootstrap(ctx, clients, cfg.Region, names)
	if err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	again, err := awsruntime.Bootstrap(ctx, clients, cfg.Region, names)
	if err != nil || again != s {
		t.Fatalf("second bootstrap: %v, %+v; want the same settings %+v", err, again, s)
	}
	s.PathStyle = true
	rt, err := awsruntime.New(clients, s, core.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.take()
	return &rig{rt: rt, h: httpapi.NewHandler(rt.Service, slog.New(slog.NewTextHandler(io.Discard, nil))), probe: p, http: &http.Client{Timeout: 10 * time.Second}}
}

func (r *rig) call(t testing.TB, op, sub string, role core.Role, params map[string]string, body any) (int, map[string]any) {
	t.Helper()
	rt, _ := httpapi.RouteByOp(op)
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: rt.RouteKey(), PathParameters: params,
		Headers: map[string]string{"content-type": "application/json"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: rt.RouteKey(), RequestID: core.NewID("rq"),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: rt.Method, SourceIP: "198.51.100.7", UserAgent: "emulator-test"},
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{
				Claims: map[string]string{"sub": sub, "cognito:groups": httpapi.FormatGroups([]string{string(role)})},
			}},
		},
	}
	if body != nil {
		b, _ := json.Marshal(body)
		ev.Body = string(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp := r.h.Handle(ctx, rt, ev)
	var out map[string]any
	json.Unmarshal([]byte(resp.Body), &out)
	return resp.StatusCode, out
}

func (r *rig) send(t testing.TB, up map[string]any, data []byte) int {
	t.Helper()
	req, err := http.NewRequest(up["method"].(string), up["url"].(string), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range up["headers"].(map[string]any) {
		req.Header.Set(k, v.(string))
	}
	resp, err := r.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (r *rig) get(t testing.TB, u string) (int, []byte) {
	t.Helper()
	resp, err := r.http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func randomImage(n int) ([]byte, []byte) {
	b := make([]byte, n)
	rand.Read(b)
	s := sha256.Sum256(b)
	return b, s[:]
}

const (
	patient = "pat-aws-1"
	pro     = "pro-aws-1"
	clinic  = "clinic-aws-1"
	appt    = "appt-aws-1"
)

func (r *rig) appointment(t *testing.T) {
	t.Helper()
	now := time.Now().UTC()
	if st, b := r.call(t, "register-appointment", clinic, core.RoleClinic, map[string]string{"appointment_id": appt},
		map[string]any{"patient_id": patient, "professional_ids": []string{pro}, "starts_at": now, "ends_at": now.Add(time.Hour)}); st != 201 {
		t.Fatalf("register: %d %v", st, b)
	}
}

// TestChatImageFlowOnAWS runs the chat-image flow on the AWS adapters against
// the emulators: real SigV4, a presigned PUT that pins length and SHA-256, a
// presigned GET that VersityGW checks. It also pins the AWS calls per
// operation (docs/PERFORMANCE.md).
func TestChatImageFlowOnAWS(t *testing.T) {
	r := newRig(t)
	r.appointment(t)
	img, sum := randomImage(40_000)
	r.probe.take()

	st, b := r.call(t, "chat-upload", patient, core.RolePatient, nil, map[string]any{
		"appointment_id": appt, "content_type": "image/jpeg", "size": len(img), "sha256": sum,
	})
	if st != 201 {
		t.Fatalf("chat upload: %d %v", st, b)
	}
	// The appointment is found with one Query of its id's partition
	// (appointment ids are scoped to their clinic); the upload is counted
	// for its limit (one UpdateItem).
	if got, want := r.probe.take(), "DynamoDB.Query=1 DynamoDB.TransactWriteItems=1 DynamoDB.UpdateItem=1"; got != want {
		t.Errorf("chat-upload calls: %s, want %s", got, want)
	}
	id := b["image_id"].(string)
	up := b["upload"].(map[string]any)
	if st := r.send(t, up, append(img, 0)); st < 400 || st >= 500 {
		t.Errorf("upload of one byte more: %d, want 4xx", st)
	}
	other := append([]byte(nil), img...)
	other[10] ^= 1
	if st := r.send(t, up, other); st < 400 || st >= 500 {
		t.Errorf("upload of other bytes: %d, want 4xx", st)
	}
	if st := r.send(t, up, img); st != 200 {
		t.Fatalf("upload: %d", st)
	}
	r.probe.take()
	if st, b := r.call(t, "chat-finalize", patient, core.RolePatient, map[string]string{"id": id}, nil); st != 200 {
		t.Fatalf("finalize: %d %v", st, b)
	}
	if got, want := r.probe.take(), "DynamoDB.GetItem=1 DynamoDB.TransactWriteItems=1 DynamoDB.UpdateItem=1 S3.HeadObject=1"; got != want {
		t.Errorf("chat-finalize calls: %s, want %s", got, want)
	}

	st, b = r.call(t, "chat-signed-url", pro, core.RoleProfessional, map[string]string{"id": id}, nil)
	if st != 200 {
		t.Fatalf("signed url: %d %v", st, b)
	}
	if got, want := r.probe.take(), "DynamoDB.GetItem=1 DynamoDB.TransactWriteItems=1"; got != want {
		t.Errorf("chat-signed-url calls: %s, want %s (one read of the image, one audit append, no KMS)", got, want)
	}
	signed := b["url"].(string)
	if st, got := r.get(t, signed); st != 200 || !bytes.Equal(got, img) {
		t.Fatalf("GET signed url: %d, %d bytes", st, len(got))
	}
	u, _ := url.Parse(signed)
	q := u.Query()
	q.Set("X-Amz-Signature", strings.Repeat("0", len(q.Get("X-Amz-Signature"))))
	u.RawQuery = q.Encode()
	if st, _ := r.get(t, u.String()); st != http.StatusForbidden {
		t.Errorf("tampered signature: %d, want 403", st)
	}
	u.RawQuery = ""
	if st, _ := r.get(t, u.String()); st != http.StatusForbidden {
		t.Errorf("query stripped: %d, want 403", st)
	}
	if st, b := r.call(t, "chat-signed-url", "pro-stranger", core.RoleProfessional, map[string]string{"id": id}, nil); st != 404 {
		t.Errorf("stranger: %d %v, want 404", st, b)
	}
	if st, b := r.call(t, "verify-audit", patient, core.RolePatient, nil, nil); st != 200 || b["valid"] != true {
		t.Errorf("verify: %d %v", st, b)
	}

	// upload-presign: one KMS call and one DynamoDB write.
	data, dsum := randomImage(1000)
	key, _ := randomImage(32)
	r.probe.take()
	st, b = r.call(t, "upload-presign", patient, core.RolePatient, nil, map[string]any{
		"angle": "CROWN", "content_type": "image/jpeg", "size": len(data), "sha256": dsum, "data_key": key,
	})
	if st != 201 {
		t.Fatalf("upload presign: %d %v", st, b)
	}
	if got, want := r.probe.take(), "DynamoDB.PutItem=1 KMS.Encrypt=1"; got != want {
		t.Errorf("upload-presign calls: %s, want %s", got, want)
	}
	if st := r.send(t, b["upload"].(map[string]any), data); st != 200 {
		t.Fatalf("photo upload: %d", st)
	}
	photoID := b["photo_id"].(string)
	if st, b := r.call(t, "finalize-upload", patient, core.RolePatient, map[string]string{"photo_id": photoID}, nil); st != 200 {
		t.Fatalf("photo finalize: %d %v", st, b)
	}
	if got, want := r.probe.take(), "DynamoDB.TransactWriteItems=1 DynamoDB.UpdateItem=1 S3.HeadObject=1"; got != want {
		t.Errorf("finalize-upload calls: %s, want %s (the audit head is cached)", got, want)
	}
	p, err := r.rt.Store.GetPhoto(context.Background(), patient, photoID)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := r.rt.Keys.Unwrap(context.Background(), p.WrappedKey, p.EncryptionContext())
	if err != nil || !bytes.Equal(plain, key) {
		t.Errorf("unwrap the stored key under its context: %v", err)
	}
	if _, err := r.rt.Keys.Unwrap(context.Background(), p.WrappedKey, map[string]string{"photo": photoID, "owner": "someone-else"}); err == nil {
		t.Error("unwrapped under another owner's context")
	}
}

// TestFaults: when DynamoDB, S3 or KMS fail or time out, the operation answers
// 503 unavailable, keeps nothing half-written, and the same call then succeeds.
func TestFaults(t *testing.T) {
	r := newRig(t)
	r.appointment(t)
	data, sum := randomImage(500)
	presign := func() (int, map[string]any) {
		key, _ := randomImage(32)
		return r.call(t, "upload-presign", patient, core.RolePatient, nil, map[string]any{
			"angle": "BACK", "content_type": "image/png", "size": len(data), "sha256": sum, "data_key": key,
		})
	}
	photos := func() int {
		ps, _, err := r.rt.Store.ListPhotos(context.Background(), patient, core.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return len(ps)
	}
	unavailable := func(t *testing.T, st int, b map[string]any) {
		t.Helper()
		e, _ := b["error"].(map[string]any)
		if st != 503 || e["code"] != core.CodeUnavailable {
			t.Fatalf("status %d %v, want 503 unavailable", st, b)
		}
		if msg, _ := e["message"].(string); strings.Contains(msg, "injected") || strings.Contains(msg, "Throttling") {
			t.Errorf("the error message leaks the cause: %q", msg)
		}
	}

	t.Run("kms encrypt fails", func(t *testing.T) {
		r.probe.fail("KMS.Encrypt")
		st, b := presign()
		unavailable(t, st, b)
		if n := photos(); n != 0 {
			t.Errorf("%d photos after a failed presign, want 0", n)
		}
		r.probe.heal()
		if st, b := presign(); st != 201 {
			t.Fatalf("retry: %d %v", st, b)
		}
	})
	t.Run("dynamodb write fails", func(t *testing.T) {
		before := photos()
		r.probe.fail("DynamoDB.PutItem")
		st, b := presign()
		unavailable(t, st, b)
		if n := photos(); n != before {
			t.Errorf("%d photos after a failed presign, want %d", n, before)
		}
		r.probe.heal()
		if st, b := presign(); st != 201 {
			t.Fatalf("retry: %d %v", st, b)
		}
	})
	t.Run("s3 head fails at finalize", func(t *testing.T) {
		st, b := presign()
		if st != 201 {
			t.Fatal(st, b)
		}
		id := b["photo_id"].(string)
		if st := r.send(t, b["upload"].(map[string]any), data); st != 200 {
			t.Fatal(st)
		}
		r.probe.fail("S3.HeadObject")
		st, b = r.call(t, "finalize-upload", patient, core.RolePatient, map[string]string{"photo_id": id}, nil)
		unavailable(t, st, b)
		if p, _ := r.rt.Store.GetPhoto(context.Background(), patient, id); p.Status != core.StatusPending {
			t.Errorf("status after a failed finalize: %s, want pending", p.Status)
		}
		r.probe.heal()
		if st, b := r.call(t, "finalize-upload", patient, core.RolePatient, map[string]string{"photo_id": id}, nil); st != 200 {
			t.Fatalf("retry: %d %v", st, b)
		}
	})
	t.Run("audit append fails: no url", func(t *testing.T) {
		img, isum := randomImage(300)
		st, b := r.call(t, "chat-upload", patient, core.RolePatient, nil, map[string]any{"appointment_id": appt, "content_type": "image/png", "size": len(img), "sha256": isum})
		if st != 201 {
			t.Fatal(st, b)
		}
		id := b["image_id"].(string)
		r.send(t, b["upload"].(map[string]any), img)
		if st, b := r.call(t, "chat-finalize", patient, core.RolePatient, map[string]string{"id": id}, nil); st != 200 {
			t.Fatal(st, b)
		}
		head, _ := r.rt.Store.AuditHead(context.Background(), patient)
		r.probe.fail("DynamoDB.TransactWriteItems")
		st, b = r.call(t, "chat-signed-url", pro, core.RoleProfessional, map[string]string{"id": id}, nil)
		unavailable(t, st, b)
		if _, ok := b["url"]; ok {
			t.Error("a URL was returned without its audit record")
		}
		if h, _ := r.rt.Store.AuditHead(context.Background(), patient); h.Seq != head.Seq {
			t.Errorf("audit head moved from %d to %d on a failed append", head.Seq, h.Seq)
		}
		r.probe.heal()
		if st, b := r.call(t, "chat-signed-url", pro, core.RoleProfessional, map[string]string{"id": id}, nil); st != 200 {
			t.Fatalf("retry: %d %v", st, b)
		}
		if st, b := r.call(t, "verify-audit", patient, core.RolePatient, nil, nil); st != 200 || b["valid"] != true {
			t.Errorf("verify: %d %v", st, b)
		}
	})
	t.Run("dynamodb read times out", func(t *testing.T) {
		r.probe.hang("DynamoDB.GetItem")
		rt, _ := httpapi.RouteByOp("chat-signed-url")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		resp := r.h.Handle(ctx, httpapi.RouteChatSignedURL, events.APIGatewayV2HTTPRequest{
			RouteKey: rt.RouteKey(), PathParameters: map[string]string{"id": core.NewID("ci")},
			RequestContext: events.APIGatewayV2HTTPRequestContext{Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{"sub": pro, "cognito:groups": "[professional]"}}}},
		})
		r.probe.heal()
		// The hung call returns only when the context's deadline passes, so
		// an answer at all shows the deadline was honoured; no bound on how
		// long that took, which a busy machine stretches.
		if resp.StatusCode != 503 {
			t.Errorf("status %d, want 503 at the deadline", resp.StatusCode)
		}
	})
	t.Run("sns publish fails", func(t *testing.T) {
		n := core.Notification{ID: core.NewID("nt"), RecipientID: patient, Type: "session_created", CreatedAt: time.Now()}
		r.probe.fail("SNS.Publish")
		if err := r.rt.Notifier.Publish(context.Background(), n); !core.IsKind(err, core.KindUnavailable) {
			t.Errorf("publish with a fault: %v, want unavailable", err)
		}
		r.probe.heal()
		if err := r.rt.Notifier.Publish(context.Background(), n); err != nil {
			t.Errorf("retry: %v", err)
		}
	})
}

// TestSharingOnAWS views a shared photo on the AWS adapters and pins the AWS
// calls of the two hot operations of a view.
// sharedAccess uploads an encrypted photo, shares it with pro and opens an
// access on an X25519 device; it returns the rig, the photo, the access, the
// device and the plaintext.
func sharedAccess(t testing.TB, maxViews int) (*rig, string, string, *client.Device, []byte) {
	t.Helper()
	r := newRig(t)
	photo := bytes.Repeat([]byte("a shared photo "), 1000)
	ct, dataKey, err := client.EncryptPhoto(photo)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(ct)
	st, b := r.call(t, "upload-presign", patient, core.RolePatient, nil, map[string]any{
		"angle": "CROWN", "content_type": "image/jpeg", "size": len(ct), "sha256": sum[:], "data_key": dataKey,
	})
	if st != 201 {
		t.Fatalf("presign: %d %v", st, b)
	}
	id := b["photo_id"].(string)
	if st := r.send(t, b["upload"].(map[string]any), ct); st != 200 {
		t.Fatalf("upload: %d", st)
	}
	if st, b := r.call(t, "finalize-upload", patient, core.RolePatient, map[string]string{"photo_id": id}, nil); st != 200 {
		t.Fatalf("finalize: %d %v", st, b)
	}
	st, b = r.call(t, "create-session", patient, core.RolePatient, nil, map[string]any{
		"professional_id": pro, "photo_ids": []string{id}, "expires_in": 600, "max_views": maxViews,
	})
	if st != 201 {
		t.Fatalf("create session: %d %v", st, b)
	}
	share := b["share_id"].(string)
	dev, _ := client.NewDevice(core.KEMX25519)
	st, b = r.call(t, "open-access", pro, core.RoleProfessional, map[string]string{"share_id": share}, map[string]any{
		"kem": dev.KEM, "device_public_key": dev.Private.PublicKey().Bytes(), "device_fingerprint": dev.Fingerprint,
	})
	if st != 201 {
		t.Fatalf("open access: %d %v", st, b)
	}
	access := b["access_id"].(string)

	return r, id, access, dev, photo
}

func TestSharingOnAWS(t *testing.T) {
	r, id, access, dev, photo := sharedAccess(t, 3)
	var st int
	var b map[string]any
	r.probe.take()
	st, b = r.call(t, "issue-key", pro, core.RoleProfessional, map[string]string{"access_id": access, "photo_id": id}, nil)
	if st != 201 {
		t.Fatalf("issue key: %d %v", st, b)
	}
	if got, want := r.probe.take(), "DynamoDB.GetItem=2 DynamoDB.TransactWriteItems=1 DynamoDB.UpdateItem=2 KMS.Decrypt=1 SNS.Publish=1"; got != want {
		t.Errorf("issue-key calls: %s, want %s (read the access and the photo, whose item alone holds the wrapped key, count the call for the burst detector, one transactional write, one KMS Decrypt; then publish the notification and mark it published)", got, want)
	}
	raw, _ := json.Marshal(b)
	var k client.IssuedKey
	json.Unmarshal(raw, &k)
	st, b = r.call(t, "signed-url", pro, core.RoleProfessional, map[string]string{"key_id": k.KeyID}, nil)
	if st != 200 {
		t.Fatalf("signed url: %d %v", st, b)
	}
	if got, want := r.probe.take(), "DynamoDB.GetItem=1 DynamoDB.TransactWriteItems=1"; got != want {
		t.Errorf("signed-url calls: %s, want %s (read the key, one conditional claim; no KMS)", got, want)
	}
	if exp, _ := time.Parse(time.RFC3339, b["expires_at"].(string)); time.Until(exp) > 61*time.Second {
		t.Errorf("photo URL lives until %v, want at most 60 s", exp)
	}
	st, got := r.get(t, b["url"].(string))
	if st != 200 {
		t.Fatalf("download: %d", st)
	}
	key, err := dev.OpenKey(k, access)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := client.DecryptPhoto(got, key)
	if err != nil || !bytes.Equal(plain, photo) {
		t.Fatalf("decrypt: %v", err)
	}
	if st, _ := r.call(t, "signed-url", pro, core.RoleProfessional, map[string]string{"key_id": k.KeyID}, nil); st != 410 {
		t.Errorf("second claim: %d, want 410", st)
	}
}

// BenchmarkIssueKeyOnAWS and BenchmarkSignedURLOnAWS measure a view on the AWS
// adapters against the local emulators (loopback; see docs/PERFORMANCE.md).
func BenchmarkIssueKeyOnAWS(b *testing.B) {
	r, id, access, _, _ := sharedAccess(b, 1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if st, body := r.call(b, "issue-key", pro, core.RoleProfessional, map[string]string{"access_id": access, "photo_id": id}, nil); st != 201 {
			b.Fatalf("issue key: %d %v", st, body)
		}
	}
}

func BenchmarkSignedURLOnAWS(b *testing.B) {
	r, id, access, _, _ := sharedAccess(b, 1000)
	keys := make([]string, b.N)
	for i := range keys {
		st, body := r.call(b, "issue-key", pro, core.RoleProfessional, map[string]string{"access_id": access, "photo_id": id}, nil)
		if st != 201 {
			b.Fatalf("issue key: %d %v", st, body)
		}
		keys[i] = body["key_id"].(string)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if st, body := r.call(b, "signed-url", pro, core.RoleProfessional, map[string]string{"key_id": keys[i]}, nil); st != 200 {
			b.Fatalf("signed url: %d %v", st, body)
		}
	}
}
