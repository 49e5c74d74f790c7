package embedded_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hpke"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/wiretest"
	"github.com/medshare/medshare/shared/httpapi"
)

// Fuzz targets of the HTTP edge (issue 10 §3). Each input runs on a fresh
// copy of the fuzz world (fuzzworld_test.go). The invariants are those of
// wiretest.Check for every answer: no 5xx, a request id and nosniff, every
// refusal in the documented shape with a code from the closed set. After
// the fuzzed request, probes read and use the world as its parties would
// (lists, keys on every access, the audit trail and its verification): an
// input that was accepted must not have stored anything that makes a later
// request fail with a 5xx or breaks the audit chain.
//
// `make test` runs each target for a few seconds, `make fuzz` longer;
// `go test` runs the seeds below and testdata/fuzz as regression tests.
// docs/FUZZING.md records what they found.

// fuzzCallers are the callers an input can be, as the JWT authorizer passes
// their claims; nil is no authorizer at all.
var fuzzCallers = []map[string]string{
	{"sub": fzPatient, "cognito:groups": "[patient]"},
	{"sub": fzPro, "cognito:groups": "[professional]"},
	{"sub": fzClinic, "cognito:groups": "[clinic]"},
	{"sub": fzStranger, "cognito:groups": "[patient]"},
	{"sub": fzStranger, "cognito:groups": "[professional]"},
	nil,
	{"sub": fzPro, "cognito:groups": "[patient professional]"},
	// The last one takes the input's own sub and groups.
	{},
}

// fuzzEvent is the payload 2.0 event of one fuzz input, as API Gateway would
// send it: the route's path parameters (the world's ids where the flags say
// so, else segments of params), the query, headers ("name: value" lines),
// the body, and the caller's claims.
func fuzzEvent(w *fuzzWorld, route httpapi.Route, caller uint8, params, query, headers, body, sub, groups, ua string, flags uint8) events.APIGatewayV2HTTPRequest {
	ev := events.APIGatewayV2HTTPRequest{
		Version:  "2.0",
		RouteKey: route.RouteKey(),
		Headers:  map[string]string{},
		Body:     body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:  route.RouteKey(),
			RequestID: "fuzz-request",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: route.Method, Path: route.Path, SourceIP: "203.0.113.7", UserAgent: ua,
			},
		},
		IsBase64Encoded: flags&0x40 != 0,
	}
	segments := strings.Split(params, "/")
	path := route.Path
	for i, m := range regexp.MustCompile(`\{([a-z_]+)\}`).FindAllStringSubmatch(route.Path, -1) {
		if ev.PathParameters == nil {
			ev.PathParameters = map[string]string{}
		}
		v := ""
		if i < len(segments) {
			v = segments[i]
		}
		if flags&(1<<i) != 0 {
			v = w.ids[m[1]]
		}
		ev.PathParameters[m[1]] = v
		path = strings.Replace(path, m[0], url.PathEscape(v), 1)
	}
	ev.RawPath, ev.RequestContext.HTTP.Path = path, path
	if q, _ := url.ParseQuery(query); len(q) > 0 {
		ev.RawQueryString = query
		ev.QueryStringParameters = map[string]string{}
		for k, v := range q {
			ev.QueryStringParameters[k] = strings.Join(v, ",")
		}
	}
	sc := bufio.NewScanner(strings.NewReader(headers))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok {
			ev.Headers[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
	claims := fuzzCallers[int(caller)%len(fuzzCallers)]
	if claims != nil {
		if len(claims) == 0 {
			claims = map[string]string{"sub": sub, "cognito:groups": groups}
		}
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
		}
	}
	return ev
}

// checkLambda fails t unless resp is a good answer to a request with
// method and request id reqID.
func checkLambda(t *testing.T, what, method, reqID string, resp events.APIGatewayV2HTTPResponse) {
	t.Helper()
	h := http.Header{}
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	if err := wiretest.Check(method, resp.StatusCode, h, []byte(resp.Body)); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if got := h.Get("X-Request-Id"); got != reqID {
		t.Fatalf("%s: X-Request-Id %q, want the event's %q", what, got, reqID)
	}
}

