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
	"github.com/medshare/medshare/shared/jobs"
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
	for _, j := range jobs.Jobs {
		if slices.Contains(ops, j.Name) {
			t.Errorf("job %s has the name of an operation", j.Name)
		}
		ops = append(ops, j.Name)
		src, err := os.ReadFile(filepath.Join("../../functions", j.Name, "main.go"))
		if err != nil {
			t.Errorf("job %s has no function: %v", j.Name, err)
			continue
		}
		if !strings.Contains(string(src), `lambdafn.BuildJob(context.Background(), "`+j.Name+`", os.Getenv)`) {
			t.Errorf("functions/%s/main.go does not build job %s", j.Name, j.Name)
		}
	}
	for _, d := range dirs {
		if !slices.Contains(ops, d) {
			t.Errorf("functions/%s is neither an operation of the route table nor a job", d)
		}
	}
}

func TestBuildJob(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	env := map[string]string{
		"MEDSHARE_TABLE": "t", "MEDSHARE_BUCKET": "b", "MEDSHARE_KMS_KEY_ID": "alias/k", "MEDSHARE_TOPIC_ARN": "arn:aws:sns:us-east-1:000000000000:t",
	}
	for _, j := range jobs.Jobs {
		if _, err := BuildJob(context.Background(), j.Name, func(k string) string { return env[k] }); err != nil {
			t.Errorf("build %s: %v", j.Name, err)
		}
	}
	if _, err := BuildJob(context.Background(), "issue-key", func(k string) string { return env[k] }); err == nil {
		t.Error("built an operation as a job")
	}
	if _, err := BuildJob(context.Background(), "cleanup", func(string) string { return "" }); err == nil {
		t.Error("built a job without its environment")
	}
}

func TestBuild(t *testing.T) {
	// Cold start makes no AWS call: a function builds with no AWS reachable.
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	base := map[string]string{
		"MEDSHARE_TABLE": "t", "MEDSHARE_BUCKET": "b", "MEDSHARE_KMS_KEY_ID": "alias/k", "MEDSHARE_TOPIC_ARN": "arn:aws:sns:us-east-1:000000000000:t",
	}
	for _, r := range httpapi.Routes {
		if r.Public() {
			continue // health would call the emulators; the RIE test covers it
		}
		t.Run(r.Op, func(t *testing.T) {
			h, err := Build(context.Background(), r.Op, func(k string) string { return base[k] })
			if err != nil {
				t.Fatalf("build: %v", err)
			}
			// A request without the authorizer's claims is refused before
			// any AWS call.
			resp, err := h(context.Background(), events.APIGatewayV2HTTPRequest{RouteKey: r.RouteKey()})
			if err != nil {
				t.Fatalf("invoke: %v", err)
			}
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status %d (%s), want 401", resp.StatusCode, resp.Body)
			}
		})
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range base {
			m[a] = b
		}
		m[k] = v
		return m
	}
	for _, c := range []struct {
		name string
		op   string
		env  map[string]string
	}{
		{"unknown operation", "nope", base},
		{"no table", "health", with("MEDSHARE_TABLE", "")},
		{"no bucket", "health", with("MEDSHARE_BUCKET", "")},
		{"no key", "health", with("MEDSHARE_KMS_KEY_ID", "")},
		{"no topic", "health", with("MEDSHARE_TOPIC_ARN", "")},
		{"bad path style", "health", with("MEDSHARE_S3_PATH_STYLE", "sometimes")},
		{"bad chat ttl", "health", with("MEDSHARE_CHAT_URL_TTL", "forever")},
		{"bad max upload", "health", with("MEDSHARE_MAX_UPLOAD_BYTES", "-1")},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Build(context.Background(), c.op, func(k string) string { return c.env[k] }); err == nil {
				t.Error("build succeeded, want an error")
			}
		})
	}
}
