package localserver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestAnswersOutsideTheRoutes: the answers ServeMux writes itself (its
// redirects of unclean paths) carry nosniff and a request id like every
// other answer, and a request with two Authorization headers is refused
// with 401 in the documented shape, never answered as one of them.
func TestAnswersOutsideTheRoutes(t *testing.T) {
	f := newLimitsFixture(t, false, false)
	for _, path := range []string{"/v1//photos", "/v1/photos/../audit", "/blobs"} {
		t.Run("redirect "+path, func(t *testing.T) {
			w := f.do(req{path: path, from: "192.0.2.1:1"})
			if w.Code/100 != 3 {
				t.Fatalf("status %d, want ServeMux's redirect", w.Code)
			}
			if got := w.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", got)
			}
			if w.Header().Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
		})
	}

	t.Run("two Authorization headers", func(t *testing.T) {
		hr := httptest.NewRequest(http.MethodGet, "/v1/photos", nil)
		hr.RemoteAddr = "192.0.2.1:1"
		hr.Header.Add("Authorization", "Bearer "+f.tokens["pat-a"])
		hr.Header.Add("Authorization", "Bearer "+f.tokens["pat-b"])
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, hr)
		var e struct {
			Error struct {
				Code      string `json:"code"`
				RequestID string `json:"request_id"`
			} `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || w.Code != http.StatusUnauthorized || e.Error.Code != "unauthorized" {
			t.Fatalf("%d %s, want 401 unauthorized", w.Code, w.Body)
		}
		if id := w.Header().Get("X-Request-Id"); id == "" || id != e.Error.RequestID {
			t.Errorf("X-Request-Id %q, request_id %q: want the same, not empty", id, e.Error.RequestID)
		}
		if n := f.inv.calls.Load(); n != 0 {
			t.Errorf("the handler ran %d times, want 0", n)
		}
	})
}
