package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/blob/localblob"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/httpapi"
	"github.com/medshare/medshare/shared/keyring/localkeys"
	"github.com/medshare/medshare/shared/store/boltstore"
)

// countingStore counts the store calls an operation makes.
type countingStore struct {
	core.Store
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingStore) Tally(ctx context.Context, name string, until time.Time) (int64, error) {
	c.count("Tally")
	return c.Store.Tally(ctx, name, until)
}
func (c *countingStore) CreateShare(ctx context.Context, s core.Share, r core.AuditRecord, n ...core.Notification) error {
	c.count("CreateShare")
	return c.Store.CreateShare(ctx, s, r, n...)
}
func (c *countingStore) GetShare(ctx context.Context, id string) (core.Share, error) {
	c.count("GetShare")
	return c.Store.GetShare(ctx, id)
}
func (c *countingStore) ListShares(ctx context.Context, p string, role core.Role, pg core.Page) ([]core.Share, string, error) {
	c.count("ListShares")
	return c.Store.ListShares(ctx, p, role, pg)
}
func (c *countingStore) RevokeShare(ctx context.Context, id, p string, at time.Time, reason string, r core.AuditRecord, n ...core.Notification) (bool, error) {
	c.count("RevokeShare")
	return c.Store.RevokeShare(ctx, id, p, at, reason, r, n...)
}
func (c *countingStore) OpenAccess(ctx context.Context, a core.Access, now time.Time, r core.AuditRecord, n ...core.Notification) error {
	c.count("OpenAccess")
	return c.Store.OpenAccess(ctx, a, now, r, n...)
}
func (c *countingStore) GetAccess(ctx context.Context, id string) (core.Access, error) {
	c.count("GetAccess")
	return c.Store.GetAccess(ctx, id)
}
func (c *countingStore) IssueKey(ctx context.Context, k core.EphemeralKey, now time.Time, r core.AuditRecord, n ...core.Notification) error {
	c.count("IssueKey")
	return c.Store.IssueKey(ctx, k, now, r, n...)
}
func (c *countingStore) GetKey(ctx context.Context, id string) (core.EphemeralKey, error) {
	c.count("GetKey")
	return c.Store.GetKey(ctx, id)
}
func (c *countingStore) ClaimKey(ctx context.Context, k core.EphemeralKey, pro string, now time.Time, r core.AuditRecord, n ...core.Notification) (core.EphemeralKey, error) {
	c.count("ClaimKey")
	return c.Store.ClaimKey(ctx, k, pro, now, r, n...)
}
func (c *countingStore) ListInbox(ctx context.Context, rcpt string, pg core.Page) ([]core.InboxItem, string, error) {
	c.count("ListInbox")
	return c.Store.ListInbox(ctx, rcpt, pg)
}
func (c *countingStore) MarkRead(ctx context.Context, rcpt, id string) (core.InboxItem, error) {
	c.count("MarkRead")
	return c.Store.MarkRead(ctx, rcpt, id)
}
func (c *countingStore) AddSuspicion(ctx context.Context, id string, prev, next int, flag string, r core.AuditRecord, n ...core.Notification) error {
	c.count("AddSuspicion")
	return c.Store.AddSuspicion(ctx, id, prev, next, flag, r, n...)
}
func (c *countingStore) MarkPublished(ctx context.Context, rcpt, id string) error {
	c.count("MarkPublished")
	return c.Store.MarkPublished(ctx, rcpt, id)
}

func (c *countingStore) count(name string) {
	c.mu.Lock()
	c.calls[name]++
	c.mu.Unlock()
}

func (c *countingStore) reset() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = map[string]int{}
	return out
}

