package httpapi

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/medshare/medshare/shared/core"
)

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string // "" means no header
	}{
		{"whole seconds", core.ErrRateLimited(90*time.Second, "slow down"), "90"},
		{"rounded up", core.ErrRateLimited(1500*time.Millisecond, "slow down"), "2"},
		{"wrapped", errors.Join(errors.New("context"), core.ErrRateLimited(time.Minute, "slow down")), "60"},
		{"no delay given", core.ErrRateLimited(0, "slow down"), ""},
		{"not rate limited", core.ErrNotFound("nothing"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := errorResponse(tc.err, "rq-1")
			got, ok := resp.Headers["Retry-After"]
			if tc.want == "" && ok || tc.want != "" && got != tc.want {
				t.Errorf("Retry-After = %q (present %v), want %q", got, ok, tc.want)
			}
		})
	}
}

// TestRefusalHidingAFailureIsLogged: a 404 that hides a failed audit append
// (core's denyUnseen) logs the failure, which the answer does not show.
func TestRefusalHidingAFailureIsLogged(t *testing.T) {
	var buf bytes.Buffer
	h := &Handler{log: slog.New(slog.NewJSONHandler(&buf, nil))}
	plain := core.ErrNotFound("chat image not found")
	h.logRequest(context.Background(), "chat-signed-url", "rq-1", 404, plain, time.Millisecond)
	if strings.Contains(buf.String(), `"error"`) || strings.Contains(buf.String(), `"WARN"`) {
		t.Errorf("a plain 404 logs an error: %s", buf.String())
	}
	buf.Reset()
	var hidden error = &core.Error{Kind: core.KindNotFound, Code: core.CodeNotFound, Message: "chat image not found", Err: errors.New("audit trail down")}
	h.logRequest(context.Background(), "chat-signed-url", "rq-2", 404, hidden, time.Millisecond)
	if !strings.Contains(buf.String(), "audit trail down") || !strings.Contains(buf.String(), `"WARN"`) {
		t.Errorf("a 404 hiding a failure: log %s, want a warning with the failure", buf.String())
	}
	if body := errorResponse(hidden, "rq-2").Body; strings.Contains(body, "audit") {
		t.Errorf("the answer shows the hidden failure: %s", body)
	}
}
