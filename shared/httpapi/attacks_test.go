package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/blob/localblob"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/devicekeytest"
	"github.com/medshare/medshare/shared/devtools/testenv"
	"github.com/medshare/medshare/shared/httpapi"
	"github.com/medshare/medshare/shared/runtime/devauth"
	"github.com/medshare/medshare/shared/store/storetest"
)

// Attacks by callers with valid accounts (issue 10 §2): input and identity.

// TestBadDeviceKeysAtOpenAccess: every bad public key of every KEM is
// refused at open-access with 400 invalid_request, before anything is bound
// or written; the share's only device slot stays free, so a real device
// then opens it and its views work.
func TestBadDeviceKeysAtOpenAccess(t *testing.T) {
	forEachRuntime(t, core.Config{}, testBadDeviceKeysAtOpenAccess)
}

func testBadDeviceKeysAtOpenAccess(t *testing.T, env *testenv.Env) {
	ctx := t.Context()
	pat := client.New(env.URL, env.Token(patient1, core.RolePatient))
	plain := bytes.Repeat([]byte("a photo "), 100)
	ph, err := pat.UploadPhoto(ctx, "CROWN", "image/jpeg", plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	sh, err := pat.CreateShare(ctx, client.ShareRequest{ProfessionalID: pro1, PhotoIDs: []string{ph}, ExpiresIn: 3600, MaxViews: 5}, "")
	if err != nil {
		t.Fatal(err)
	}
	var view struct {
		MaxDevices int `json:"max_devices"`
	}
	env.Do("GET", "/v1/shares/"+sh.ShareID, env.Token(patient1, core.RolePatient), nil).JSON(t, &view)
	if view.MaxDevices != 1 {
		t.Fatalf("max_devices = %d, want the default 1", view.MaxDevices)
	}
	unmoved := chainUnmoved(t, env, patient1)
	inbox := notificationCount(t, env, patient1, core.RolePatient)

	tok := env.Token(pro1, core.RoleProfessional)
	for _, k := range devicekeytest.Bad(t) {
		t.Run(k.Name, func(t *testing.T) {
			r := env.Do("POST", "/v1/shares/"+sh.ShareID+"/access", tok, map[string]any{
				"kem": k.KEM, "device_public_key": k.Key, "device_fingerprint": "bogus device",
			})
			if r.Status != http.StatusBadRequest || r.Code() != core.CodeInvalid {
				t.Errorf("status %d %s, want 400 %s", r.Status, r.Body, core.CodeInvalid)
			}
		})
	}

	unmoved("on refused keys")
	if n := notificationCount(t, env, patient1, core.RolePatient); n != inbox {
		t.Errorf("the patient got %d notifications on refused keys", n-inbox)
	}
	gc := client.New(env.URL, tok)
	dev, err := client.NewDevice(core.KEMMLKEM768X25519)
	if err != nil {
		t.Fatal(err)
	}
	a, err := gc.OpenAccess(ctx, sh.ShareID, dev)
	if err != nil {
		t.Fatalf("a real device after the refused keys: %v", err)
	}
	got, err := gc.ViewPhoto(ctx, dev, a.AccessID, ph)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("view on the real device: %v", err)
	}
	if s, _ := pat.GetShare(ctx, sh.ShareID); s.ViewsUsed != 1 {
		t.Errorf("views_used = %d, want 1", s.ViewsUsed)
	}
}

// TestIssueKeyToUnsealableStoredKey: an access stored with a key the server
// cannot seal to (possible only for data written before open-access checked
// keys) makes issue-key answer 400, never a 5xx, and spends no view.
func TestIssueKeyToUnsealableStoredKey(t *testing.T) {
	forEachRuntime(t, core.Config{}, testIssueKeyToUnsealableStoredKey)
}