// probe uses the world after an input as its parties would, through the
// local server, and fails t on any 5xx, any answer out of shape, or an audit
// chain that no longer verifies. ids are ids the input's answer named
// (a new access, key, share, photo): they are used too.
func probe(t *testing.T, w *fuzzWorld, answer []byte) {
	t.Helper()
	ids := map[string]string{}
	for k, v := range w.ids {
		ids[k] = v
	}
	var named map[string]any
	if json.Unmarshal(answer, &named) == nil {
		for _, k := range []string{"access_id", "key_id", "share_id", "photo_id", "image_id"} {
			if v, ok := named[k].(string); ok && v != "" {
				ids[k+"#new"] = v
			}
		}
	}
	type req struct {
		method, path string
		sub          string
		role         core.Role
	}
	reqs := []req{
		{"GET", "/v1/shares", fzPatient, core.RolePatient},
		{"GET", "/v1/shares", fzPro, core.RoleProfessional},
		{"GET", "/v1/shares/" + ids["share_id"], fzPro, core.RoleProfessional},
		{"GET", "/v1/photos", fzPatient, core.RolePatient},
		{"GET", "/v1/notifications", fzPatient, core.RolePatient},
		{"GET", "/v1/notifications", fzPro, core.RoleProfessional},
		{"GET", "/v1/notifications", fzClinic, core.RoleClinic},
		{"GET", "/v1/audit", fzPatient, core.RolePatient},
		{"GET", "/v1/audit", fzPro, core.RoleProfessional},
		{"GET", "/api/chat-images/" + ids["id"] + "/signed-url", fzPro, core.RoleProfessional},
		{"POST", "/v1/access/" + ids["access_id"] + "/photos/" + ids["photo_id"] + "/key", fzPro, core.RoleProfessional},
	}
	if v := ids["share_id#new"]; v != "" {
		reqs = append(reqs, req{"GET", "/v1/shares/" + v, fzPatient, core.RolePatient})
	}
	if v := ids["access_id#new"]; v != "" {
		reqs = append(reqs, req{"POST", "/v1/access/" + v + "/photos/" + ids["photo_id"] + "/key", fzPro, core.RoleProfessional})
	}
	if v := ids["key_id#new"]; v != "" {
		reqs = append(reqs, req{"POST", "/v1/keys/" + v + "/signed-url", fzPro, core.RoleProfessional})
	}
	reqs = append(reqs, req{"POST", "/v1/keys/" + ids["key_id"] + "/signed-url", fzPro, core.RoleProfessional})
	for _, r := range reqs {
		hr := httptest.NewRequest(r.method, fuzzBaseURL+r.path, nil)
		hr.Header.Set("Authorization", "Bearer "+w.token(t, r.sub, r.role))
		rec := w.serve(hr)
		if err := wiretest.Check(r.method, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			t.Fatalf("after the input, %s %s as %s: %v", r.method, r.path, r.sub, err)
		}
	}
	for _, who := range []struct {
		sub  string
		role core.Role
	}{{fzPatient, core.RolePatient}, {fzPro, core.RoleProfessional}} {
		hr := httptest.NewRequest("GET", fuzzBaseURL+"/v1/audit/verify", nil)
		hr.Header.Set("Authorization", "Bearer "+w.token(t, who.sub, who.role))
		rec := w.serve(hr)
		var v struct {
			Valid bool `json:"valid"`
		}
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &v) != nil || !v.Valid {
			t.Fatalf("after the input, the audit trail of %s does not verify: status %d %s", who.sub, rec.Code, rec.Body)
		}
	}
}

// fuzzSeeds are valid and near-valid requests of every route, by operation:
// caller, params, query, headers, body and flags (bits 0 and 1: the world's
// ids for the first and second path parameters; bit 6: a base64 body).
type fuzzSeed struct {
	op                           string
	caller                       uint8
	params, query, headers, body string
	flags                        uint8
}