func (c *countingStore) CreatePhoto(ctx context.Context, p core.Photo) error {
	c.count("CreatePhoto")
	return c.Store.CreatePhoto(ctx, p)
}
func (c *countingStore) MarkPhotoReady(ctx context.Context, o, id string, b core.BlobInfo, now time.Time) (core.Photo, error) {
	c.count("MarkPhotoReady")
	return c.Store.MarkPhotoReady(ctx, o, id, b, now)
}
func (c *countingStore) GetPhoto(ctx context.Context, o, id string) (core.Photo, error) {
	c.count("GetPhoto")
	return c.Store.GetPhoto(ctx, o, id)
}
func (c *countingStore) ListPhotos(ctx context.Context, o string, p core.Page) ([]core.Photo, string, error) {
	c.count("ListPhotos")
	return c.Store.ListPhotos(ctx, o, p)
}
func (c *countingStore) DeletePhoto(ctx context.Context, o, id string) (core.Photo, error) {
	c.count("DeletePhoto")
	return c.Store.DeletePhoto(ctx, o, id)
}
func (c *countingStore) PutAppointment(ctx context.Context, a core.Appointment) (bool, error) {
	c.count("PutAppointment")
	return c.Store.PutAppointment(ctx, a)
}
func (c *countingStore) GetAppointment(ctx context.Context, clinic, id string) (core.Appointment, error) {
	c.count("GetAppointment")
	return c.Store.GetAppointment(ctx, clinic, id)
}
func (c *countingStore) FindAppointments(ctx context.Context, id string) ([]core.Appointment, error) {
	c.count("FindAppointments")
	return c.Store.FindAppointments(ctx, id)
}
func (c *countingStore) CreateChatImage(ctx context.Context, img core.ChatImage) error {
	c.count("CreateChatImage")
	return c.Store.CreateChatImage(ctx, img)
}
func (c *countingStore) GetChatImage(ctx context.Context, id string) (core.ChatImage, error) {
	c.count("GetChatImage")
	return c.Store.GetChatImage(ctx, id)
}
func (c *countingStore) MarkChatImageReady(ctx context.Context, id string, b core.BlobInfo, now time.Time) (core.ChatImage, error) {
	c.count("MarkChatImageReady")
	return c.Store.MarkChatImageReady(ctx, id, b, now)
}
func (c *countingStore) AuditHead(ctx context.Context, p string) (core.ChainHead, error) {
	c.count("AuditHead")
	return c.Store.AuditHead(ctx, p)
}
func (c *countingStore) AppendAudit(ctx context.Context, r core.AuditRecord, n ...core.Notification) error {
	c.count("AppendAudit")
	return c.Store.AppendAudit(ctx, r, n...)
}
func (c *countingStore) ListAudit(ctx context.Context, p string, n bool, pg core.Page) ([]core.AuditRecord, string, error) {
	c.count("ListAudit")
	return c.Store.ListAudit(ctx, p, n, pg)
}
func (c *countingStore) ListAuditByActor(ctx context.Context, a string, pg core.Page) ([]core.AuditRecord, string, error) {
	c.count("ListAuditByActor")
	return c.Store.ListAuditByActor(ctx, a, pg)
}

// rig is the embedded runtime wired by hand around a counting store, driven
// through the handler with payload 2.0 events as Lambda would.
type rig struct {
	h     *httpapi.Handler
	store *countingStore
	blobs *localblob.Store
	bolt  *boltstore.Store
	keys  *localkeys.Ring
}

func newRig(tb testing.TB) *rig {
	tb.Helper()
	dir := tb.TempDir()
	bs, err := boltstore.Open(filepath.Join(dir, "db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { bs.Close() })
	keys, err := localkeys.Open(filepath.Join(dir, "master.key"))
	if err != nil {
		tb.Fatal(err)
	}
	blobs, err := localblob.New(filepath.Join(dir, "blobs"), "http://127.0.0.1:8080/blobs", make([]byte, 32))
	if err != nil {
		tb.Fatal(err)
	}
	cs := &countingStore{Store: bs, calls: map[string]int{}}
	svc := core.NewService(core.Config{}, core.Deps{Store: cs, Blobs: blobs, Keys: keys})
	return &rig{h: httpapi.NewHandler(svc, slog.New(slog.NewTextHandler(io.Discard, nil))), store: cs, blobs: blobs, bolt: bs, keys: keys}
}

func event(op, sub string, role core.Role, params map[string]string, body any) events.APIGatewayV2HTTPRequest {
	rt, _ := httpapi.RouteByOp(op)
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: rt.RouteKey(), PathParameters: params,
		Headers: map[string]string{"content-type": "application/json"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: rt.RouteKey(), RequestID: "bench",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: rt.Method, SourceIP: "127.0.0.1", UserAgent: "bench"},
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{
				Claims: map[string]string{"sub": sub, "cognito:groups": httpapi.FormatGroups([]string{string(role)})},
			}},
		},
	}
	if body != nil {
		b, _ := json.Marshal(body)
		ev.Body = string(b)
	}
	return ev
}

// readyImage registers an appointment and stores a READY chat image in it.
func (r *rig) readyImage(tb testing.TB) string {
	tb.Helper()
	ctx := context.Background()
	now := time.Now()
	if resp := r.h.Handle(ctx, httpapi.RouteRegisterAppointment, event("register-appointment", clinic1, core.RoleClinic,
		map[string]string{"appointment_id": appt1},
		map[string]any{"patient_id": patient1, "professional_ids": []string{pro1}, "starts_at": now, "ends_at": now.Add(time.Hour)})); resp.StatusCode != 201 {
		tb.Fatalf("register: %d %s", resp.StatusCode, resp.Body)
	}
	data := []byte("image bytes")
	sum := sha256.Sum256(data)
	resp := r.h.Handle(ctx, httpapi.RouteChatUpload, event("chat-upload", patient1, core.RolePatient, nil,
		map[string]any{"appointment_id": appt1, "content_type": "image/png", "size": len(data), "sha256": sum[:]}))
	var up chatUploadResp
	json.Unmarshal([]byte(resp.Body), &up)
	if _, err := r.store.MarkChatImageReady(ctx, up.ImageID, core.BlobInfo{Size: int64(len(data)), SHA256: sum[:]}, now); err != nil {
		tb.Fatal(err)
	}
	return up.ImageID
}