func testIssueKeyToUnsealableStoredKey(t *testing.T, env *testenv.Env) {
	ctx := t.Context()
	pat := client.New(env.URL, env.Token(patient1, core.RolePatient))
	ph, err := pat.UploadPhoto(ctx, "CROWN", "image/jpeg", []byte("a photo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	created, err := pat.CreateShare(ctx, client.ShareRequest{ProfessionalID: pro1, PhotoIDs: []string{ph}, ExpiresIn: 3600, MaxViews: 5}, "")
	if err != nil {
		t.Fatal(err)
	}
	store := env.Store
	sh := storetest.GetShare(t, store, created.ShareID)
	now := env.Clock.Now()
	a := storetest.NewAccess(sh, "legacy device", now)
	a.KEM, a.DevicePublicKey, a.SourceIP = core.KEMX25519, make([]byte, 32), ""
	storetest.MustOpen(t, store, a, now)

	r := env.Do("POST", "/v1/access/"+a.ID+"/photos/"+ph+"/key", env.Token(pro1, core.RoleProfessional), nil)
	wantRefusal(t, r, http.StatusBadRequest, core.CodeInvalid)
	if got, _ := pat.GetShare(ctx, sh.ID); got.ViewsUsed != 0 {
		t.Errorf("views_used = %d after a refused issue-key, want 0", got.ViewsUsed)
	}
	if strings.Contains(env.Logs.String(), `"level":"ERROR"`) {
		t.Errorf("the refusal logged an error:\n%s", env.Logs.String())
	}
}

func notificationCount(t *testing.T, env *testenv.Env, sub string, role core.Role) int {
	t.Helper()
	var page struct {
		Items []json.RawMessage `json:"items"`
	}
	r := env.Do("GET", "/v1/notifications?limit=100", env.Token(sub, role), nil)
	if r.Status != http.StatusOK {
		t.Fatalf("notifications: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &page)
	return len(page.Items)
}

// reservedSubjects are ids no token may carry: the service's own actors, and
// the rest of the prefix they share, in any case.
var reservedSubjects = []string{core.DetectorID, core.CleanupID, core.ReportRecipient, "medshare-admin", "MEDSHARE-Detector", "Medshare-ops"}

// TestSystemIdentitiesRefused: a token whose subject is one of the service's
// own actors cannot read anything, in any role, whether the local server
// checked the token or (as API Gateway's authorizer does in AWS) the handler
// receives its claims as they are; and no token may carry the system role.
// The detector has records in patient1's chain to find.
func TestSystemIdentitiesRefused(t *testing.T) {
	forEachRuntime(t, core.Config{}, testSystemIdentitiesRefused)
}

func testSystemIdentitiesRefused(t *testing.T, env *testenv.Env) {
	ctx := t.Context()
	registerAppointment(t, env, appt1, clinic1, patient1, pro1)
	img, _ := chatImage(t, env, patient1, core.RolePatient, appt1)
	ph, _ := photo(t, env, patient1, true)
	sh, ac, ek, _ := sharedWith(t, env, patient1, pro1, ph)
	gc := client.New(env.URL, env.Token(pro1, core.RoleProfessional))
	if _, err := gc.ClaimKey(ctx, ek); err != nil {
		t.Fatal(err)
	}
	// A replayed claim raises the detector's failed_claim signal, recorded
	// in patient1's chain with the detector as actor.
	if _, err := gc.ClaimKey(ctx, ek); client.Code(err) != core.CodeKeyUsed {
		t.Fatalf("replayed claim: %v, want %s", err, core.CodeKeyUsed)
	}
	var detected bool
	for _, rec := range history(t, env, patient1, core.RolePatient) {
		detected = detected || rec.ActorID == core.DetectorID
	}
	if !detected {
		t.Fatal("the detector has no record in patient1's chain")
	}

	ids := map[string]string{"id": img, "share_id": sh, "access_id": ac, "photo_id": ph, "key_id": ek, "notification_id": "nt_" + strings.Repeat("a", 26), "appointment_id": appt1}
	h := httpapi.NewHandler(env.Service, slog.New(slog.DiscardHandler))
	roles := []core.Role{core.RolePatient, core.RoleProfessional, core.RoleClinic}
	for _, sub := range reservedSubjects {
		for _, role := range roles {
			tok := env.SignToken(map[string]any{"sub": sub, "cognito:groups": []string{string(role)}})
			for _, rt := range httpapi.Routes() {
				if rt.Public() {
					continue
				}
				path := fillPath(rt.Path, ids)
				t.Run(fmt.Sprintf("%s/%s/%s", sub, role, rt.Op), func(t *testing.T) {
					r := env.Do(rt.Method, path, tok, nil)
					if r.Status != http.StatusUnauthorized || r.Code() != core.CodeUnauthorized {
						t.Errorf("through the server: %d %s, want 401", r.Status, r.Body)
					}
					ev := apiEvent(rt, ids, map[string]string{"sub": sub, "cognito:groups": httpapi.FormatGroups([]string{string(role)})})
					resp := h.Handle(ctx, rt, ev)
					if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Body, `"code":"unauthorized"`) {
						t.Errorf("claims as the authorizer passes them: %d %s, want 401", resp.StatusCode, resp.Body)
					}
					for _, body := range []string{string(r.Body), resp.Body} {
						if strings.Contains(body, patient1) {
							t.Errorf("a system identity sees patient1: %s", body)
						}
					}
				})
			}
		}
	}

	// The system role is nobody's: alone, or beside a real role.
	for _, groups := range [][]string{{string(core.RoleSystem)}, {string(core.RoleSystem), string(core.RolePatient)}, {"SYSTEM"}} {
		t.Run(fmt.Sprintf("groups %v", groups), func(t *testing.T) {
			tok := env.SignToken(map[string]any{"sub": patient1, "cognito:groups": groups})
			if r := env.Do("GET", "/v1/audit", tok, nil); r.Status != http.StatusForbidden || r.Code() != core.CodeForbidden {
				t.Errorf("status %d %s, want 403", r.Status, r.Body)
			}
		})
	}
}

// TestReservedIDsAsUsers: no user id the API accepts may be a system
// actor's: a share cannot name one as its professional (its notifications
// would land in the operators' inbox), nor an appointment as a participant.
func TestReservedIDsAsUsers(t *testing.T) { forEachRuntime(t, core.Config{}, testReservedIDsAsUsers) }

func testReservedIDsAsUsers(t *testing.T, env *testenv.Env) {
	ph, _ := photo(t, env, patient1, true)
	pat := env.Token(patient1, core.RolePatient)
	cli := env.Token(clinic1, core.RoleClinic)
	now := time.Now().UTC()
	for _, id := range reservedSubjects {
		t.Run(id, func(t *testing.T) {
			r := env.Do("POST", "/v1/shares", pat, map[string]any{"professional_id": id, "photo_ids": []string{ph}, "expires_in": 3600, "max_views": 1})
			wantRefusal(t, r, http.StatusBadRequest, core.CodeInvalid)
			r = env.Do("PUT", "/v1/appointments/appt-r", cli, map[string]any{"patient_id": id, "professional_ids": []string{pro1}, "starts_at": now, "ends_at": now.Add(time.Hour)})
			wantRefusal(t, r, http.StatusBadRequest, core.CodeInvalid)
			r = env.Do("PUT", "/v1/appointments/appt-r", cli, map[string]any{"patient_id": patient1, "professional_ids": []string{pro1, id}, "starts_at": now, "ends_at": now.Add(time.Hour)})
			wantRefusal(t, r, http.StatusBadRequest, core.CodeInvalid)
		})
	}
}

var pathParamPattern = regexp.MustCompile(`\{([a-z_]+)\}`)

// fillPath puts ids[name] (or the name itself when absent) in each {name}.
func fillPath(path string, ids map[string]string) string {
	return pathParamPattern.ReplaceAllStringFunc(path, func(m string) string {
		name := m[1 : len(m)-1]
		if v, ok := ids[name]; ok {
			return v
		}
		return name
	})
}

// apiEvent is the payload 2.0 event API Gateway sends for rt with the JWT
// authorizer's claims.
func apiEvent(rt httpapi.Route, ids, claims map[string]string) events.APIGatewayV2HTTPRequest {
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: rt.RouteKey(), RawPath: fillPath(rt.Path, ids),
		Headers: map[string]string{},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: rt.RouteKey(), RequestID: core.NewID("rq"),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: rt.Method, Path: fillPath(rt.Path, ids), SourceIP: "198.51.100.7", UserAgent: "attack/1"},
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
			},
		},
	}
	for _, m := range pathParamPattern.FindAllStringSubmatch(rt.Path, -1) {
		if ev.PathParameters == nil {
			ev.PathParameters = map[string]string{}
		}
		ev.PathParameters[m[1]] = fillPath(m[0], ids)
	}
	return ev
}

