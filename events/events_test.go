// Package events holds one real-shaped API Gateway HTTP API (payload 2.0)
// event per operation and one EventBridge scheduled event per job
// (scheduled/); these tests run every one through its handler.
package events

import (
	"bytes"
	"context"
	"crypto/hpke"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/samples"
	"github.com/medshare/medshare/shared/httpapi"
	"github.com/medshare/medshare/shared/jobs"
	"github.com/medshare/medshare/shared/runtime/embedded"
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

// TestSampleEvents runs every sample event through the handler its function
// runs, on the embedded runtime seeded with the ids the events use.
func TestSampleEvents(t *testing.T) {
	rt, err := embedded.Open(embedded.Options{DataDir: t.TempDir(), PublicURL: "http://127.0.0.1:8080"})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	srv := httptest.NewServer(rt.Blobs.Handler())
	defer srv.Close()
	target := samples.Target{
		Service: rt.Service, Store: rt.Store, Blobs: rt.Blobs, Keys: rt.Keys,
		Put: func(up core.Upload, data []byte) error {
			req, _ := http.NewRequest(up.Method, srv.URL+up.URL[strings.Index(up.URL, embedded.BlobPrefix):], bytes.NewReader(data))
			for k, v := range up.Headers {
				req.Header.Set(k, v)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("upload: %d", resp.StatusCode)
			}
			return nil
		},
	}
	if err := samples.Seed(context.Background(), target); err != nil {
		t.Fatal(err)
	}

	files, _ := filepath.Glob("*.json")
	if len(files) != len(httpapi.Routes()) || len(samples.Order) != len(httpapi.Routes()) {
		t.Errorf("%d sample events and %d ordered ops for %d routes", len(files), len(samples.Order), len(httpapi.Routes()))
	}
	for _, r := range httpapi.Routes() {
		if !slices.Contains(samples.Order, r.Op) {
			t.Errorf("route %s has no place in samples.Order", r.Op)
		}
	}
	for _, op := range samples.Order {
		t.Run(op, func(t *testing.T) {
			r, ok := httpapi.RouteByOp(op)
			if !ok {
				t.Fatalf("%s is not a route", op)
			}
			if op == "signed-url" {
				if err := samples.SeedKey(context.Background(), target); err != nil {
					t.Fatal(err)
				}
			}
			ev := load(t, op)
			if ev.RouteKey != r.RouteKey() || ev.RequestContext.RouteKey != r.RouteKey() {
				t.Errorf("routeKey %q / %q, want %q", ev.RouteKey, ev.RequestContext.RouteKey, r.RouteKey())
			}
			if ev.RequestContext.HTTP.Method != r.Method {
				t.Errorf("method %q, want %q", ev.RequestContext.HTTP.Method, r.Method)
			}
			resp, err := rt.Handler.Function(r)(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != samples.Status[op] {
				t.Errorf("status %d (%s), want %d", resp.StatusCode, resp.Body, samples.Status[op])
			}
			switch {
			case op == "issue-key" && resp.StatusCode == 201:
				openSampleKey(t, resp.Body)
			case op == "photo-key" && resp.StatusCode == 200:
				openSampleOwnerKey(t, resp.Body)
			case op == "list-chat-images" && resp.StatusCode == 200:
				if !strings.Contains(resp.Body, `"image_id":"`+samples.ChatImage+`"`) {
					t.Errorf("the list does not hold the sample chat image: %s", resp.Body)
				}
			}
		})
	}
}

// sealedAnswer is what an issue-key or photo-key answer says of its
// sealed key.
type sealedAnswer struct {
	KeyID     string `json:"key_id"`
	PhotoID   string `json:"photo_id"`
	SealedKey []byte `json:"sealed_key"`
}

// openWithSampleDevice decodes the answer body and opens its sealed key,
// under the info that info makes of it, with the sample device's private
// key (32 bytes of 0x02, events/README.md).
func openWithSampleDevice(t *testing.T, body string, info func(sealedAnswer) []byte) (sealedAnswer, []byte, error) {
	t.Helper()
	var k sealedAnswer
	if err := json.Unmarshal([]byte(body), &k); err != nil {
		t.Fatal(err)
	}
	kem, _ := hpke.NewKEM(core.KEMX25519)
	priv, err := kem.NewPrivateKey(bytes.Repeat([]byte{2}, 32))
	if err != nil {
		t.Fatal(err)
	}
	got, err := core.OpenKey(priv, k.SealedKey, info(k))
	return k, got, err
}

// openSampleKey opens the sealed key of the issue-key event with the sample
// device's private key (32 bytes of 0x02, events/README.md): the data key the
// sample photo was wrapped with comes out.
func openSampleKey(t *testing.T, body string) {
	t.Helper()
	_, got, err := openWithSampleDevice(t, body, func(k sealedAnswer) []byte {
		return core.SealInfo(k.KeyID, samples.Photo, samples.Access)
	})
	if err != nil || !bytes.Equal(got, bytes.Repeat([]byte{7}, 32)) {
		t.Errorf("the sample device cannot open the sealed key to the photo's data key: %v", err)
	}
}

// openSampleOwnerKey opens the sealed key of the photo-key event (the
// patient's own key, sealed to the sample device) with the sample device's
// private key under the owner's info: the photo's data key comes out.
func openSampleOwnerKey(t *testing.T, body string) {
	t.Helper()
	k, got, err := openWithSampleDevice(t, body, func(sealedAnswer) []byte {
		return core.OwnerSealInfo(samples.Photo, samples.Patient)
	})
	if err != nil || k.PhotoID != samples.Photo || !bytes.Equal(got, bytes.Repeat([]byte{7}, 32)) {
		t.Errorf("the sample device cannot open the owner's sealed key to the photo's data key: %v", err)
	}
}

// TestScheduledEvents decodes every scheduled job's sample event strictly, as
// EventBridge sends it to the job's function, and runs the job for the
// event's time on the embedded runtime, as the function does.
func TestScheduledEvents(t *testing.T) {
	rt, err := embedded.Open(embedded.Options{DataDir: t.TempDir(), PublicURL: "http://127.0.0.1:8080"})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	files, _ := filepath.Glob("scheduled/*.json")
	if len(files) != len(jobs.Jobs) {
		t.Errorf("%d scheduled events for %d jobs", len(files), len(jobs.Jobs))
	}
	for _, j := range jobs.Jobs {
		t.Run(j.Name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("scheduled", j.Name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			var ev events.EventBridgeEvent
			if err := dec.Decode(&ev); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if ev.Source != "aws.events" || ev.DetailType != "Scheduled Event" || ev.Time.IsZero() || len(ev.Resources) != 1 ||
				!strings.HasPrefix(ev.Resources[0], "arn:aws:events:"+ev.Region+":"+ev.AccountID+":rule/") {
				t.Errorf("not a scheduled event of an EventBridge rule: %+v", ev)
			}
			res, err := jobs.Run(context.Background(), rt.Service, j.Name, ev.Time, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			switch j.Name {
			case "cleanup":
				if res.Cleanup == nil || !res.Cleanup.Complete {
					t.Errorf("cleanup result %+v", res.Cleanup)
				}
			case "daily-report":
				if want := ev.Time.UTC().Add(-24 * time.Hour).Format(time.DateOnly); res.Report == nil || res.Report.Day != want {
					t.Errorf("reported %+v, want the day %s (the day before the event)", res.Report, want)
				}
			}
		})
	}
}
