package embedded_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/runtime/embedded"
)

// BenchmarkServeChatSignedURL is one chat signed URL through the whole local
// server (route, token, event, handler, service, store, answer), as `medshare
// serve` runs it with its JSON request log, without the network: the
// per-request work of the issue 14 benchmark's first row, one request at a
// time (so one write per commit).
func BenchmarkServeChatSignedURL(b *testing.B) {
	dir := b.TempDir()
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	defer srv.Close()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	rt, err := embedded.Open(embedded.Options{DataDir: filepath.Join(dir, "data"), PublicURL: srv.URL, Log: log})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close()
	h = rt.HTTPHandler(log)
	mint := func(sub string, role core.Role) string {
		tok, err := rt.Auth.Mint(sub, role, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		return tok
	}
	ctx := context.Background()
	now := time.Now().UTC()
	if err := client.New(srv.URL, mint("clinic-1", core.RoleClinic)).Do(ctx, "PUT", "/v1/appointments/appt-1", nil, map[string]any{
		"patient_id": "pat-1", "professional_ids": []string{"pro-1"}, "starts_at": now, "ends_at": now.Add(time.Hour)}, nil); err != nil {
		b.Fatal(err)
	}
	img, err := client.New(srv.URL, mint("pat-1", core.RolePatient)).UploadChatImage(ctx, "appt-1", "image/png", []byte("png bytes"))
	if err != nil {
		b.Fatal(err)
	}
	tok := "Bearer " + mint("pro-1", core.RoleProfessional)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("GET", "/api/chat-images/"+img.ImageID+"/signed-url", nil)
		req.Header.Set("Authorization", tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}