// jsonHeaders are a request's headers with a bearer token and a content type.
func jsonHeaders(token, contentType string) map[string][]string {
	h := map[string][]string{"Authorization": {"Bearer " + token}}
	if contentType != "" {
		h["Content-Type"] = []string{contentType}
	}
	return h
}

// TestStrictDecoding: field names match exactly, a name given twice is
// refused, the body must be declared application/json (with at most a UTF-8
// charset), strings must be valid UTF-8, and a route that takes no body
// refuses one. Each refusal is 400 invalid_request in the documented shape,
// and nothing of a refused request is kept.
func TestStrictDecoding(t *testing.T) { forEachRuntime(t, core.Config{}, testStrictDecoding) }

func testStrictDecoding(t *testing.T, env *testenv.Env) {
	registerAppointment(t, env, appt1, clinic1, patient1, pro1)
	pat := env.Token(patient1, core.RolePatient)
	unmoved := chainUnmoved(t, env, patient1)
	_, sum := testenv.RandomBytes(100)
	key, _ := testenv.RandomBytes(32)
	b64 := func(b []byte) string { j, _ := json.Marshal(b); return string(j) }
	// presign is an upload-presign body with the members in order, as text,
	// so that a case can repeat a member or change a name's case.
	presign := func(members ...string) string {
		return "{" + strings.Join(members, ",") + "}"
	}
	angle, ctype, size := `"angle":"CROWN"`, `"content_type":"image/jpeg"`, `"size":100`
	sha, dk := `"sha256":`+b64(sum), `"data_key":`+b64(key)
	good := presign(angle, ctype, size, sha, dk)
	const jsonType = "application/json"

	refused := []struct {
		name, contentType, body string
	}{
		{"name in another case", jsonType, presign(`"Angle":"CROWN"`, ctype, size, sha, dk)},
		{"all names upper case", jsonType, strings.ToUpper(good)},
		{"name given twice, same value", jsonType, presign(angle, angle, ctype, size, sha, dk)},
		{"name given twice, last valid", jsonType, presign(`"angle":"TOP"`, angle, ctype, size, sha, dk)},
		{"name given twice, first valid", jsonType, presign(angle, `"angle":"TOP"`, ctype, size, sha, dk)},
		{"name given twice, other case", jsonType, presign(angle, `"ANGLE":"CROWN"`, ctype, size, sha, dk)},
		{"name given twice, escaped", jsonType, presign(angle, `"\u0061ngle":"CROWN"`, ctype, size, sha, dk)},
		{"no content type", "", good},
		{"content type application/jsonx", "application/jsonx", good},
		{"content type text/plain", "text/plain", good},
		{"content type application/json-patch+json", "application/json-patch+json", good},
		{"content type with another charset", "application/json; charset=latin1", good},
		{"content type with another parameter", "application/json; version=2", good},
		{"content type malformed", "application/json; charset", good},
		{"content type list", "application/json, text/plain", good},
		{"invalid UTF-8 in a string", jsonType, presign(`"angle":"CROWN`+"\xff"+`"`, ctype, size, sha, dk)},
	}
	for _, c := range refused {
		t.Run("presign/"+c.name, func(t *testing.T) {
			r := env.DoRaw("POST", "/v1/photos", jsonHeaders(pat, c.contentType), c.body)
			wantRefusal(t, r, http.StatusBadRequest, core.CodeInvalid)
		})
	}
	t.Run("presign/two content type headers", func(t *testing.T) {
		h := jsonHeaders(pat, jsonType)
		h["Content-Type"] = append(h["Content-Type"], jsonType)
		wantRefusal(t, env.DoRaw("POST", "/v1/photos", h, good), http.StatusBadRequest, core.CodeInvalid)
	})
	t.Run("activity/name given twice in an event", func(t *testing.T) {
		at := time.Now().UTC().Format(time.RFC3339)
		body := `{"events":[{"type":"screenshot","type":"app_backgrounded","at":"` + at + `"}]}`
		r := env.DoRaw("POST", "/v1/access/ac_"+strings.Repeat("a", 26)+"/activity", jsonHeaders(env.Token(pro1, core.RoleProfessional), jsonType), body)
		wantRefusal(t, r, http.StatusBadRequest, core.CodeInvalid)
	})

	// What the rules still accept: the media type in any case, a UTF-8
	// charset, quoted or not.
	for _, ct := range []string{"application/json", "Application/JSON", "application/json; charset=utf-8", "application/json;charset=UTF-8", `application/json; charset="utf-8"`} {
		t.Run("presign accepts "+ct, func(t *testing.T) {
			if r := env.DoRaw("POST", "/v1/photos", jsonHeaders(pat, ct), good); r.Status != http.StatusCreated {
				t.Errorf("status %d %s, want 201", r.Status, r.Body)
			}
		})
	}

	// A route that takes no body refuses one, whatever it holds; a route
	// whose body is optional (revoke) takes none, or JSON.
	ids := map[string]string{
		"photo_id": "ph_" + strings.Repeat("a", 26), "id": "ci_" + strings.Repeat("a", 26),
		"share_id": "sh_" + strings.Repeat("a", 26), "access_id": "ac_" + strings.Repeat("a", 26),
		"key_id": "ek_" + strings.Repeat("a", 26), "notification_id": "nt_" + strings.Repeat("a", 26),
		"appointment_id": appt1,
	}
	for _, rt := range httpapi.Routes() {
		if rt.Body != httpapi.BodyNone {
			continue
		}
		tok := ""
		if !rt.Public() {
			tok = env.Token(testSubjectOf(rt.Roles[0]), rt.Roles[0])
		}
		for _, body := range []string{`{}`, ` `, `null`} {
			t.Run(fmt.Sprintf("%s with body %q", rt.Op, body), func(t *testing.T) {
				h := jsonHeaders(tok, jsonType)
				if tok == "" {
					delete(h, "Authorization")
				}
				wantRefusal(t, env.DoRaw(rt.Method, fillPath(rt.Path, ids), h, body), http.StatusBadRequest, core.CodeInvalid)
			})
		}
	}

	// Nothing of the refused requests was kept: only the accepted photos
	// exist, and they are still pending (no audit record yet).
	var photos struct {
		Items []struct {
			Status string `json:"status"`
		} `json:"items"`
	}
	env.Do("GET", "/v1/photos", pat, nil).JSON(t, &photos)
	if len(photos.Items) != 5 {
		t.Errorf("%d photos after 5 accepted presigns", len(photos.Items))
	}
	unmoved("on refused requests")
}

