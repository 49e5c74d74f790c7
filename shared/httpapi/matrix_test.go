package httpapi_test

import (
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/testenv"
	"github.com/medshare/medshare/shared/httpapi"
	"github.com/medshare/medshare/shared/runtime/devauth"
)

type caller struct {
	name string
	sub  string
	role core.Role
}

// The callers of the matrix, in the order they call each route; the owner comes
// last so that destructive calls by others run first.
var matrixCallers = []caller{
	{"none", "", ""},
	{"expired", patient1, core.RolePatient},
	{"forged", patient1, core.RolePatient},
	{"patient2", patient2, core.RolePatient},
	{"pro2", pro2, core.RoleProfessional},
	{"clinic2", clinic2, core.RoleClinic},
	{"clinic1", clinic1, core.RoleClinic},
	{"pro1", pro1, core.RoleProfessional},
	{"patient1", patient1, core.RolePatient},
}

// TestAuthorizationMatrix calls every route as every kind of caller and checks
// the status, and that no caller ever sees another tenant's data.
func TestAuthorizationMatrix(t *testing.T) { forEachRuntime(t, core.Config{}, testAuthorizationMatrix) }

func testAuthorizationMatrix(t *testing.T, env *testenv.Env) {
	registerAppointment(t, env, appt1, clinic1, patient1, pro1)
	img, _ := chatImage(t, env, patient1, core.RolePatient, appt1)
	importLegacy(t, env, appt1, pro1, legacyURL, 100)
	ph1, _ := photo(t, env, patient1, true)
	ph2, _ := photo(t, env, patient1, true)
	sh, ac, ek, note := sharedWith(t, env, patient1, pro1, ph1)

	expired, err := env.Auth.WithClock(func() time.Time { return time.Now().Add(-3 * time.Hour) }).Mint(patient1, core.RolePatient, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, err := devauth.LoadOrCreate(filepath.Join(t.TempDir(), "other.pem"))
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := other.Mint(patient1, core.RolePatient, time.Hour)
	token := func(c caller) string {
		switch c.name {
		case "none":
			return ""
		case "expired":
			return expired
		case "forged":
			return forged
		}
		return env.Token(c.sub, c.role)
	}

	upload := func() any {
		_, sum := testenv.RandomBytes(10)
		key, _ := testenv.RandomBytes(32)
		return map[string]any{"angle": "FRONT", "content_type": "image/png", "size": 10, "sha256": sum, "data_key": key}
	}
	chatUpload := func() any {
		_, sum := testenv.RandomBytes(10)
		// clinic2 registers an appointment appt1 of its own below, with the
		// same participants: they name the clinic.
		return map[string]any{"appointment_id": appt1, "clinic_id": clinic1, "content_type": "image/png", "size": 10, "sha256": sum}
	}
	appointment := func() any {
		now := time.Now().UTC()
		return map[string]any{"patient_id": patient1, "professional_ids": []string{pro1}, "starts_at": now, "ends_at": now.Add(time.Hour)}
	}
	cases := []struct {
		op     string
		method string
		path   string
		body   func() any
		want   map[string]int // by caller name; none/expired/forged default to 401
	}{
		{"health", "GET", "/health", nil, map[string]int{"none": 200, "expired": 200, "forged": 200, "patient2": 200, "pro2": 200, "clinic2": 200, "clinic1": 200, "pro1": 200, "patient1": 200}},
		{"upload-presign", "POST", "/v1/photos", upload, map[string]int{"patient2": 201, "pro2": 403, "clinic2": 403, "clinic1": 403, "pro1": 403, "patient1": 201}},
		{"finalize-upload", "POST", "/v1/photos/" + ph1 + "/finalize", nil, map[string]int{"patient2": 404, "pro2": 403, "clinic2": 403, "clinic1": 403, "pro1": 403, "patient1": 200}},
		{"list-photos", "GET", "/v1/photos", nil, map[string]int{"patient2": 200, "pro2": 403, "clinic2": 403, "clinic1": 403, "pro1": 403, "patient1": 200}},
		{"delete-photo", "DELETE", "/v1/photos/" + ph2, nil, map[string]int{"patient2": 404, "pro2": 403, "clinic2": 403, "clinic1": 403, "pro1": 403, "patient1": 200}},
		{"photo-key", "POST", "/v1/photos/" + ph1 + "/key", func() any { return ownerDeviceBody(t) }, map[string]int{"patient2": 404, "pro2": 403, "clinic2": 403, "clinic1": 403, "pro1": 403, "patient1": 200}},
		{"register-appointment", "PUT", "/v1/appointments/" + appt1, appointment, map[string]int{"patient2": 403, "pro2": 403, "clinic2": 201, "clinic1": 200, "pro1": 403, "patient1": 403}},
		{"chat-upload", "POST", "/api/chat-images", chatUpload, map[string]int{"patient2": 404, "pro2": 404, "clinic2": 403, "clinic1": 403, "pro1": 201, "patient1": 201}},
		{"chat-finalize", "POST", "/api/chat-images/" + img + "/finalize", nil, map[string]int{"patient2": 404, "pro2": 404, "clinic2": 403, "clinic1": 403, "pro1": 403, "patient1": 200}},
		{"chat-signed-url", "GET", "/api/chat-images/" + img + "/signed-url", nil, map[string]int{"patient2": 404, "pro2": 404, "clinic2": 403, "clinic1": 403, "pro1": 200, "patient1": 200}},
		{"chat-resolve", "POST", "/api/chat-images/resolve", func() any { return map[string]any{"url": legacyURL} },
			map[string]int{"patient2": 404, "pro2": 404, "clinic2": 403, "clinic1": 403, "pro1": 200, "patient1": 200}},
		// clinic2's appointment appt1 has the same participants: they name the clinic.
		{"list-chat-images", "GET", "/api/appointments/" + appt1 + "/chat-images?clinic_id=" + clinic1, nil, map[string]int{"patient2": 404, "pro2": 404, "clinic2": 403, "clinic1": 403, "pro1": 200, "patient1": 200}},
		{"create-session", "POST", "/v1/shares", func() any {
			return map[string]any{"professional_id": pro1, "photo_ids": []string{ph1}, "expires_in": 3600, "max_views": 5}
		}, map[string]int{"patient2": 400, "pro2": 403, "clinic2": 403, "clinic1": 403, "pro1": 403, "patient1": 201}},
		{"list-sessions", "GET", "/v1/shares", nil, map[string]int{"patient2": 200, "pro2": 200, "clinic2": 403, "clinic1": 403, "pro1": 200, "patient1": 200}},
		{"get-session", "GET", "/v1/shares/" + sh, nil, map[string]int{"patient2": 404, "pro2": 404, "clinic2": 403, "clinic1": 403, "pro1": 200, "patient1": 200}},
		{"open-access", "POST", "/v1/shares/" + sh + "/access", func() any { return deviceBody(t) },
			map[string]int{"patient2": 403, "pro2": 404, "clinic2": 403, "clinic1": 403, "pro1": 201, "patient1": 403}},
		{"issue-key", "POST", "/v1/access/" + ac + "/photos/" + ph1 + "/key", nil, map[string]int{"patient2": 403, "pro2": 404, "clinic2": 403, "clinic1": 403, "pro1": 201, "patient1": 403}},
		{"signed-url", "POST", "/v1/keys/" + ek + "/signed-url", nil, map[string]int{"patient2": 403, "pro2": 404, "clinic2": 403, "clinic1": 403, "pro1": 200, "patient1": 403}},
		{"list-notifications", "GET", "/v1/notifications", nil, map[string]int{"patient2": 200, "pro2": 200, "clinic2": 200, "clinic1": 200, "pro1": 200, "patient1": 200}},
		{"mark-notification-read", "POST", "/v1/notifications/" + note + "/read", nil, map[string]int{"patient2": 404, "pro2": 404, "clinic2": 404, "clinic1": 404, "pro1": 200, "patient1": 404}},
		{"report-activity", "POST", "/v1/access/" + ac + "/activity", func() any {
			return map[string]any{"events": []map[string]any{{"type": "app_backgrounded", "at": time.Now().UTC()}}}
		}, map[string]int{"patient2": 400, "pro2": 404, "clinic2": 403, "clinic1": 403, "pro1": 200, "patient1": 400}}, // a patient may report only unexpected_access: 400 before any lookup
		{"revoke-session", "POST", "/v1/shares/" + sh + "/revoke", nil, map[string]int{"patient2": 404, "pro2": 403, "clinic2": 403, "clinic1": 403, "pro1": 403, "patient1": 200}},
		{"access-history", "GET", "/v1/audit", nil, map[string]int{"patient2": 200, "pro2": 200, "clinic2": 403, "clinic1": 403, "pro1": 200, "patient1": 200}},
		{"verify-audit", "GET", "/v1/audit/verify", nil, map[string]int{"patient2": 200, "pro2": 200, "clinic2": 403, "clinic1": 403, "pro1": 200, "patient1": 200}},
	}

	// The matrix covers the whole route table, and agrees with its roles.
	var covered []string
	for _, c := range cases {
		covered = append(covered, c.op)
		rt, ok := httpapi.RouteByOp(c.op)
		if !ok || rt.Method != c.method || !strings.HasPrefix(c.path, strings.Split(rt.Path, "{")[0]) {
			t.Fatalf("case %s does not match the route table", c.op)
		}
		for _, who := range matrixCallers[3:] {
			if !rt.Public() && !rt.Allows(who.role) && c.want[who.name] != http.StatusForbidden {
				t.Fatalf("case %s expects %d for %s, but the route table forbids role %s", c.op, c.want[who.name], who.name, who.role)
			}
		}
	}
	for _, rt := range httpapi.Routes() {
		if !slices.Contains(covered, rt.Op) {
			t.Errorf("route %s is not in the authorization matrix", rt.Op)
		}
	}

	// What belongs to patient1 and must never reach anyone else; pro1 takes
	// part in patient1's appointment and is the grantee of ph1, so it may
	// see those two, never ph2. The share's, access's and key's ids must never
	// reach another professional or patient.
	secrets := []string{ph1, ph2, patient1, sh, ac, ek}
	for _, c := range cases {
		for _, who := range matrixCallers {
			t.Run(c.op+"/"+who.name, func(t *testing.T) {
				want, ok := c.want[who.name]
				if !ok {
					want = http.StatusUnauthorized
				}
				var body any
				if c.body != nil {
					body = c.body()
				}
				r := env.Do(c.method, c.path, token(who), body)
				if r.Status != want {
					t.Fatalf("status %d (%s), want %d", r.Status, r.Body, want)
				}
				if want >= 400 {
					wantCode := map[int]string{400: core.CodeInvalid, 401: core.CodeUnauthorized, 403: core.CodeForbidden, 404: core.CodeNotFound, 409: core.CodeConflict}[want]
					if r.Code() != wantCode {
						t.Errorf("code %q, want %q", r.Code(), wantCode)
					}
				}
				if who.sub != patient1 && who.name != "clinic1" && c.op != "register-appointment" {
					for _, s := range secrets {
						if who.name == "pro1" && s != ph2 {
							continue // patient1's appointment's professional and the share's grantee
						}
						if strings.Contains(string(r.Body), s) {
							t.Errorf("%s sees %q of patient1: %s", who.name, s, r.Body)
						}
					}
				}
			})
		}
	}
}

// TestBadInput: every route answers bad input with a 4xx and a stable code,
// never a 5xx, and keeps nothing of a refused request.
func TestBadInput(t *testing.T) {
	forEachRuntime(t, core.Config{MaxUploadBytes: 1 << 20}, testBadInput)
}

func testBadInput(t *testing.T, env *testenv.Env) {
	registerAppointment(t, env, appt1, clinic1, patient1, pro1)
	pat := env.Token(patient1, core.RolePatient)
	cli := env.Token(clinic1, core.RoleClinic)
	unmoved := chainUnmoved(t, env, patient1)

	_, sum := testenv.RandomBytes(1)
	key, _ := testenv.RandomBytes(32)
	good := func(over map[string]any) map[string]any {
		return bodyWith(map[string]any{"angle": "CROWN", "content_type": "image/jpeg", "size": 100, "sha256": sum, "data_key": key}, over)
	}
	chat := func(over map[string]any) map[string]any {
		return bodyWith(map[string]any{"appointment_id": appt1, "content_type": "image/png", "size": 100, "sha256": sum}, over)
	}
	now := time.Now().UTC()
	appt := func(over map[string]any) map[string]any {
		return bodyWith(map[string]any{"patient_id": patient1, "professional_ids": []string{pro1}, "starts_at": now, "ends_at": now.Add(time.Hour)}, over)
	}
	many := make([]string, 21)
	for i := range many {
		many[i] = "pro-x" + string(rune('a'+i))
	}
	huge := `{"angle":"` + strings.Repeat("A", 70<<10) + `"}`
	unknownID := "ph_" + strings.Repeat("a", 26)

	cases := []refusal{
		{"presign/malformed json", "POST", "/v1/photos", pat, `{"angle":`, 400, core.CodeInvalid},
		{"presign/not an object", "POST", "/v1/photos", pat, `[]`, 400, core.CodeInvalid},
		{"presign/two values", "POST", "/v1/photos", pat, `{}{}`, 400, core.CodeInvalid},
		{"presign/empty body", "POST", "/v1/photos", pat, ` `, 400, core.CodeInvalid},
		{"presign/unknown field", "POST", "/v1/photos", pat, good(map[string]any{"owner_id": "x"}), 400, core.CodeInvalid},
		{"presign/size as string", "POST", "/v1/photos", pat, good(map[string]any{"size": "100"}), 400, core.CodeInvalid},
		{"presign/size missing", "POST", "/v1/photos", pat, good(map[string]any{"size": nil}), 400, core.CodeInvalid},
		{"presign/size zero", "POST", "/v1/photos", pat, good(map[string]any{"size": 0}), 400, core.CodeInvalid},
		{"presign/size negative", "POST", "/v1/photos", pat, good(map[string]any{"size": -5}), 400, core.CodeInvalid},
		{"presign/size over limit", "POST", "/v1/photos", pat, good(map[string]any{"size": 2 << 20}), 413, core.CodePayloadTooLarge},
		{"presign/size fraction", "POST", "/v1/photos", pat, good(map[string]any{"size": 1.5}), 400, core.CodeInvalid},
		{"presign/bad angle", "POST", "/v1/photos", pat, good(map[string]any{"angle": "TOP"}), 400, core.CodeInvalid},
		{"presign/lowercase angle", "POST", "/v1/photos", pat, good(map[string]any{"angle": "crown"}), 400, core.CodeInvalid},
		{"presign/bad content type", "POST", "/v1/photos", pat, good(map[string]any{"content_type": "text/html"}), 400, core.CodeInvalid},
		{"presign/sha256 not base64", "POST", "/v1/photos", pat, good(map[string]any{"sha256": "%%%"}), 400, core.CodeInvalid},
		{"presign/sha256 short", "POST", "/v1/photos", pat, good(map[string]any{"sha256": key[:16]}), 400, core.CodeInvalid},
		{"presign/data key short", "POST", "/v1/photos", pat, good(map[string]any{"data_key": key[:31]}), 400, core.CodeInvalid},
		{"presign/data key missing", "POST", "/v1/photos", pat, good(map[string]any{"data_key": nil}), 400, core.CodeInvalid},
		{"presign/metadata too large", "POST", "/v1/photos", pat, good(map[string]any{"metadata": make([]byte, 5000)}), 413, core.CodePayloadTooLarge},
		{"presign/body over 64 KiB", "POST", "/v1/photos", pat, huge, 413, core.CodePayloadTooLarge},
		{"finalize/malformed id", "POST", "/v1/photos/not-an-id/finalize", pat, nil, 400, core.CodeInvalid},
		{"finalize/unknown id", "POST", "/v1/photos/" + unknownID + "/finalize", pat, nil, 404, core.CodeNotFound},
		{"finalize/with body", "POST", "/v1/photos/" + unknownID + "/finalize", pat, `{"x":1}`, 400, core.CodeInvalid},
		{"list/limit zero", "GET", "/v1/photos?limit=0", pat, nil, 400, core.CodeInvalid},
		{"list/limit word", "GET", "/v1/photos?limit=ten", pat, nil, 400, core.CodeInvalid},
		{"list/limit over", "GET", "/v1/photos?limit=101", pat, nil, 400, core.CodeInvalid},
		{"list/limit with a plus sign", "GET", "/v1/photos?limit=%2B5", pat, nil, 400, core.CodeInvalid},
		{"list/limit with a leading zero", "GET", "/v1/photos?limit=05", pat, nil, 400, core.CodeInvalid},
		{"list/limit twice", "GET", "/v1/photos?limit=5&limit=6", pat, nil, 400, core.CodeInvalid},
		{"list/bad cursor", "GET", "/v1/photos?cursor=%21%21", pat, nil, 400, core.CodeInvalid},
		{"list/foreign cursor", "GET", "/v1/photos?cursor=QVVESVQj", pat, nil, 400, core.CodeInvalid},
		{"list/unknown param", "GET", "/v1/photos?owner=pat-2", pat, nil, 400, core.CodeInvalid},
		{"delete/malformed id", "DELETE", "/v1/photos/bad!id", pat, nil, 400, core.CodeInvalid},
		{"delete/unknown id", "DELETE", "/v1/photos/" + unknownID, pat, nil, 404, core.CodeNotFound},
		{"appointment/bad id", "PUT", "/v1/appointments/-bad", cli, appt(nil), 400, core.CodeInvalid},
		{"appointment/no professionals", "PUT", "/v1/appointments/a2", cli, appt(map[string]any{"professional_ids": []string{}}), 400, core.CodeInvalid},
		{"appointment/too many professionals", "PUT", "/v1/appointments/a2", cli, appt(map[string]any{"professional_ids": many}), 400, core.CodeInvalid},
		{"appointment/patient is professional", "PUT", "/v1/appointments/a2", cli, appt(map[string]any{"professional_ids": []string{patient1}}), 400, core.CodeInvalid},
		{"appointment/duplicate professional", "PUT", "/v1/appointments/a2", cli, appt(map[string]any{"professional_ids": []string{pro1, pro1}}), 400, core.CodeInvalid},
		{"appointment/ends before start", "PUT", "/v1/appointments/a2", cli, appt(map[string]any{"ends_at": now.Add(-time.Hour)}), 400, core.CodeInvalid},
		{"appointment/bad time", "PUT", "/v1/appointments/a2", cli, appt(map[string]any{"starts_at": "yesterday"}), 400, core.CodeInvalid},
		{"appointment/bad patient id", "PUT", "/v1/appointments/a2", cli, appt(map[string]any{"patient_id": "a b"}), 400, core.CodeInvalid},
		{"appointment/missing patient", "PUT", "/v1/appointments/a2", cli, appt(map[string]any{"patient_id": nil}), 400, core.CodeInvalid},
		{"appointment/unknown field", "PUT", "/v1/appointments/a2", cli, appt(map[string]any{"room": "3"}), 400, core.CodeInvalid},
		{"chat/unknown appointment", "POST", "/api/chat-images", pat, chat(map[string]any{"appointment_id": "nope"}), 404, core.CodeNotFound},
		{"chat/bad appointment id", "POST", "/api/chat-images", pat, chat(map[string]any{"appointment_id": "../x"}), 400, core.CodeInvalid},
		{"chat/bad content type", "POST", "/api/chat-images", pat, chat(map[string]any{"content_type": "application/pdf"}), 400, core.CodeInvalid},
		{"chat/size negative", "POST", "/api/chat-images", pat, chat(map[string]any{"size": -1}), 400, core.CodeInvalid},
		{"chat/size over limit", "POST", "/api/chat-images", pat, chat(map[string]any{"size": 2 << 20}), 413, core.CodePayloadTooLarge},
		{"chat/sha256 missing", "POST", "/api/chat-images", pat, chat(map[string]any{"sha256": nil}), 400, core.CodeInvalid},
		{"chat/wrong type", "POST", "/api/chat-images", pat, chat(map[string]any{"appointment_id": 7}), 400, core.CodeInvalid},
		{"chat/body over 64 KiB", "POST", "/api/chat-images", pat, huge, 413, core.CodePayloadTooLarge},
		{"chat finalize/malformed id", "POST", "/api/chat-images/ci_x/finalize", pat, nil, 400, core.CodeInvalid},
		{"chat finalize/unknown id", "POST", "/api/chat-images/ci_" + strings.Repeat("b", 26) + "/finalize", pat, nil, 404, core.CodeNotFound},
		{"signed url/malformed id", "GET", "/api/chat-images/" + strings.Repeat("z", 200) + "/signed-url", pat, nil, 400, core.CodeInvalid},
		{"signed url/photo id", "GET", "/api/chat-images/" + unknownID + "/signed-url", pat, nil, 400, core.CodeInvalid},
		{"signed url/unknown id", "GET", "/api/chat-images/ci_" + strings.Repeat("c", 26) + "/signed-url", pat, nil, 404, core.CodeNotFound},
		{"signed url/query", "GET", "/api/chat-images/ci_" + strings.Repeat("c", 26) + "/signed-url?ttl=99999", pat, nil, 400, core.CodeInvalid},
		{"history/limit", "GET", "/v1/audit?limit=-1", pat, nil, 400, core.CodeInvalid},
		{"history/cursor", "GET", "/v1/audit?cursor=bm9wZQ", pat, nil, 400, core.CodeInvalid},
		{"verify/query", "GET", "/v1/audit/verify?from=1", pat, nil, 400, core.CodeInvalid},
		{"unknown route", "GET", "/v1/nothing", pat, nil, 404, core.CodeNotFound},
		{"wrong method", "PATCH", "/v1/photos", pat, nil, 405, core.CodeInvalid},
	}
	wantRefusals(t, env, cases)
	t.Run("content type not json", func(t *testing.T) {
		req, _ := http.NewRequest("POST", env.URL+"/v1/photos", strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+pat)
		req.Header.Set("Content-Type", "text/plain")
		resp, err := env.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("status %d, want 400", resp.StatusCode)
		}
	})

	// Nothing of the refused requests was kept.
	if r := env.Do("GET", "/v1/photos", pat, nil); !strings.Contains(string(r.Body), `"items":[]`) {
		t.Errorf("photos after refused requests: %s", r.Body)
	}
	unmoved("on refused requests")
	if strings.Contains(env.Logs.String(), `"level":"ERROR"`) {
		t.Errorf("bad input logged errors:\n%s", env.Logs.String())
	}
}
