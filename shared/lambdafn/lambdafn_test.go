package lambdafn

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/medshare/medshare/shared/httpapi"
)

// TestEveryRouteHasAFunction: functions/ holds exactly one main package per
// operation of the route table, and each one wires through Build.
func TestEveryRouteHasAFunction(t *testing.T) {
	entries, err := os.ReadDir("../../functions")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	var ops []string
	for _, r := range httpapi.Routes {
		ops = append(ops, r.Op)
		src, err := os.ReadFile(filepath.Join("../../functions", r.Op, "main.go"))
		if err != nil {
			t.Errorf("route %s has no function: %v", r.Op, err)
			continue
		}
		if !strings.Contains(string(src), `lambdafn.Build(context.Background(), "`+r.Op+`", os.Getenv)`) {
			t.Errorf("functions/%s/main.go does not build operation %s", r.Op, r.Op)
		}
	}
	for _, d := range dirs {
		if !slices.Contains(ops, d) {
			t.Errorf("functions/%s is not an operation of the route table", d)
		}
	}
}

func TestBuild(t *testing.T) {
	for _, r := range httpapi.Routes {
		t.Run(r.Op, func(t *testing.T) {
			env := map[string]string{EnvBackend: "embedded", EnvDataDir: t.TempDir(), EnvPublicURL: "http://127.0.0.1:9"}
			h, err := Build(context.Background(), r.Op, func(k string) string { return env[k] })
			if err != nil {
				t.Fatalf("build: %v", err)
			}
			// A request without the authorizer's claims is refused by every
			// non-public operation; health answers.
			resp, err := h(context.Background(), events.APIGatewayV2HTTPRequest{RouteKey: r.RouteKey()})
			if err != nil {
				t.Fatalf("invoke: %v", err)
			}
			want := http.StatusUnauthorized
			if r.Public() {
				want = http.StatusOK
			}
			if resp.StatusCode != want {
				t.Errorf("status %d (%s), want %d", resp.StatusCode, resp.Body, want)
			}
		})
	}
	for _, c := range []struct {
		name string
		op   string
		env  map[string]string
	}{
		{"unknown operation", "nope", map[string]string{EnvBackend: "embedded", EnvDataDir: t.TempDir()}},
		{"no data dir", "health", map[string]string{EnvBackend: "embedded"}},
		{"aws without table", "health", map[string]string{EnvBackend: "aws", "MEDSHARE_BUCKET": "b", "MEDSHARE_KMS_KEY_ID": "k", "MEDSHARE_TOPIC_ARN": "t"}},
		{"unknown backend", "health", map[string]string{EnvBackend: "mainframe", EnvDataDir: t.TempDir()}},
		{"bad chat ttl", "health", map[string]string{EnvBackend: "embedded", EnvDataDir: t.TempDir(), "MEDSHARE_CHAT_URL_TTL": "forever"}},
		{"bad max upload", "health", map[string]string{EnvBackend: "embedded", EnvDataDir: t.TempDir(), "MEDSHARE_MAX_UPLOAD_BYTES": "-1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Build(context.Background(), c.op, func(k string) string { return c.env[k] }); err == nil {
				t.Error("build succeeded, want an error")
			}
		})
	}
}