// testSubjectOf is a user of role in these tests.
func testSubjectOf(role core.Role) string {
	switch role {
	case core.RolePatient:
		return patient1
	case core.RoleProfessional:
		return pro1
	}
	return clinic1
}

// wantRefusal checks a refusal's status, code and shape: the documented
// error body, with the request id the header carries.
func wantRefusal(t *testing.T, r testenv.Response, status int, code string) {
	t.Helper()
	if r.Status != status || r.Code() != code {
		t.Errorf("status %d %s, want %d %s", r.Status, r.Body, status, code)
		return
	}
	var e struct {
		Error struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &e); err != nil || e.Error.Message == "" || e.Error.RequestID == "" {
		t.Errorf("body %s is not the documented error shape", r.Body)
	}
	if got := r.Header.Get("X-Request-Id"); got != e.Error.RequestID {
		t.Errorf("X-Request-Id %q, body's request_id %q", got, e.Error.RequestID)
	}
}

// TestForbiddenBeforeBadInput: a role that may never call a route gets 403
// forbidden, whatever else is wrong with the request: a malformed path id,
// a malformed body of the wrong type (or any body where none is taken), an
// unknown query parameter. Every route, every role it does not allow.
func TestForbiddenBeforeBadInput(t *testing.T) {
	forEachRuntime(t, core.Config{}, testForbiddenBeforeBadInput)
}