// TestStoreCallsPerOperation pins the store calls of the hot operations: a
// signed chat URL is one read of the image (with its participants) and one
// audit append once the chain head is known; an upload presign is one write.
func TestStoreCallsPerOperation(t *testing.T) {
	r := newRig(t)
	id := r.readyImage(t)
	ctx := context.Background()
	ev := event("chat-signed-url", pro1, core.RoleProfessional, map[string]string{"id": id}, nil)
	r.h.Handle(ctx, httpapi.RouteChatSignedURL, ev) // warms the chain head, as any earlier append does
	r.store.reset()
	if resp := r.h.Handle(ctx, httpapi.RouteChatSignedURL, ev); resp.StatusCode != 200 {
		t.Fatalf("signed url: %d %s", resp.StatusCode, resp.Body)
	}
	if got, want := fmtCalls(r.store.reset()), "AppendAudit=1 GetChatImage=1"; got != want {
		t.Errorf("chat-signed-url store calls: %s, want %s", got, want)
	}

	sum := sha256.Sum256([]byte("x"))
	key := make([]byte, 32)
	if resp := r.h.Handle(ctx, httpapi.RouteUploadPresign, event("upload-presign", patient1, core.RolePatient, nil,
		map[string]any{"angle": "CROWN", "content_type": "image/jpeg", "size": 1, "sha256": sum[:], "data_key": key})); resp.StatusCode != 201 {
		t.Fatalf("presign: %d %s", resp.StatusCode, resp.Body)
	}
	if got, want := fmtCalls(r.store.reset()), "CreatePhoto=1"; got != want {
		t.Errorf("upload-presign store calls: %s, want %s", got, want)
	}

	// A view: issue-key reads the access (with its share's snapshot) and the
	// photo (the only item that holds its wrapped key: DECISIONS, "Deleting
	// a photo crypto-shreds it"), counts the call for the burst detector
	// and makes one write; signed-url reads the key and makes one write.
	access, photo := r.openAccess(t)
	r.store.reset()
	resp := r.h.Handle(ctx, httpapi.RouteIssueKey, event("issue-key", pro1, core.RoleProfessional, map[string]string{"access_id": access, "photo_id": photo}, nil))
	if resp.StatusCode != 201 {
		t.Fatalf("issue key: %d %s", resp.StatusCode, resp.Body)
	}
	if got, want := fmtCalls(r.store.reset()), "GetAccess=1 GetPhoto=1 IssueKey=1 Tally=1"; got != want {
		t.Errorf("issue-key store calls: %s, want %s", got, want)
	}
	var k struct {
		KeyID string `json:"key_id"`
	}
	json.Unmarshal([]byte(resp.Body), &k)
	if resp := r.h.Handle(ctx, httpapi.RouteSignedURL, event("signed-url", pro1, core.RoleProfessional, map[string]string{"key_id": k.KeyID}, nil)); resp.StatusCode != 200 {
		t.Fatalf("signed url: %d %s", resp.StatusCode, resp.Body)
	}
	if got, want := fmtCalls(r.store.reset()), "ClaimKey=1 GetKey=1"; got != want {
		t.Errorf("signed-url store calls: %s, want %s", got, want)
	}
}

func fmtCalls(m map[string]int) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, k+"="+strconv.Itoa(v))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func reportCalls(b *testing.B, c *countingStore) {
	total := 0
	for _, v := range c.reset() {
		total += v
	}
	b.ReportMetric(float64(total)/float64(b.N), "store-calls/op")
}

// loop calls route with ev until the benchmark ends, each call answered
// with want, and reports the store calls per call counted since the last
// reset.
func (r *rig) loop(b *testing.B, ctx context.Context, route httpapi.Route, ev events.APIGatewayV2HTTPRequest, want int) {
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if resp := r.h.Handle(ctx, route, ev); resp.StatusCode != want {
			b.Fatalf("status %d %s", resp.StatusCode, resp.Body)
		}
	}
	reportCalls(b, r.store)
}

func BenchmarkChatSignedURL(b *testing.B) {
	r := newRig(b)
	id := r.readyImage(b)
	ev := event("chat-signed-url", pro1, core.RoleProfessional, map[string]string{"id": id}, nil)
	ctx := context.Background()
	r.h.Handle(ctx, httpapi.RouteChatSignedURL, ev)
	r.store.reset()
	r.loop(b, ctx, httpapi.RouteChatSignedURL, ev, 200)
}