func handlerSeeds(tb testing.TB) []fuzzSeed {
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	sum := b64(bytes.Repeat([]byte{1}, 32))
	dev := func(kem uint16) string {
		k, err := hpke.NewKEM(kem)
		if err != nil {
			tb.Fatal(err)
		}
		p, err := k.GenerateKey()
		if err != nil {
			tb.Fatal(err)
		}
		return fmt.Sprintf(`{"kem":%d,"device_public_key":%q,"device_fingerprint":"phone-1"}`, kem, b64(p.PublicKey().Bytes()))
	}
	const js = "content-type: application/json"
	const (
		patient, pro, clinic, strangerPat, strangerPro, anon, twoRoles, own uint8 = 0, 1, 2, 3, 4, 5, 6, 7
	)
	return []fuzzSeed{
		{"health", anon, "", "", "", "", 0},
		{"health", patient, "", "x=1", "", "", 0},
		{"upload-presign", patient, "", "", js, fmt.Sprintf(`{"angle":"CROWN","content_type":"image/jpeg","size":2048,"sha256":%q,"data_key":%q}`, sum, sum), 0},
		{"upload-presign", patient, "", "", js, fmt.Sprintf(`{"angle":"CROWN","content_type":"image/jpeg","size":2048,"sha256":%q,"data_key":%q,"metadata":"bWV0YQ=="}`, sum, sum), 0},
		{"upload-presign", patient, "", "", js, `{"angle":"crown","size":-1,"sha256":"!!","data_key":null}`, 0},
		{"upload-presign", patient, "", "", js, `{"angle":"CROWN","angle":"FRONT","Size":1}`, 0},
		{"upload-presign", patient, "", "", "", b64([]byte(`{"angle":"CROWN"}`)), 0x40},
		{"upload-presign", pro, "", "", "content-type: text/plain", `[]`, 0},
		{"finalize-upload", patient, "", "", "", "", 1},
		{"finalize-upload", patient, "ph_aaaaaaaaaaaaaaaaaaaaaaaaaa", "", "", "", 0},
		{"list-photos", patient, "", "limit=2&cursor=", "", "", 0},
		{"list-photos", patient, "", "limit=0&cursor=%ff", "", "", 0},
		{"delete-photo", patient, "", "", "", "", 1},
		{"register-appointment", clinic, "fz-appt-2", "", js, `{"patient_id":"fz-patient","professional_ids":["fz-pro","fz-stranger"],"starts_at":"2026-03-14T16:00:00Z","ends_at":"2026-03-14T17:00:00Z"}`, 0},
		{"register-appointment", clinic, "", "", js, `{"patient_id":"fz-patient","professional_ids":["fz-pro"],"starts_at":"2026-03-14T16:00:00Z","ends_at":"2026-03-14T17:00:00Z"}`, 1},
		{"register-appointment", clinic, "x", "", js, `{"patient_id":"","professional_ids":null,"starts_at":"yesterday"}`, 0},
		{"chat-upload", patient, "", "", js, fmt.Sprintf(`{"appointment_id":"fz-appt-1","content_type":"image/png","size":100,"sha256":%q}`, sum), 0},
		{"chat-upload", strangerPro, "", "", js, fmt.Sprintf(`{"appointment_id":"fz-appt-1","content_type":"image/png","size":100,"sha256":%q}`, sum), 0},
		{"chat-finalize", patient, "", "", "", "", 1},
		{"chat-signed-url", pro, "", "", "", "", 1},
		{"chat-signed-url", strangerPro, "", "", "", "", 1},
		{"create-session", patient, "", "", js + "\nidempotency-key: k-1", `{"professional_id":"fz-pro","angles":["CROWN"],"expires_in":600,"max_views":3,"access_window":60,"max_devices":1,"screenshot_policy":"revoke","purpose":"second opinion"}`, 0},
		{"create-session", patient, "", "", js, `{"professional_id":"fz-pro","photo_ids":["ph_aaaaaaaaaaaaaaaaaaaaaaaaaa"],"expires_in":1e99,"max_views":3}`, 0},
		{"list-sessions", pro, "", "limit=1", "", "", 0},
		{"get-session", patient, "", "", "", "", 1},
		{"get-session", strangerPat, "", "", "", "", 1},
		{"revoke-session", patient, "", "", "", "", 1},
		{"open-access", pro, "", "", js, dev(core.KEMX25519), 1},
		{"open-access", pro, "", "", js, dev(core.KEMP256), 1},
		{"open-access", pro, "", "", js, dev(core.KEMMLKEM768X25519), 1},
		{"open-access", pro, "", "", js, fmt.Sprintf(`{"kem":32,"device_public_key":%q,"device_fingerprint":"zero"}`, b64(make([]byte, 32))), 1},
		{"open-access", pro, "", "", js, `{"kem":16,"device_public_key":"BA==","device_fingerprint":"p"}`, 1},
		{"issue-key", pro, "", "", "", "", 3},
		{"issue-key", strangerPro, "", "", "", "", 3},
		{"signed-url", pro, "", "", "", "", 1},
		{"report-activity", pro, "", "", js, `{"events":[{"type":"screenshot","at":"2026-03-14T15:09:00Z","details":"home screen"}]}`, 1},
		{"report-activity", patient, "", "", js, `{"events":[{"type":"unexpected_access","at":"2026-03-14T15:09:00Z"}]}`, 1},
		{"report-activity", pro, "", "", js, `{"events":[{"type":"copy_attempt","at":"2026-03-14T15:09:00+01:00","details":"\u0007"},{"type":"app_backgrounded","at":"0001-01-01T00:00:00Z"}]}`, 1},
		{"list-notifications", clinic, "", "limit=100", "", "", 0},
		{"mark-notification-read", pro, "", "", "", "", 1},
		{"access-history", pro, "", "limit=5", "", "", 0},
		{"verify-audit", patient, "", "", "", "", 0},
		{"verify-audit", twoRoles, "", "", "", "", 0},
		{"list-sessions", own, "", "", "", "", 0},
	}
}

