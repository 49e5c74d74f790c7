package httpapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/testenv"
	"github.com/medshare/medshare/shared/httpapi/wire"
)

// legacyURL is an old chat message's image URL, as the legacy chat's export
// (and the message) holds it.
const legacyURL = "https://old-chat.nyc3.digitaloceanspaces.com/images/2022/07/0b9f2c41.jpg"

type resolveResp struct {
	Status    string     `json:"status"`
	ImageID   string     `json:"image_id"`
	URL       string     `json:"url"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// importLegacy imports url into appt (of clinic1) as the migration's first
// step does: an IMPORTED image sent by sender, not yet copied.
func importLegacy(t *testing.T, env *testenv.Env, appt, sender, url string, size int64) core.ChatImage {
	t.Helper()
	ctx := context.Background()
	img, err := env.Service.PrepareLegacyImage(ctx, core.LegacyImport{ClinicID: clinic1, AppointmentID: appt, SenderID: sender,
		URL: url, SentAt: time.Now().UTC().Add(-400 * 24 * time.Hour).Truncate(time.Second), ContentType: "image/jpeg", Size: size})
	if err != nil {
		t.Fatal(err)
	}
	stored, created, err := env.Service.ImportLegacyImage(ctx, img)
	if err != nil || !created {
		t.Fatalf("import %s: created %v, %v", url, created, err)
	}
	return stored
}

// migrateLegacy copies data into private storage under img's key and
// completes img, as the migration's last steps do.
func migrateLegacy(t *testing.T, env *testenv.Env, img core.ChatImage, data []byte) {
	t.Helper()
	ctx := context.Background()
	imp, ok := env.Blobs.(core.ObjectImporter)
	if !ok {
		t.Fatalf("%s's blob store imports no object", env.Name)
	}
	sum := sha256.Sum256(data)
	info, err := imp.Import(ctx, img.ObjectKey(), img.ContentType, bytes.NewReader(data), int64(len(data)), sum[:])
	if err != nil {
		t.Fatal(err)
	}
	if _, completed, err := env.Service.CompleteLegacyImage(ctx, "run-test", img.ID, info, img.ContentType); err != nil || !completed {
		t.Fatalf("complete %s: completed %v, %v", img.ID, completed, err)
	}
}

func resolve(env *testenv.Env, sub string, role core.Role, body any) testenv.Response {
	env.T.Helper()
	return env.Do("POST", "/api/chat-images/resolve", env.Token(sub, role), body)
}

// TestChatResolve: an old message's URL resolves for the participants of
// the appointment its image was imported into, and for nobody else, before
// and after the migration; a stranger gets exactly the answer of a URL that
// was never imported; every resolution is in the patient's audit trail; a
// migrated legacy image is listed and signed as any chat image.
func TestChatResolve(t *testing.T) { forEachRuntime(t, core.Config{}, testChatResolve) }

func testChatResolve(t *testing.T, env *testenv.Env) {
	registerAppointment(t, env, appt1, clinic1, patient1, pro1)
	registerAppointment(t, env, "appt-2", clinic1, patient2, pro2)
	data, _ := testenv.RandomBytes(4096)
	img := importLegacy(t, env, appt1, pro1, legacyURL, int64(len(data)))
	// The same file was posted in another appointment of other people: its
	// participants resolve their own image, never appt1's.
	other := importLegacy(t, env, "appt-2", patient2, legacyURL, int64(len(data)))

	unknown := resolve(env, patient1, core.RolePatient, map[string]any{"url": "https://old-chat.nyc3.digitaloceanspaces.com/images/never-imported.jpg"})
	if unknown.Status != http.StatusNotFound {
		t.Fatalf("unknown url: status %d %s, want 404", unknown.Status, unknown.Body)
	}
	var unknownErr wire.Error
	unknown.JSON(t, &unknownErr)

	before := time.Now()
	for _, tc := range []struct {
		name string
		sub  string
		role core.Role
		url  string
	}{
		{"patient", patient1, core.RolePatient, legacyURL},
		{"professional", pro1, core.RoleProfessional, legacyURL},
		// The message's URL as the app may hold it: another case in the
		// host, a query string of the old CDN.
		{"patient, url as the app holds it", patient1, core.RolePatient, strings.Replace(legacyURL, "old-chat.nyc3", "Old-Chat.NYC3", 1) + "?v=2"},
	} {
		t.Run("before migration/"+tc.name, func(t *testing.T) {
			r := resolve(env, tc.sub, tc.role, map[string]any{"url": tc.url})
			if r.Status != http.StatusOK {
				t.Fatalf("status %d %s, want 200", r.Status, r.Body)
			}
			var got resolveResp
			r.JSON(t, &got)
			if got.Status != "legacy" || got.URL != legacyURL || got.ImageID != "" || got.ExpiresAt == nil {
				t.Fatalf("got %+v, want status legacy, the old URL and an expiry", got)
			}
			if got.ExpiresAt.After(time.Now().Add(core.LegacyURLTTL)) || got.ExpiresAt.Before(before) {
				t.Errorf("expires at %v: want within the hour", got.ExpiresAt)
			}
		})
	}
	t.Run("stranger", func(t *testing.T) {
		// pro2 and patient2 take part in appt-2, whose image has the same
		// URL: they get their own image, not appt1's. A third party gets
		// exactly the answer of a URL that was never imported.
		r := resolve(env, pro2, core.RoleProfessional, map[string]any{"url": legacyURL})
		var got resolveResp
		r.JSON(t, &got)
		if r.Status != http.StatusOK || got.Status != "legacy" {
			t.Fatalf("pro2: %d %s, want their own image's legacy answer", r.Status, r.Body)
		}
		for _, who := range []struct {
			sub  string
			role core.Role
		}{{"pro-3", core.RoleProfessional}, {"pat-3", core.RolePatient}} {
			r := resolve(env, who.sub, who.role, map[string]any{"url": legacyURL})
			if r.Status != http.StatusNotFound {
				t.Fatalf("%s: status %d %s, want 404", who.sub, r.Status, r.Body)
			}
			var e wire.Error
			r.JSON(t, &e)
			if e.Error.Code != unknownErr.Error.Code || e.Error.Message != unknownErr.Error.Message {
				t.Errorf("%s: %+v, want the unknown URL's answer %+v", who.sub, e.Error, unknownErr.Error)
			}
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			sub  string
			role core.Role
			body any
			want int
			code string
		}{
			{"no url", patient1, core.RolePatient, map[string]any{}, 400, core.CodeInvalid},
			{"empty url", patient1, core.RolePatient, map[string]any{"url": ""}, 400, core.CodeInvalid},
			{"no body", patient1, core.RolePatient, nil, 400, core.CodeInvalid},
			{"not https", patient1, core.RolePatient, map[string]any{"url": "ftp://old-chat.example/a.jpg"}, 400, core.CodeInvalid},
			{"not a url", patient1, core.RolePatient, map[string]any{"url": "0b9f2c41.jpg"}, 400, core.CodeInvalid},
			{"an unknown field", patient1, core.RolePatient, map[string]any{"url": legacyURL, "image_id": img.ID}, 400, core.CodeInvalid},
			{"too long", patient1, core.RolePatient, map[string]any{"url": "https://old-chat.example/" + strings.Repeat("a", 2100)}, 400, core.CodeInvalid},
			{"a clinic", clinic1, core.RoleClinic, map[string]any{"url": legacyURL}, 403, core.CodeForbidden},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := resolve(env, tc.sub, tc.role, tc.body)
				var e wire.Error
				r.JSON(t, &e)
				if r.Status != tc.want || e.Error.Code != tc.code || e.Error.RequestID == "" {
					t.Errorf("status %d %s, want %d %s with a request id", r.Status, r.Body, tc.want, tc.code)
				}
			})
		}
	})

	// The image is not listed, nor signed, before it is migrated.
	if r := env.Do("GET", "/api/chat-images/"+img.ID+"/signed-url", env.Token(pro1, core.RoleProfessional), nil); r.Status != http.StatusConflict {
		t.Errorf("signed url before migration: status %d %s, want 409", r.Status, r.Body)
	}
	if ids := listChatImageIDs(t, env, pro1, appt1); len(ids) != 0 {
		t.Errorf("list before migration: %v, want none", ids)
	}

	migrateLegacy(t, env, img, data)
	for _, tc := range []struct {
		sub  string
		role core.Role
	}{{patient1, core.RolePatient}, {pro1, core.RoleProfessional}} {
		r := resolve(env, tc.sub, tc.role, map[string]any{"url": legacyURL})
		var got resolveResp
		r.JSON(t, &got)
		want := resolveResp{Status: "migrated", ImageID: img.ID, URL: "private://chat-images/" + img.ID}
		if diff := cmp.Diff(want, got); r.Status != http.StatusOK || diff != "" {
			t.Errorf("%s after migration: status %d, (-want +got):\n%s", tc.sub, r.Status, diff)
		}
	}
	// appt-2's image is not migrated: its participants still get its
	// legacy answer, never appt1's migrated image.
	r := resolve(env, patient2, core.RolePatient, map[string]any{"url": legacyURL})
	var got resolveResp
	r.JSON(t, &got)
	if got.Status != "legacy" || got.ImageID != "" {
		t.Errorf("patient2 after appt1's migration: %s, want appt-2's legacy answer", r.Body)
	}
	if r := resolve(env, "pro-3", core.RoleProfessional, map[string]any{"url": legacyURL}); r.Status != http.StatusNotFound {
		t.Errorf("stranger after migration: status %d, want 404", r.Status)
	}

	// Migrated, the image is a chat image as any other: listed with its old
	// URL, signed for its participants only, with its bytes.
	if ids := listChatImageIDs(t, env, pro1, appt1); !slices.Equal(ids, []string{img.ID}) {
		t.Errorf("list after migration: %v, want [%s]", ids, img.ID)
	}
	r = env.Do("GET", "/api/chat-images/"+img.ID+"/signed-url", env.Token(pro1, core.RoleProfessional), nil)
	if r.Status != http.StatusOK {
		t.Fatalf("signed url after migration: status %d %s", r.Status, r.Body)
	}
	var su signedURLResp
	r.JSON(t, &su)
	if got := env.Get(su.URL); got.Status != http.StatusOK || !bytes.Equal(got.Body, data) {
		t.Errorf("the migrated image's bytes: status %d, equal %v", got.Status, bytes.Equal(got.Body, data))
	}
	if r := env.Do("GET", "/api/chat-images/"+img.ID+"/signed-url", env.Token(pro2, core.RoleProfessional), nil); r.Status != http.StatusNotFound {
		t.Errorf("signed url for a stranger: status %d, want 404", r.Status)
	}

	// Every resolution is in the patient's chain: three legacy answers, two
	// migrated ones, and the strangers' denials (pro-3 and pat-3 before the
	// migration, pro-3 after); appt-2's in patient2's chain.
	count := func(items []auditItem, action, outcome, resource string) int {
		n := 0
		for _, a := range items {
			if a.Action == action && a.Outcome == outcome && a.ResourceID == resource {
				n++
			}
		}
		return n
	}
	h := history(t, env, patient1, core.RolePatient)
	for _, w := range []struct {
		action, outcome string
		want            int
	}{
		{string(core.AuditChatImageLegacyURL), core.OutcomeSuccess, 3},
		{string(core.AuditChatImageResolve), core.OutcomeSuccess, 2},
		{string(core.AuditChatImageResolve), core.OutcomeDenied, 3},
		{string(core.AuditChatImageMigrate), core.OutcomeSuccess, 1},
	} {
		if got := count(h, w.action, w.outcome, img.ID); got != w.want {
			t.Errorf("patient1's chain: %d %s %s, want %d", got, w.action, w.outcome, w.want)
		}
	}
	if got := count(history(t, env, patient2, core.RolePatient), string(core.AuditChatImageLegacyURL), core.OutcomeSuccess, other.ID); got != 2 {
		t.Errorf("patient2's chain: %d legacy answers for appt-2's image, want 2", got)
	}
	wantChainValid(t, env)
}

// TestChatResolveLegacyOff: with legacy resolution off (phase 4), an old
// URL resolves only once its image is migrated; before, its participants
// get the 404 of an unknown URL, recorded as a denial.
func TestChatResolveLegacyOff(t *testing.T) {
	forEachRuntime(t, core.Config{LegacyResolutionOff: true}, testChatResolveLegacyOff)
}

func testChatResolveLegacyOff(t *testing.T, env *testenv.Env) {
	registerAppointment(t, env, appt1, clinic1, patient1, pro1)
	data, _ := testenv.RandomBytes(1500)
	migrated := importLegacy(t, env, appt1, patient1, legacyURL, int64(len(data)))
	migrateLegacy(t, env, migrated, data)
	pendingURL := strings.Replace(legacyURL, "0b9f2c41", "7e21aa03", 1)
	pending := importLegacy(t, env, appt1, patient1, pendingURL, 99)

	r := resolve(env, pro1, core.RoleProfessional, map[string]any{"url": legacyURL})
	var got resolveResp
	r.JSON(t, &got)
	if r.Status != http.StatusOK || got.Status != "migrated" || got.ImageID != migrated.ID {
		t.Errorf("migrated image: status %d %s, want 200 migrated", r.Status, r.Body)
	}
	for _, who := range []struct {
		sub  string
		role core.Role
	}{{patient1, core.RolePatient}, {pro1, core.RoleProfessional}} {
		r := resolve(env, who.sub, who.role, map[string]any{"url": pendingURL})
		var e wire.Error
		r.JSON(t, &e)
		if r.Status != http.StatusNotFound || e.Error.Code != core.CodeNotFound {
			t.Errorf("%s, an image not migrated: status %d %s, want 404 not_found", who.sub, r.Status, r.Body)
		}
	}
	n := 0
	for _, a := range history(t, env, patient1, core.RolePatient) {
		if a.Action == string(core.AuditChatImageResolve) && a.Outcome == core.OutcomeDenied && a.ResourceID == pending.ID {
			n++
		}
	}
	if n != 2 {
		t.Errorf("denied resolutions of the image not migrated: %d, want 2", n)
	}
}

// listChatImageIDs lists appt's chat images (of clinic1) as sub sees them.
func listChatImageIDs(t *testing.T, env *testenv.Env, sub, appt string) []string {
	t.Helper()
	r := env.Do("GET", "/api/appointments/"+appt+"/chat-images?clinic_id="+clinic1, env.Token(sub, core.RoleProfessional), nil)
	if r.Status != http.StatusOK {
		t.Fatalf("list chat images: status %d %s", r.Status, r.Body)
	}
	var page struct {
		Items []struct {
			ImageID   string `json:"image_id"`
			LegacyURL string `json:"legacy_url"`
		} `json:"items"`
	}
	r.JSON(t, &page)
	ids := []string{}
	for _, it := range page.Items {
		if it.LegacyURL != "" && it.LegacyURL != legacyURL {
			t.Errorf("listed legacy_url %q, want %q", it.LegacyURL, legacyURL)
		}
		ids = append(ids, it.ImageID)
	}
	return ids
}