func BenchmarkUploadPresign(b *testing.B) {
	r := newRig(b)
	sum := sha256.Sum256([]byte("x"))
	body := map[string]any{"angle": "CROWN", "content_type": "image/jpeg", "size": 1 << 20, "sha256": sum[:], "data_key": make([]byte, 32)}
	ev := event("upload-presign", patient1, core.RolePatient, nil, body)
	ctx := context.Background()
	r.loop(b, ctx, httpapi.RouteUploadPresign, ev, 201)
}

// openAccess stores a READY photo and a share of it with views enough for any
// benchmark (the store takes the limit as given), and opens an access on an
// X25519 device through the handler. It returns the access and photo ids.
func (r *rig) openAccess(tb testing.TB) (string, string) {
	tb.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	p := core.Photo{ID: core.NewID("ph"), OwnerID: patient1, Angle: "CROWN", ContentType: "image/jpeg", Size: 1,
		SHA256: make([]byte, 32), Status: core.StatusPending, CreatedAt: now, UpdatedAt: now, UploadExpiresAt: now.Add(time.Hour)}
	w, err := r.keys.Wrap(ctx, make([]byte, 32), p.EncryptionContext())
	if err != nil {
		tb.Fatal(err)
	}
	p.WrappedKey = w
	if err := r.bolt.CreatePhoto(ctx, p); err != nil {
		tb.Fatal(err)
	}
	if _, err := r.bolt.MarkPhotoReady(ctx, patient1, p.ID, core.BlobInfo{Size: 1, SHA256: make([]byte, 32)}, now); err != nil {
		tb.Fatal(err)
	}
	sh := core.Share{ID: core.NewID("sh"), PatientID: patient1, ProfessionalID: pro1, MaxViews: 1 << 30, MaxDevices: 1,
		Photos:       []core.SharedPhoto{{PhotoID: p.ID, Angle: p.Angle, ContentType: p.ContentType, Size: 1, SHA256: p.SHA256}},
		AccessWindow: time.Hour, ScreenshotPolicy: core.ScreenshotWarn, Status: core.ShareActive, CreatedAt: now, ExpiresAt: now.Add(2 * time.Hour)}
	head, _ := r.bolt.AuditHead(ctx, patient1)
	rec := core.Link(core.AuditRecord{PatientID: patient1, At: now, ActorID: patient1, ActorRole: core.RolePatient, Action: core.AuditShareCreate, Outcome: core.OutcomeSuccess}, head)
	if err := r.bolt.CreateShare(ctx, sh, rec, core.Notification{ID: core.NewSortableID("nt", now), RecipientID: pro1, Type: core.NoteSessionCreated, CreatedAt: now}); err != nil {
		tb.Fatal(err)
	}
	dev, err := client.NewDevice(core.KEMX25519)
	if err != nil {
		tb.Fatal(err)
	}
	resp := r.h.Handle(ctx, httpapi.RouteOpenAccess, event("open-access", pro1, core.RoleProfessional, map[string]string{"share_id": sh.ID},
		map[string]any{"kem": dev.KEM, "device_public_key": dev.Private.PublicKey().Bytes(), "device_fingerprint": dev.Fingerprint}))
	if resp.StatusCode != 201 {
		tb.Fatalf("open access: %d %s", resp.StatusCode, resp.Body)
	}
	var a struct {
		AccessID string `json:"access_id"`
	}
	json.Unmarshal([]byte(resp.Body), &a)
	return a.AccessID, p.ID
}

func BenchmarkIssueKey(b *testing.B) {
	r := newRig(b)
	access, photo := r.openAccess(b)
	ev := event("issue-key", pro1, core.RoleProfessional, map[string]string{"access_id": access, "photo_id": photo}, nil)
	ctx := context.Background()
	r.store.reset()
	r.loop(b, ctx, httpapi.RouteIssueKey, ev, 201)
}

func BenchmarkSignedURL(b *testing.B) {
	r := newRig(b)
	access, photo := r.openAccess(b)
	ctx := context.Background()
	issue := event("issue-key", pro1, core.RoleProfessional, map[string]string{"access_id": access, "photo_id": photo}, nil)
	keys := make([]events.APIGatewayV2HTTPRequest, b.N)
	for i := range keys {
		resp := r.h.Handle(ctx, httpapi.RouteIssueKey, issue)
		var k struct {
			KeyID string `json:"key_id"`
		}
		json.Unmarshal([]byte(resp.Body), &k)
		keys[i] = event("signed-url", pro1, core.RoleProfessional, map[string]string{"key_id": k.KeyID}, nil)
	}
	r.store.reset()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if resp := r.h.Handle(ctx, httpapi.RouteSignedURL, keys[i]); resp.StatusCode != 200 {
			b.Fatalf("status %d %s", resp.StatusCode, resp.Body)
		}
	}
	reportCalls(b, r.store)
}
