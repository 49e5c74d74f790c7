// Package events holds one real-shaped API Gateway HTTP API (payload 2.0)
// event per operation; this test runs every one through its handler.
package events

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/embedded"
	"github.com/medshare/medshare/shared/httpapi"
)

// The fixed ids the sample events use.
const (
	samplePatient      = "pat-sample-1"
	sampleProfessional = "pro-sample-1"
	sampleClinic       = "clinic-sample-1"
	sampleAppointment  = "appt-sample-1"
	samplePhoto        = "ph_aaaaaaaaaaaaaaaaaaaaaaaaaa"
	sampleImage        = "ci_aaaaaaaaaaaaaaaaaaaaaaaaaa"
)

func load(t *testing.T, op string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	b, err := os.ReadFile(op + ".json")
	if err != nil {
		t.Fatalf("sample event of %s: %v", op, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var ev events.APIGatewayV2HTTPRequest
	if err := dec.Decode(&ev); err != nil {
		t.Fatalf("decode %s.json: %v", op, err)
	}
	return ev
}

// upload puts data at key through the blob store's own presigned PUT.
func upload(t *testing.T, rt *embedded.Runtime, key, contentType string, data []byte) {
	t.Helper()
	sum := sha256.Sum256(data)
	up, err := rt.Blobs.PresignPut(context.Background(), key, int64(len(data)), sum[:], contentType, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rt.Blobs.Handler())
	defer srv.Close()
	u := srv.URL + up.URL[strings.Index(up.URL, embedded.BlobPrefix):]
	req, _ := http.NewRequest(up.Method, u, bytes.NewReader(data))
	for k, v := range up.Headers {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("seed upload of %s: %v %v", key, err, resp)
	}
	resp.Body.Close()
}

// seed stores what the sample events refer to.
func seed(t *testing.T, rt *embedded.Runtime) {
	ctx := context.Background()
	now := time.Now().UTC()
	clinic := core.Caller{ID: sampleClinic, Role: core.RoleClinic}
	if _, _, err := rt.Service.RegisterAppointment(ctx, clinic, sampleAppointment, core.AppointmentInput{
		PatientID: samplePatient, ProfessionalIDs: []string{sampleProfessional}, StartsAt: now, EndsAt: now.Add(time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	ct := []byte("ciphertext of the sample photo")
	sum := sha256.Sum256(ct)
	key := bytes.Repeat([]byte{7}, 32)
	p := core.Photo{ID: samplePhoto, OwnerID: samplePatient, Angle: "CROWN", ContentType: "image/jpeg", Size: int64(len(ct)),
		SHA256: sum[:], Status: core.StatusPending, CreatedAt: now, UpdatedAt: now, UploadExpiresAt: now.Add(time.Hour)}
	w, err := rt.Keys.Wrap(ctx, key, p.EncryptionContext())
	if err != nil {
		t.Fatal(err)
	}
	p.WrappedKey = w
	if err := rt.Store.CreatePhoto(ctx, p); err != nil {
		t.Fatal(err)
	}
	upload(t, rt, p.ObjectKey(), core.CiphertextContentType, ct)

	img := []byte("a sample chat image")
	isum := sha256.Sum256(img)
	ci := core.ChatImage{ID: sampleImage, AppointmentID: sampleAppointment, PatientID: samplePatient, UploaderID: samplePatient,
		Participants: []string{samplePatient, sampleProfessional}, ContentType: "image/png", Size: int64(len(img)), SHA256: isum[:],
		Status: core.StatusPending, CreatedAt: now, UpdatedAt: now, UploadExpiresAt: now.Add(time.Hour)}
	if err := rt.Store.CreateChatImage(ctx, ci); err != nil {
		t.Fatal(err)
	}
	upload(t, rt, ci.ObjectKey(), ci.ContentType, img)
}

// TestSampleEvents runs every sample event, in route-table order, through the
// handler its function runs, on the embedded runtime.
func TestSampleEvents(t *testing.T) {
	rt, err := embedded.Open(embedded.Options{DataDir: t.TempDir(), PublicURL: "http://127.0.0.1:8080"})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	seed(t, rt)

	want := map[string]int{
		"health": 200, "upload-presign": 201, "finalize-upload": 200, "list-photos": 200, "delete-photo": 200,
		"register-appointment": 201, "chat-upload": 201, "chat-finalize": 200, "chat-signed-url": 200,
		"access-history": 200, "verify-audit": 200,
	}
	files, _ := filepath.Glob("*.json")
	if len(files) != len(httpapi.Routes) {
		t.Errorf("%d sample events for %d routes", len(files), len(httpapi.Routes))
	}
	for _, r := range httpapi.Routes {
		t.Run(r.Op, func(t *testing.T) {
			ev := load(t, r.Op)
			if ev.RouteKey != r.RouteKey() || ev.RequestContext.RouteKey != r.RouteKey() {
				t.Errorf("routeKey %q / %q, want %q", ev.RouteKey, ev.RequestContext.RouteKey, r.RouteKey())
			}
			if ev.RequestContext.HTTP.Method != r.Method {
				t.Errorf("method %q, want %q", ev.RequestContext.HTTP.Method, r.Method)
			}
			resp, err := rt.Handler.Function(r.Op)(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != want[r.Op] {
				t.Errorf("status %d (%s), want %d", resp.StatusCode, resp.Body, want[r.Op])
			}
		})
	}
}