// FuzzHandler sends one fuzzed event to the handler of a route, as API
// Gateway would after its JWT authorizer: path ids, query, headers, body
// and claims.
func FuzzHandler(f *testing.F) {
	world := worldTemplate(f)
	for _, s := range handlerSeeds(f) {
		i := routeIndex(f, s.op)
		f.Add(uint8(i), s.caller, s.params, s.query, s.headers, s.body, "medshare-fuzz", "[patient]", "MedShare/1.0", s.flags)
	}
	f.Fuzz(func(t *testing.T, route, caller uint8, params, query, headers, body, sub, groups, ua string, flags uint8) {
		w := world(t)
		rt := httpapi.Routes()[int(route)%len(httpapi.Routes())]
		ev := fuzzEvent(w, rt, caller, params, query, headers, body, sub, groups, ua, flags)
		resp := w.rt.Handler.Handle(context.Background(), rt, ev)
		checkLambda(t, rt.Op, rt.Method, ev.RequestContext.RequestID, resp)
		probe(t, w, []byte(resp.Body))
	})
}

func routeIndex(tb testing.TB, op string) int {
	for i, r := range httpapi.Routes() {
		if r.Op == op {
			return i
		}
	}
	tb.Fatalf("no route %s", op)
	return 0
}

// FuzzLocalServer sends one fuzzed HTTP request to the local server that
// `medshare serve` runs: any method and path (the API, the blob URLs,
// /openapi.yaml, no route at all), query, headers, body, and a bearer token
// that is valid (modes 1 to 3), a valid one with the input appended (mode
// 4), or the input's own Authorization header (mode 0) or token (mode 5).
// Every answer must pass wiretest.Check; a 401 must say unauthorized and
// name the scheme; and the probes must still find the world sound.
func FuzzLocalServer(f *testing.F) {
	world := worldTemplate(f)
	seeds := []struct {
		method, path, query string
		auth                uint8
		authz, headers      string
		body                []byte
	}{
		{"GET", "/health", "", 0, "", "", nil},
		{"GET", "/openapi.yaml", "", 0, "", "", nil},
		{"GET", "/v1/photos", "limit=1", 1, "", "", nil},
		{"GET", "/v1/photos", "", 0, "Bearer", "", nil},
		{"GET", "/v1/photos", "", 0, "Basic Zm9vOmJhcg==", "", nil},
		{"GET", "/v1/photos", "", 0, "bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJmei1wYXRpZW50In0.", "", nil},
		{"GET", "/v1/shares", "", 4, "x", "", nil},
		{"GET", "/v1/shares", "", 4, "  ", "", nil},
		{"GET", "/v1/shares", "", 5, "a.b.c", "", nil},
		{"POST", "/v1/photos", "", 1, "", "Content-Type: application/json", []byte(`{"angle":"CROWN"}`)},
		{"POST", "/v1/photos", "", 1, "", "Content-Type: application/json", []byte{0xff, 0xfe, '{', '}'}},
		{"POST", "/v1/photos", "", 1, "", "Content-Type: application/json", bytes.Repeat([]byte(" "), httpapi.MaxBodyBytes+1)},
		{"DELETE", "/v1/shares", "", 1, "", "", nil},
		{"PATCH", "/v1/photos/ph_x", "", 1, "", "", nil},
		{"GET", "/v1/photos//finalize", "", 1, "", "", nil},
		{"GET", "/nowhere", "", 0, "", "", nil},
		{"GET", "/blobs/photos/x", "X-Medshare-Expires=1&X-Medshare-Signature=00", 0, "", "", nil},
		{"PUT", "/blobs/photos/x", "X-Medshare-Expires=1&X-Medshare-Length=1&X-Medshare-Sha256=00&X-Medshare-Signature=00", 0, "", "", []byte("x")},
		{"POST", "/v1/shares/sh_x/access", "", 2, "", "Content-Type: application/json", []byte(`{"kem":32}`)},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.query, s.auth, s.authz, s.headers, s.body)
	}
	f.Fuzz(func(t *testing.T, method, path, query string, auth uint8, authz, headers string, body []byte) {
		w := world(t)
		r, err := http.NewRequest(method, fuzzBaseURL+"/"+strings.TrimPrefix(path, "/"), bytes.NewReader(body))
		if err != nil {
			return // not a request a server can receive
		}
		r.URL.RawQuery = query
		sc := bufio.NewScanner(strings.NewReader(headers))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && httpToken(strings.TrimSpace(k)) {
				r.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
		}
		roles := []struct {
			sub  string
			role core.Role
		}{{fzPatient, core.RolePatient}, {fzPro, core.RoleProfessional}, {fzClinic, core.RoleClinic}}
		switch m := auth % 6; m {
		case 0:
			if authz != "" {
				r.Header.Set("Authorization", authz)
			}
		case 1, 2, 3:
			r.Header.Set("Authorization", "Bearer "+w.token(t, roles[m-1].sub, roles[m-1].role))
		case 4:
			r.Header.Set("Authorization", "Bearer "+w.token(t, fzPro, core.RoleProfessional)+authz)
		case 5:
			r.Header.Set("Authorization", "Bearer "+authz)
		}
		rec := w.serve(r)
		if err := wiretest.Check(method, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			t.Fatalf("%s %s: %v", method, r.URL.Path, err)
		}
		if rec.Code == http.StatusUnauthorized && method != http.MethodHead {
			if !strings.Contains(rec.Body.String(), `"code":"unauthorized"`) || rec.Header().Get("WWW-Authenticate") == "" {
				t.Fatalf("%s %s: a 401 must say unauthorized and name the scheme: %s %v", method, r.URL.Path, rec.Body, rec.Header())
			}
		}
		probe(t, w, rec.Body.Bytes())
	})
}

// httpToken reports whether s is a valid header name.
func httpToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c > 0x7e || c <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c) {
			return false
		}
	}
	return true
}
