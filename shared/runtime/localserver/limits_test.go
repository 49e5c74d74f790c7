package localserver

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/httpapi"
	"github.com/medshare/medshare/shared/runtime/devauth"
	"github.com/medshare/medshare/shared/runtime/ratelimit"
)

// countingInvoker answers 200 to every operation and counts the calls.
type countingInvoker struct{ calls atomic.Int64 }

func (c *countingInvoker) Handle(_ context.Context, _ httpapi.Route, _ events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	c.calls.Add(1)
	return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: `{}`, Headers: map[string]string{"Content-Type": "application/json"}}
}

// limitsFixture is a server with tiny limits: a burst of 2 and a refill so
// slow (one token in 1,000 s) that no token comes back during a test.
type limitsFixture struct {
	h       http.Handler
	inv     *countingInvoker
	tokens  map[string]string
	blobHit atomic.Int64
}

func newLimitsFixture(t *testing.T, limitLoopback bool, withLimits bool) *limitsFixture {
	t.Helper()
	auth, err := devauth.LoadOrCreate(filepath.Join(t.TempDir(), "token.pem"))
	if err != nil {
		t.Fatal(err)
	}
	f := &limitsFixture{inv: &countingInvoker{}, tokens: map[string]string{}}
	for _, who := range []string{"pat-a", "pat-b"} {
		tok, err := auth.Mint(who, core.RolePatient, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[who] = tok
	}
	var limits *Limits
	if withLimits {
		user, err := ratelimit.New(ratelimit.Config{Rate: 0.001, Burst: 2})
		if err != nil {
			t.Fatal(err)
		}
		ip, err := ratelimit.New(ratelimit.Config{Rate: 0.001, Burst: 2})
		if err != nil {
			t.Fatal(err)
		}
		limits = &Limits{User: user, IP: ip, LimitLoopback: limitLoopback}
	}
	f.h = New(Options{
		Handler: f.inv,
		Auth:    auth,
		Blobs: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f.blobHit.Add(1)
			w.WriteHeader(http.StatusOK)
		}),
		BlobPrefix: "/blobs/",
		OpenAPI:    []byte("openapi: 3.1.0\n"),
		Limits:     limits,
	})
	return f
}

type req struct {
	path, from, token string
}

func (f *limitsFixture) do(r req) *httptest.ResponseRecorder {
	hr := httptest.NewRequest(http.MethodGet, r.path, nil)
	hr.RemoteAddr = r.from
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, hr)
	return w
}