func testForbiddenBeforeBadInput(t *testing.T, env *testenv.Env) {
	malformed := []struct {
		name        string
		query       string
		contentType string
		body        string
	}{
		{"malformed path id", "", "", ""},
		{"malformed body", "", "application/json", `{"angle":`},
		{"body of another type", "", "text/plain", `{}`},
		{"unknown field", "", "application/json", `{"owner_id":"pat-2"}`},
		{"unknown query parameter", "?owner=pat-2", "", ""},
		{"all at once", "?limit=-1&x=1", "text/xml", "<x/>"},
	}
	var checked int
	for _, rt := range httpapi.Routes() {
		for _, role := range []core.Role{core.RolePatient, core.RoleProfessional, core.RoleClinic} {
			if rt.Public() || rt.Allows(role) {
				continue
			}
			checked++
			tok := env.Token(testSubjectOf(role), role)
			for _, m := range malformed {
				t.Run(fmt.Sprintf("%s/%s/%s", rt.Op, role, m.name), func(t *testing.T) {
					path := pathParamPattern.ReplaceAllString(rt.Path, "not!an!id") + m.query
					r := env.DoRaw(rt.Method, path, jsonHeaders(tok, m.contentType), m.body)
					wantRefusal(t, r, http.StatusForbidden, core.CodeForbidden)
				})
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d route and role pairs are forbidden: the route table changed?", checked)
	}
}

// TestEveryAnswerHasNosniffAndRequestID walks every route and every kind of
// answer (success, the gateway's own 401, 404, 405 and 413, the handler's
// 400, 403 and 404), /health, /openapi.yaml and the blob URLs, and checks that
// each carries X-Content-Type-Options: nosniff and a request id, which an
// error body repeats.
func TestEveryAnswerHasNosniffAndRequestID(t *testing.T) {
	forEachRuntime(t, core.Config{}, testEveryAnswerHasNosniffAndRequestID)
}

func testEveryAnswerHasNosniffAndRequestID(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	pc := client.New(env.URL, env.Token(patient1, core.RolePatient))
	ids := map[string]string{
		"photo_id": "ph_" + strings.Repeat("a", 26), "id": "ci_" + strings.Repeat("a", 26), "share_id": "sh_" + strings.Repeat("a", 26),
		"access_id": "ac_" + strings.Repeat("a", 26), "key_id": "ek_" + strings.Repeat("a", 26),
		"notification_id": "nt_" + strings.Repeat("a", 26), "appointment_id": appt1,
	}
	check := func(t *testing.T, what string, r testenv.Response) {
		t.Helper()
		if got := r.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s (%d): X-Content-Type-Options %q, want nosniff", what, r.Status, got)
		}
		id := r.Header.Get("X-Request-Id")
		if id == "" {
			t.Errorf("%s (%d): no X-Request-Id", what, r.Status)
		}
		if r.Status >= 400 {
			var e struct {
				Error struct{ Code, Message, RequestID string } `json:"error"`
			}
			if err := json.Unmarshal(r.Body, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Errorf("%s (%d): body %q is not the documented error shape", what, r.Status, r.Body)
			}
			var raw struct {
				Error struct {
					RequestID string `json:"request_id"`
				} `json:"error"`
			}
			_ = json.Unmarshal(r.Body, &raw)
			if raw.Error.RequestID == "" || raw.Error.RequestID != id {
				t.Errorf("%s (%d): request_id %q in the body, %q in the header", what, r.Status, raw.Error.RequestID, id)
			}
		}
	}
	huge := `{"x":"` + strings.Repeat("a", httpapi.MaxBodyBytes) + `"}`
	for _, rt := range httpapi.Routes() {
		path := fillPath(rt.Path, ids)
		allowed := core.RolePatient
		if !rt.Public() {
			allowed = rt.Roles[0]
		}
		tok := env.Token(testSubjectOf(allowed), allowed)
		t.Run(rt.Op, func(t *testing.T) {
			body := ""
			if rt.Body == httpapi.BodyRequired {
				body = `{}`
			}
			check(t, "allowed role", env.DoRaw(rt.Method, path, jsonHeaders(tok, "application/json"), body))
			check(t, "malformed path", env.DoRaw(rt.Method, pathParamPattern.ReplaceAllString(rt.Path, "x!x")+"?zz=1", jsonHeaders(tok, "text/plain"), "x"))
			check(t, "body too large", env.DoRaw(rt.Method, path, jsonHeaders(tok, "application/json"), huge))
			check(t, "wrong method", env.DoRaw("PATCH", path, jsonHeaders(tok, ""), ""))
			if rt.Public() {
				return
			}
			check(t, "no token", env.DoRaw(rt.Method, path, nil, ""))
			check(t, "bad token", env.DoRaw(rt.Method, path, jsonHeaders("x.y.z", ""), ""))
			check(t, "reserved subject", env.DoRaw(rt.Method, path, jsonHeaders(env.SignToken(map[string]any{"sub": core.DetectorID, "cognito:groups": []string{string(allowed)}}), ""), ""))
			for _, role := range []core.Role{core.RolePatient, core.RoleProfessional, core.RoleClinic} {
				if !rt.Allows(role) {
					check(t, "forbidden role", env.DoRaw(rt.Method, path, jsonHeaders(env.Token(testSubjectOf(role), role), ""), ""))
				}
			}
		})
	}
	check(t, "unknown route", env.DoRaw("GET", "/v2/nothing", nil, ""))
	check(t, "openapi", env.DoRaw("GET", "/openapi.yaml", nil, ""))
	check(t, "health", env.DoRaw("GET", "/health", nil, ""))

	if env.RT == nil {
		return // AWS: the objects are S3's, not this server's
	}
	// The embedded blob URLs: a download, an upload, and their refusals.
	var up struct {
		Upload testenv.Upload `json:"upload"`
	}
	data, sum := testenv.RandomBytes(64)
	dk, _ := testenv.RandomBytes(32)
	r := env.Do("POST", "/v1/photos", env.Token(patient1, core.RolePatient), map[string]any{"angle": "BACK", "content_type": "image/png", "size": 64, "sha256": sum, "data_key": dk})
	r.JSON(t, &up)
	put := func(u string, h map[string]string, body []byte) testenv.Response {
		return env.Send(testenv.Upload{Method: "PUT", URL: u, Headers: h}, body)
	}
	check(t, "blob put, wrong bytes", put(up.Upload.URL, up.Upload.Headers, make([]byte, 64)))
	check(t, "blob put, short", put(up.Upload.URL, up.Upload.Headers, data[:10]))
	check(t, "blob put, bad signature", put(strings.Replace(up.Upload.URL, localblob.ParamSignature+"=", localblob.ParamSignature+"=00", 1), up.Upload.Headers, data))
	check(t, "blob put", put(up.Upload.URL, up.Upload.Headers, data))
	blob := strings.SplitN(up.Upload.URL, "?", 2)[0]
	check(t, "blob get, unsigned", env.Get(blob))
	check(t, "blob get, bad key", env.Get(env.URL+"/blobs/UPPER!case"))
	check(t, "blob delete", env.DoRaw("DELETE", strings.TrimPrefix(blob, env.URL), nil, ""))

	ph, err := pc.UploadPhoto(ctx, "FRONT", "image/png", []byte("photo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := client.NewDevice(core.KEMX25519)
	if err != nil {
		t.Fatal(err)
	}
	sh, err := pc.CreateShare(ctx, client.ShareRequest{ProfessionalID: pro1, PhotoIDs: []string{ph}, ExpiresIn: 3600, MaxViews: 2}, "")
	if err != nil {
		t.Fatal(err)
	}
	gc := client.New(env.URL, env.Token(pro1, core.RoleProfessional))
	a, err := gc.OpenAccess(ctx, sh.ShareID, dev)
	if err != nil {
		t.Fatal(err)
	}
	k, err := gc.IssueKey(ctx, a.AccessID, ph)
	if err != nil {
		t.Fatal(err)
	}
	u, err := gc.ClaimKey(ctx, k.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "blob get", env.Get(u.URL))
	check(t, "blob head", env.DoRaw("HEAD", strings.TrimPrefix(u.URL, env.URL), nil, ""))
	env.Clock.Advance(2 * time.Minute)
	check(t, "blob get, expired", env.Get(u.URL))
}

// TestOverlongTokensRefused: the local server refuses a token signed with
// its own key whose expiry is more than devauth.MaxTTL away (401, like an
// expired one), and accepts one that expires within it.
func TestOverlongTokensRefused(t *testing.T) {
	forEachRuntime(t, core.Config{}, testOverlongTokensRefused)
}

func testOverlongTokensRefused(t *testing.T, env *testenv.Env) {
	for _, c := range []struct {
		name   string
		exp    time.Time
		status int
	}{
		{"expires within the longest lifetime", time.Now().Add(devauth.MaxTTL - time.Hour), http.StatusOK},
		{"expires past the longest lifetime", time.Now().Add(devauth.MaxTTL + time.Hour), http.StatusUnauthorized},
		{"expires in ten years", time.Now().AddDate(10, 0, 0), http.StatusUnauthorized},
	} {
		t.Run(c.name, func(t *testing.T) {
			tok := env.SignToken(map[string]any{"sub": patient1, "cognito:groups": []string{"patient"}, "exp": c.exp.Unix()})
			r := env.Do("GET", "/v1/photos", tok, nil)
			if r.Status != c.status {
				t.Errorf("GET /v1/photos: %d %s, want %d", r.Status, r.Body, c.status)
			}
			if c.status == http.StatusUnauthorized {
				wantRefusal(t, r, http.StatusUnauthorized, core.CodeUnauthorized)
			}
		})
	}
}