func TestRateLimitsPerCaller(t *testing.T) {
	const (
		ip1 = "192.0.2.1:40000"
		ip2 = "192.0.2.2:40000"
	)
	for _, c := range []struct {
		name          string
		limitLoopback bool
		noLimits      bool
		reqs          []req // with tokens named by subject, resolved below
		want          []int
	}{
		{
			name: "authenticated requests by subject, wherever they come from",
			reqs: []req{{"/v1/photos", ip1, "pat-a"}, {"/v1/photos", ip2, "pat-a"}, {"/v1/photos", ip1, "pat-a"}, {"/v1/photos", ip1, "pat-b"}},
			want: []int{200, 200, 429, 200},
		},
		{
			name: "the public route by address",
			reqs: []req{{"/health", ip1, ""}, {"/health", ip1, ""}, {"/health", ip1, ""}, {"/health", ip2, ""}},
			want: []int{200, 200, 429, 200},
		},
		{
			name: "refused tokens by address, valid ones by subject",
			reqs: []req{{"/v1/photos", ip1, "bad"}, {"/v1/photos", ip1, ""}, {"/v1/photos", ip1, "bad"}, {"/v1/photos", ip1, "pat-a"}, {"/v1/photos", ip2, "bad"}},
			want: []int{401, 401, 429, 200, 401},
		},
		{
			name: "blob URLs, the OpenAPI document and unknown paths share the address's bucket",
			reqs: []req{{"/blobs/x", ip1, ""}, {"/openapi.yaml", ip1, ""}, {"/blobs/x", ip1, ""}, {"/nowhere", ip1, ""}, {"/nowhere", ip2, ""}},
			want: []int{200, 200, 429, 429, 404},
		},
		{
			name: "IPv6 clients by /64",
			reqs: []req{{"/health", "[2001:db8::1]:1", ""}, {"/health", "[2001:db8::2]:1", ""}, {"/health", "[2001:db8::ffff]:1", ""}, {"/health", "[2001:db8:0:1::1]:1", ""}},
			want: []int{200, 200, 429, 200},
		},
		{
			name: "IPv4-mapped IPv6 is the IPv4 address",
			reqs: []req{{"/health", "[::ffff:192.0.2.1]:1", ""}, {"/health", ip1, ""}, {"/health", ip1, ""}},
			want: []int{200, 200, 429},
		},
		{
			name: "loopback is exempt from the address limit by default",
			reqs: []req{{"/health", "127.0.0.1:1", ""}, {"/health", "127.0.0.1:1", ""}, {"/health", "127.0.0.1:1", ""}, {"/blobs/x", "[::1]:1", ""}, {"/blobs/x", "[::1]:1", ""}, {"/blobs/x", "[::1]:1", ""}},
			want: []int{200, 200, 200, 200, 200, 200},
		},
		{
			name: "loopback is limited when asked, and users on it still by subject",
			reqs: []req{{"/health", "127.0.0.1:1", ""}, {"/health", "127.0.0.1:1", ""}, {"/health", "127.0.0.1:1", ""}, {"/v1/photos", "127.0.0.1:1", "pat-a"}},
			want: []int{200, 200, 429, 200}, limitLoopback: true,
		},
		{
			name: "no limits",
			reqs: []req{{"/health", ip1, ""}, {"/health", ip1, ""}, {"/health", ip1, ""}, {"/v1/photos", ip1, "pat-a"}, {"/v1/photos", ip1, "pat-a"}, {"/v1/photos", ip1, "pat-a"}},
			want: []int{200, 200, 200, 200, 200, 200}, noLimits: true,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newLimitsFixture(t, c.limitLoopback, !c.noLimits)
			var got []int
			for _, r := range c.reqs {
				if tok, ok := f.tokens[r.token]; ok {
					r.token = tok
				}
				got = append(got, f.do(r).Code)
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRateLimitedAnswer: a 429 has the documented shape and headers, and the
// operation is never run.
func TestRateLimitedAnswer(t *testing.T) {
	f := newLimitsFixture(t, false, true)
	for range 2 {
		if w := f.do(req{"/v1/photos", "192.0.2.1:1", f.tokens["pat-a"]}); w.Code != 200 {
			t.Fatalf("status %d, want 200", w.Code)
		}
	}
	calls := f.inv.calls.Load()
	for _, r := range []req{
		{"/v1/photos", "192.0.2.1:1", f.tokens["pat-a"]},
		{"/health", "192.0.2.9:1", ""}, {"/health", "192.0.2.9:1", ""}, {"/health", "192.0.2.9:1", ""},
	} {
		w := f.do(r)
		if w.Code != http.StatusOK && w.Code != http.StatusTooManyRequests {
			t.Fatalf("%s: status %d", r.path, w.Code)
		}
		if w.Code == http.StatusOK {
			continue
		}
		var body struct {
			Error struct {
				Code      string `json:"code"`
				Message   string `json:"message"`
				RequestID string `json:"request_id"`
			} `json:"error"`
		}
		dec := json.NewDecoder(w.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			t.Fatalf("%s: body is not the error shape: %v", r.path, err)
		}
		h := w.Header()
		got := map[string]string{
			"code":                   body.Error.Code,
			"message set":            map[bool]string{true: "yes", false: "no"}[body.Error.Message != ""],
			"request_id":             body.Error.RequestID,
			"Retry-After":            h.Get("Retry-After"),
			"X-Request-Id":           h.Get("X-Request-Id"),
			"X-Content-Type-Options": h.Get("X-Content-Type-Options"),
			"Content-Type":           h.Get("Content-Type"),
		}
		want := map[string]string{
			"code":                   core.CodeRateLimited,
			"message set":            "yes",
			"request_id":             h.Get("X-Request-Id"),
			"Retry-After":            "1000", // one token in 1,000 s
			"X-Request-Id":           body.Error.RequestID,
			"X-Content-Type-Options": "nosniff",
			"Content-Type":           "application/json",
		}
		if body.Error.RequestID == "" {
			t.Errorf("%s: no request id", r.path)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: 429 answer (-want +got):\n%s", r.path, diff)
		}
	}
	if got := f.inv.calls.Load(); got != calls+2 {
		t.Errorf("the handler ran %d times more, want 2 (the two allowed health checks): a refused request reached it", got-calls)
	}
}
