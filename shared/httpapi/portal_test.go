package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/devicekeytest"
	"github.com/medshare/medshare/shared/devtools/testenv"
)

// ownerDeviceBody is the body of POST /v1/photos/{id}/key for a fresh
// X25519 device.
func ownerDeviceBody(t *testing.T) map[string]any {
	t.Helper()
	d, err := client.NewDevice(core.KEMX25519)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{"kem": d.KEM, "device_public_key": d.Private.PublicKey().Bytes()}
}

// TestOwnerPhotoKey: a patient reads their own photo on a device that did
// not upload it, with every KEM the server offers: the photo's key comes
// sealed to that device, the URL reads the ciphertext, the device decrypts
// the original bytes; each read is a view in the patient's own chain,
// naming the photo and the device. Nobody else gets the key.
func TestOwnerPhotoKey(t *testing.T) { forEachRuntime(t, core.Config{}, testOwnerPhotoKey) }

func testOwnerPhotoKey(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	pat, other, pro, _ := parties(env)
	photo := bytes.Repeat([]byte("the crown, as the phone saw it "), 300)
	id := pat.upload(t, "CROWN", "image/jpeg", photo, nil)
	var devices []string
	for _, kem := range core.KEMs {
		dev, err := client.NewDevice(kem)
		if err != nil {
			t.Fatal(err)
		}
		k, err := pat.c.OwnPhotoKey(ctx, dev, id)
		if err != nil {
			t.Fatalf("kem %#x: %v", kem, err)
		}
		if k.PhotoID != id || k.KEM != kem || k.KDF != core.KDFHKDFSHA256 || k.AEAD != core.AEADAES256GCM {
			t.Errorf("kem %#x: answer %+v", kem, k)
		}
		// The URL is as short as a grantee's: a minute at most.
		if limit := time.Now().Add(core.MaxPhotoURLTTL); k.ExpiresAt.After(limit) {
			t.Errorf("kem %#x: the URL expires at %v, after %v", kem, k.ExpiresAt, limit)
		}
		got, err := pat.c.ViewOwnPhoto(ctx, dev, id, patient1)
		if err != nil || !bytes.Equal(got, photo) {
			t.Fatalf("kem %#x: view own photo: %v (equal %v)", kem, err, bytes.Equal(got, photo))
		}
		// The seal is bound to the photo and its owner: another owner id,
		// or the info of a grantee's key, does not open it.
		if _, err := dev.OpenOwnerKey(k, patient2); err == nil {
			t.Errorf("kem %#x: the key opened under another owner's info", kem)
		}
		if _, err := core.OpenKey(dev.Private, k.SealedKey, core.SealInfo("ek_x", id, "ac_x")); err == nil {
			t.Errorf("kem %#x: the key opened under a grantee key's info", kem)
		}
		devices = append(devices, core.DeviceKeyFingerprint(kem, dev.Private.PublicKey().Bytes()))
		devices = append(devices, devices[len(devices)-1]) // ViewOwnPhoto asked again
	}

	var views []string
	for _, r := range history(t, env, patient1, core.RolePatient) {
		if r.Action == "photo.view" {
			if r.V != core.AuditVersion2 || r.PhotoID != id || r.ResourceID != id || r.ShareID != "" || r.Outcome != core.OutcomeSuccess || r.ActorID != patient1 {
				t.Errorf("view record %+v: want a version 2 success naming the photo", r)
			}
			views = append(views, r.Device)
		}
	}
	slices.Reverse(views) // history is newest first
	if diff := cmp.Diff(devices, views); diff != "" {
		t.Errorf("devices of the recorded views (-want +got):\n%s", diff)
	}
	wantChainValid(t, env)

	dev, _ := client.NewDevice(core.KEMX25519)
	_, err := other.c.OwnPhotoKey(ctx, dev, id)
	wantCode(t, "another patient", err, core.CodeNotFound)
	_, err = pro.c.OwnPhotoKey(ctx, dev, id)
	wantCode(t, "a professional", err, core.CodeForbidden)
	pending, _ := photoOf(t, env, patient1, false)
	_, err = pat.c.OwnPhotoKey(ctx, dev, pending)
	wantCode(t, "a photo not finalized", err, core.CodeConflict)
	if err := pat.c.Do(ctx, "DELETE", "/v1/photos/"+id, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	_, err = pat.c.OwnPhotoKey(ctx, dev, id)
	wantCode(t, "a deleted photo", err, core.CodeNotFound)
}

// photoOf is photo (api_test.go) under a name that does not shadow the
// tests' photo variables.
func photoOf(t *testing.T, env *testenv.Env, owner string, finalize bool) (string, []byte) {
	t.Helper()
	return photo(t, env, owner, finalize)
}

// TestViewRecordsNamePhotoAndShare: a professional's view is recorded in
// the patient's chain with the photo, the share and (for the key issued)
// the device, so that the history says which photo was viewed, through
// which session and on which device.
func TestViewRecordsNamePhotoAndShare(t *testing.T) {
	forEachRuntime(t, core.Config{}, testViewRecordsNamePhotoAndShare)
}

func testViewRecordsNamePhotoAndShare(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	pat, _, pro, _ := parties(env)
	id := pat.upload(t, "FRONT", "image/jpeg", []byte("front"), nil)
	sh, dev, a := openShare(t, pat, pro, client.ShareRequest{ProfessionalID: pro1, PhotoIDs: []string{id}, ExpiresIn: 600, MaxViews: 1}, core.KEMMLKEM768X25519)
	if _, err := pro.c.ViewPhoto(ctx, dev, a.AccessID, id); err != nil {
		t.Fatal(err)
	}
	_, err := pro.c.IssueKey(ctx, a.AccessID, id)
	wantCode(t, "a view past max_views", err, core.CodeViewsExhausted)
	device := core.DeviceKeyFingerprint(dev.KEM, dev.Private.PublicKey().Bytes())

	type seen struct{ Action, Outcome, Photo, Share, Device string }
	var got []seen
	for _, r := range history(t, env, patient1, core.RolePatient) {
		if r.V != core.AuditVersion2 {
			t.Errorf("record %d (%s) is version %d, want %d", r.Seq, r.Action, r.V, core.AuditVersion2)
		}
		got = append(got, seen{r.Action, r.Outcome, r.PhotoID, r.ShareID, r.Device})
	}
	slices.Reverse(got)
	want := []seen{
		{"photo.finalize", "success", "", "", ""},
		{"share.create", "success", "", sh.ShareID, ""},
		{"access.open", "success", "", sh.ShareID, device},
		{"key.issue", "success", id, sh.ShareID, device},
		{"key.claim", "success", id, sh.ShareID, ""},
		{"key.issue", "denied", id, sh.ShareID, device},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the patient's history (-want +got):\n%s", diff)
	}
	// The professional's own history shows the same. On the denied record
	// the patient's id and the hashes that cover it are hidden; what the
	// view was of (the photo, the share, the device) is the grantee's own
	// and stays.
	var mine []seen
	for _, r := range history(t, env, pro1, core.RoleProfessional) {
		mine = append(mine, seen{r.Action, r.Outcome, r.PhotoID, r.ShareID, r.Device})
		hidden := r.PatientID == "" && r.Hash == "" && r.PrevHash == ""
		if hidden != (r.Outcome != core.OutcomeSuccess) || r.V != core.AuditVersion2 {
			t.Errorf("the professional's record %+v: patient id and hashes hidden %v, want %v, version 2", r, hidden, r.Outcome != core.OutcomeSuccess)
		}
	}
	slices.Reverse(mine)
	if diff := cmp.Diff(want[2:], mine); diff != "" {
		t.Errorf("the professional's history (-want +got):\n%s", diff)
	}
	wantChainValid(t, env)
	if r := env.Do("GET", "/v1/audit/verify", env.Token(pro1, core.RoleProfessional), nil); !strings.Contains(string(r.Body), `"valid":true`) {
		t.Errorf("professional's verify: %s", r.Body)
	}
}

// TestChatImageList: an appointment's participants list its READY images,
// newest first, page by page; everyone else gets the answer of an unknown
// appointment, and nothing is recorded.
func TestChatImageList(t *testing.T) { forEachRuntime(t, core.Config{}, testChatImageList) }

func testChatImageList(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	if r := registerAppointment(t, env, appt1, clinic1, patient1, pro1); r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	first, firstData := chatImage(t, env, patient1, core.RolePatient, appt1)
	second, _ := chatImage(t, env, pro1, core.RoleProfessional, appt1)
	// A third, staged and never finalized, is not listed.
	_, sum := testenv.RandomBytes(10)
	if r := env.Do("POST", "/api/chat-images", env.Token(pro1, core.RoleProfessional), map[string]any{
		"appointment_id": appt1, "content_type": "image/png", "size": 10, "sha256": sum,
	}); r.Status != http.StatusCreated {
		t.Fatalf("stage: %d %s", r.Status, r.Body)
	}

	for _, who := range []struct {
		sub  string
		role core.Role
	}{{patient1, core.RolePatient}, {pro1, core.RoleProfessional}} {
		c := client.New(env.URL, env.Token(who.sub, who.role))
		var got []client.ListedChatImage
		cursor := ""
		for pages := 0; ; pages++ {
			items, next, err := c.ListChatImages(ctx, appt1, client.ChatListPage{Limit: 1, Cursor: cursor})
			if err != nil {
				t.Fatalf("%s: list: %v", who.sub, err)
			}
			if len(items) != 1 || pages > 2 {
				t.Fatalf("%s: page %d holds %d images", who.sub, pages, len(items))
			}
			got = append(got, items...)
			if next == "" {
				break
			}
			cursor = next
		}
		var ids []string
		for _, img := range got {
			ids = append(ids, img.ImageID)
			if img.URL != "private://chat-images/"+img.ImageID || img.ContentType != "image/png" || img.Size != 3000 || len(img.SHA256) != 32 {
				t.Errorf("%s: listed %+v", who.sub, img)
			}
		}
		if diff := cmp.Diff([]string{second, first}, ids); diff != "" {
			t.Errorf("%s: listed images (-want +got):\n%s", who.sub, diff)
		}
		if got[0].UploaderID != pro1 || got[1].UploaderID != patient1 {
			t.Errorf("%s: uploaders %q, %q", who.sub, got[0].UploaderID, got[1].UploaderID)
		}
		// Each listed image resolves through the signed-URL route.
		var u client.SignedURL
		if err := c.Do(ctx, "GET", "/api/chat-images/"+first+"/signed-url", nil, nil, &u); err != nil {
			t.Fatal(err)
		}
		if b, err := c.Fetch(ctx, u.URL); err != nil || !bytes.Equal(b, firstData) {
			t.Errorf("%s: fetch the listed image: %v", who.sub, err)
		}
	}

	// Strangers, and an appointment that does not exist: one answer.
	errorOf := func(r testenv.Response) (int, string, string) {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		json.Unmarshal(r.Body, &e)
		return r.Status, e.Error.Code, e.Error.Message
	}
	st, code, msg := errorOf(env.Do("GET", "/api/appointments/appt-nope/chat-images", env.Token(patient1, core.RolePatient), nil))
	if st != http.StatusNotFound || code != core.CodeNotFound {
		t.Fatalf("unknown appointment: %d %s", st, code)
	}
	unmoved := chainUnmoved(t, env, patient1)
	for _, who := range []struct {
		sub  string
		role core.Role
		path string
	}{
		{patient2, core.RolePatient, "/api/appointments/" + appt1 + "/chat-images"},
		{pro2, core.RoleProfessional, "/api/appointments/" + appt1 + "/chat-images?limit=1"},
		// A stranger's cursor is never looked at: the same 404, not a 400.
		{pro2, core.RoleProfessional, "/api/appointments/" + appt1 + "/chat-images?cursor=garbage"},
	} {
		r := env.Do("GET", who.path, env.Token(who.sub, who.role), nil)
		gs, gc, gm := errorOf(r)
		if gs != st || gc != code || gm != msg {
			t.Errorf("%s %s: %d %s %q, want the unknown appointment's %d %s %q", who.sub, who.path, gs, gc, gm, st, code, msg)
		}
		for _, secret := range []string{first, second, patient1} {
			if strings.Contains(string(r.Body), secret) {
				t.Errorf("%s sees %s", who.sub, secret)
			}
		}
	}
	// Nothing is recorded of a refused list, as of a refused chat-upload:
	// the appointment id is the clinic's, and the list hands out no image.
	unmoved("on refused lists")
	wantChainValid(t, env)
}

// TestPortalRoutesBadInput: the new routes answer bad input with a 4xx and
// a stable code, never a 5xx, and record nothing.
func TestPortalRoutesBadInput(t *testing.T) {
	forEachRuntime(t, core.Config{}, testPortalRoutesBadInput)
}

func testPortalRoutesBadInput(t *testing.T, env *testenv.Env) {
	registerAppointment(t, env, appt1, clinic1, patient1, pro1)
	id, _ := photo(t, env, patient1, true)
	pat := env.Token(patient1, core.RolePatient)
	pro := env.Token(pro1, core.RoleProfessional)
	unmoved := chainUnmoved(t, env, patient1)
	dev := ownerDeviceBody(t)
	with := func(over map[string]any) map[string]any {
		return bodyWith(map[string]any{"kem": dev["kem"], "device_public_key": dev["device_public_key"]}, over)
	}
	key := "/v1/photos/" + id + "/key"
	pubJSON, _ := json.Marshal(dev["device_public_key"])
	pubB64 := strings.Trim(string(pubJSON), `"`)
	list := "/api/appointments/" + appt1 + "/chat-images"
	wantRefusals(t, env, []refusal{
		{"key/malformed id", "POST", "/v1/photos/not-an-id/key", pat, with(nil), 400, core.CodeInvalid},
		{"key/chat image id", "POST", "/v1/photos/ci_" + strings.Repeat("a", 26) + "/key", pat, with(nil), 400, core.CodeInvalid},
		{"key/unknown id", "POST", "/v1/photos/ph_" + strings.Repeat("a", 26) + "/key", pat, with(nil), 404, core.CodeNotFound},
		{"key/no body", "POST", key, pat, nil, 400, core.CodeInvalid},
		{"key/kem missing", "POST", key, pat, with(map[string]any{"kem": nil}), 400, core.CodeInvalid},
		{"key/kem unknown", "POST", key, pat, with(map[string]any{"kem": 33}), 400, core.CodeInvalid},
		{"key/kem as string", "POST", key, pat, with(map[string]any{"kem": "32"}), 400, core.CodeInvalid},
		{"key/kem too large", "POST", key, pat, with(map[string]any{"kem": 70000}), 400, core.CodeInvalid},
		{"key/public key missing", "POST", key, pat, with(map[string]any{"device_public_key": nil}), 400, core.CodeInvalid},
		{"key/public key short", "POST", key, pat, with(map[string]any{"device_public_key": make([]byte, 31)}), 400, core.CodeInvalid},
		{"key/public key of another kem", "POST", key, pat, with(map[string]any{"kem": core.KEMP256}), 400, core.CodeInvalid},
		{"key/public key not base64", "POST", key, pat, with(map[string]any{"device_public_key": "%%%"}), 400, core.CodeInvalid},
		{"key/unknown field", "POST", key, pat, with(map[string]any{"device_fingerprint": "x"}), 400, core.CodeInvalid},
		// Main's strict decoding, as for every body.
		{"key/kem given twice", "POST", key, pat, `{"kem":32,"kem":32,"device_public_key":"` + pubB64 + `"}`, 400, core.CodeInvalid},
		{"key/name in another case", "POST", key, pat, `{"KEM":32,"device_public_key":"` + pubB64 + `"}`, 400, core.CodeInvalid},
		{"key/null body", "POST", key, pat, `null`, 400, core.CodeInvalid},
		{"key/array body", "POST", key, pat, `[]`, 400, core.CodeInvalid},
		{"key/body over 64 KiB", "POST", key, pat, `{"kem":32,"device_public_key":"` + strings.Repeat("A", 70<<10) + `"}`, 413, core.CodePayloadTooLarge},
		{"key/query", "POST", key + "?kem=32", pat, with(nil), 400, core.CodeInvalid},
		{"list/malformed appointment id", "GET", "/api/appointments/-bad/chat-images", pat, nil, 400, core.CodeInvalid},
		{"list/limit zero", "GET", list + "?limit=0", pat, nil, 400, core.CodeInvalid},
		{"list/limit over", "GET", list + "?limit=101", pro, nil, 400, core.CodeInvalid},
		{"list/garbage cursor", "GET", list + "?cursor=%21%21", pat, nil, 400, core.CodeInvalid},
		{"list/foreign cursor", "GET", list + "?cursor=UEhPVE8jcGhfYQ", pat, nil, 400, core.CodeInvalid},
		{"list/unknown param", "GET", list + "?status=pending", pro, nil, 400, core.CodeInvalid},
		{"list/empty clinic id", "GET", list + "?clinic_id=", pro, nil, 400, core.CodeInvalid},
		{"list/malformed clinic id", "GET", list + "?clinic_id=-bad", pro, nil, 400, core.CodeInvalid},
		{"list/clinic id twice", "GET", list + "?clinic_id=" + clinic1 + "&clinic_id=" + clinic2, pro, nil, 400, core.CodeInvalid},
		{"list/unknown appointment", "GET", "/api/appointments/appt-nope/chat-images", pat, nil, 404, core.CodeNotFound},
		{"list/clinic", "GET", list, env.Token(clinic1, core.RoleClinic), nil, 403, core.CodeForbidden},
		{"list/wrong method", "POST", list, pat, nil, 405, core.CodeInvalid},
	})
	unmoved("on refused requests")
	if strings.Contains(env.Logs.String(), `"level":"ERROR"`) {
		t.Errorf("bad input logged errors:\n%s", env.Logs.String())
	}
}

// TestChatImageListIsScopedToTheClinic: appointment ids are scoped to
// their clinic, and the list follows: two clinics' appointments with one id
// are two lists. A participant of one names it by id alone; a participant
// of both names the clinic (clinic_id), or gets 409 as chat-upload does;
// a clinic_id the caller takes no part in is the 404 of an unknown
// appointment. A cursor is the caller's own.
func TestChatImageListIsScopedToTheClinic(t *testing.T) {
	forEachRuntime(t, core.Config{}, testChatImageListIsScopedToTheClinic)
}

func testChatImageListIsScopedToTheClinic(t *testing.T, env *testenv.Env) {
	ctx := t.Context()
	for _, reg := range []struct{ clinic, pro string }{{clinic1, pro1}, {clinic2, pro2}} {
		if r := registerAppointment(t, env, appt1, reg.clinic, patient1, reg.pro); r.Status != http.StatusCreated {
			t.Fatalf("register %s's %s: %d %s", reg.clinic, appt1, r.Status, r.Body)
		}
	}
	// pro1 takes part in clinic1's appointment only, pro2 in clinic2's.
	a1, _ := chatImage(t, env, pro1, core.RoleProfessional, appt1)
	b1, _ := chatImage(t, env, pro1, core.RoleProfessional, appt1)
	a2, _ := chatImage(t, env, pro2, core.RoleProfessional, appt1)

	ids := func(c *client.Client, p client.ChatListPage) ([]string, error) {
		var out []string
		for {
			items, next, err := c.ListChatImages(ctx, appt1, p)
			if err != nil {
				return nil, err
			}
			for _, it := range items {
				out = append(out, it.ImageID)
			}
			if next == "" {
				return out, nil
			}
			p.Cursor = next
		}
	}
	pat, _, pro, other := parties(env)
	for _, tc := range []struct {
		name string
		c    *client.Client
		page client.ChatListPage
		want []string
		code string
	}{
		{"pro1 by id", pro.c, client.ChatListPage{Limit: 1}, []string{b1, a1}, ""},
		{"pro1 naming its clinic", pro.c, client.ChatListPage{ClinicID: clinic1}, []string{b1, a1}, ""},
		{"pro1 naming the other clinic", pro.c, client.ChatListPage{ClinicID: clinic2}, nil, core.CodeNotFound},
		{"pro2 by id", other.c, client.ChatListPage{}, []string{a2}, ""},
		{"the patient of both by id", pat.c, client.ChatListPage{}, nil, core.CodeConflict},
		{"the patient naming clinic1", pat.c, client.ChatListPage{ClinicID: clinic1, Limit: 1}, []string{b1, a1}, ""},
		{"the patient naming clinic2", pat.c, client.ChatListPage{ClinicID: clinic2}, []string{a2}, ""},
		{"the patient naming a clinic of neither", pat.c, client.ChatListPage{ClinicID: "clinic-nope"}, nil, core.CodeNotFound},
		{"a malformed clinic id", pat.c, client.ChatListPage{ClinicID: "clinic#1"}, nil, core.CodeInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ids(tc.c, tc.page)
			if tc.code != "" {
				wantCode(t, tc.name, err, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("listed (-want +got):\n%s", diff)
			}
		})
	}
	// The 409 is chat-upload's, word for word.
	_, sum := testenv.RandomBytes(10)
	up := env.Do("POST", "/api/chat-images", env.Token(patient1, core.RolePatient), map[string]any{
		"appointment_id": appt1, "content_type": "image/png", "size": 10, "sha256": sum,
	})
	list := env.Do("GET", "/api/appointments/"+appt1+"/chat-images", env.Token(patient1, core.RolePatient), nil)
	if up.Status != http.StatusConflict || list.Status != up.Status || message(t, list) != message(t, up) {
		t.Errorf("ambiguous id: chat-upload %d %s, list %d %s; want the same 409", up.Status, up.Body, list.Status, list.Body)
	}
	// A cursor is bound to its caller: the patient's page of clinic1's
	// list does not resume pro1's.
	_, cursor, err := pro.c.ListChatImages(ctx, appt1, client.ChatListPage{Limit: 1})
	if err != nil || cursor == "" {
		t.Fatalf("pro1's first page: cursor %q, %v", cursor, err)
	}
	_, _, err = pat.c.ListChatImages(ctx, appt1, client.ChatListPage{ClinicID: clinic1, Limit: 1, Cursor: cursor})
	wantCode(t, "another participant's cursor", err, core.CodeInvalid)
	_, _, err = other.c.ListChatImages(ctx, appt1, client.ChatListPage{Limit: 1, Cursor: cursor})
	wantCode(t, "another clinic's participant with pro1's cursor", err, core.CodeInvalid)
}

// message is the error message of an error answer.
func message(t *testing.T, r testenv.Response) string {
	t.Helper()
	var e struct {
		Error struct{ Message string } `json:"error"`
	}
	r.JSON(t, &e)
	return e.Error.Message
}

// TestOwnerPhotoKeyRefusesBadDeviceKeys: the owner route checks a device
// key as open-access does (devicekeytest.Bad): 400, nothing recorded.
func TestOwnerPhotoKeyRefusesBadDeviceKeys(t *testing.T) {
	forEachRuntime(t, core.Config{}, testOwnerPhotoKeyRefusesBadDeviceKeys)
}

func testOwnerPhotoKeyRefusesBadDeviceKeys(t *testing.T, env *testenv.Env) {
	id, _ := photo(t, env, patient1, true)
	unmoved := chainUnmoved(t, env, patient1)
	tok := env.Token(patient1, core.RolePatient)
	for _, k := range devicekeytest.Bad(t) {
		t.Run(k.Name, func(t *testing.T) {
			r := env.Do("POST", "/v1/photos/"+id+"/key", tok, map[string]any{"kem": k.KEM, "device_public_key": k.Key})
			if r.Status != http.StatusBadRequest || r.Code() != core.CodeInvalid {
				t.Errorf("status %d %s, want 400 %s", r.Status, r.Body, core.CodeInvalid)
			}
		})
	}
	unmoved("on refused keys")
}

// TestOwnerPhotoKeyIsRateLimited: a patient gets at most the photo-key
// limit of their own keys per window; the next answers 429 rate_limited
// with Retry-After, unwraps nothing and records nothing. Another patient
// has a budget of their own.
func TestOwnerPhotoKeyIsRateLimited(t *testing.T) {
	forEachRuntime(t, core.Config{Limits: core.Limits{PhotoKeys: 2}}, testOwnerPhotoKeyIsRateLimited)
}

func testOwnerPhotoKeyIsRateLimited(t *testing.T, env *testenv.Env) {
	freshWindow(env)
	ctx := t.Context()
	pat, other, _, _ := parties(env)
	mine := pat.upload(t, "CROWN", "image/jpeg", []byte("mine"), nil)
	theirs := other.upload(t, "CROWN", "image/jpeg", []byte("theirs"), nil)
	dev, _ := client.NewDevice(core.KEMX25519)
	for i := range 2 {
		if _, err := pat.c.OwnPhotoKey(ctx, dev, mine); err != nil {
			t.Fatalf("key %d: %v", i+1, err)
		}
	}
	unmoved := chainUnmoved(t, env, patient1)
	r := env.Do("POST", "/v1/photos/"+mine+"/key", env.Token(patient1, core.RolePatient), ownerDeviceBody(t))
	if r.Status != http.StatusTooManyRequests || r.Code() != core.CodeRateLimited || r.Header.Get("Retry-After") == "" {
		t.Errorf("a third key in the window: %d %s (Retry-After %q), want 429 rate_limited with Retry-After", r.Status, r.Body, r.Header.Get("Retry-After"))
	}
	unmoved("on the refused key")
	if _, err := other.c.OwnPhotoKey(ctx, dev, theirs); err != nil {
		t.Errorf("another patient's key: %v", err)
	}
	env.Clock.Advance(core.RateWindow)
	if _, err := pat.c.OwnPhotoKey(ctx, dev, mine); err != nil {
		t.Errorf("a key in the next window: %v", err)
	}
}

// TestDeviceMismatchIsBounded: a grantee who makes up device after device
// on a bound session is refused each time; the refusals are denied
// attempts like any other, counted once each under the denied-record
// limit: that many are recorded, then one rate_limited record, then none.
// The patient hears once of each refused device whose refusal was
// recorded, never of more, so neither the chain nor the inbox grows
// without bound.
func TestDeviceMismatchIsBounded(t *testing.T) {
	forEachRuntime(t, core.Config{Limits: core.Limits{DeniedRecords: 3}}, testDeviceMismatchIsBounded)
}

func testDeviceMismatchIsBounded(t *testing.T, env *testenv.Env) {
	freshWindow(env)
	ctx := t.Context()
	pat, _, pro, _ := parties(env)
	id := pat.upload(t, "CROWN", "image/jpeg", []byte("bound"), nil)
	// It outlives the next window.
	sh, err := pat.c.CreateShare(ctx, client.ShareRequest{ProfessionalID: pro1, PhotoIDs: []string{id}, ExpiresIn: 3 * 3600, MaxViews: 5}, "")
	if err != nil {
		t.Fatal(err)
	}
	bound, _ := client.NewDevice(core.KEMX25519)
	if _, err := pro.c.OpenAccess(ctx, sh.ShareID, bound); err != nil {
		t.Fatal(err)
	}
	var devices []*client.Device
	for range 8 {
		d, _ := client.NewDevice(core.KEMX25519)
		devices = append(devices, d)
	}
	// The first device twice, then seven more: nine refusals.
	for i, d := range append([]*client.Device{devices[0]}, devices...) {
		_, err := pro.c.OpenAccess(ctx, sh.ShareID, d)
		wantCode(t, fmt.Sprintf("refusal %d", i+1), err, core.CodeDeviceMismatch)
	}
	// Counted once each: the fourth refusal is the one past the limit.
	if diff := cmp.Diff(map[string]int{core.CodeDeviceMismatch: 3, core.CodeRateLimited: 1}, countDenials(t, env, patient1, pro1)); diff != "" {
		t.Errorf("recorded refusals (-want +got):\n%s", diff)
	}
	fp := func(d *client.Device) string { return core.DeviceKeyFingerprint(d.KEM, d.Private.PublicKey().Bytes()) }
	var notified []string
	for _, n := range inbox(t, env, patient1, core.RolePatient) {
		if n.Type == core.NoteDeviceMismatch {
			notified = append(notified, n.Data["device"])
		}
	}
	// Newest first: the second device, then the first (refused twice,
	// told once); nothing of the devices past the limit.
	if diff := cmp.Diff([]string{fp(devices[1]), fp(devices[0])}, notified); diff != "" {
		t.Errorf("device_mismatch notifications (-want +got):\n%s", diff)
	}
	// The grantee's own history lists the refusals it was told of (with
	// the share and the device), not the rate_limited record.
	var mine []string
	for _, r := range history(t, env, pro1, core.RoleProfessional) {
		if r.Outcome == core.OutcomeDenied {
			if r.Reason != core.CodeDeviceMismatch || r.ShareID != sh.ShareID || r.Device == "" {
				t.Errorf("the grantee's history lists %+v", r)
			}
			mine = append(mine, r.Device)
		}
	}
	if len(mine) != 3 {
		t.Errorf("the grantee's history lists %d refusals, want 3", len(mine))
	}
	wantChainValid(t, env)
	env.Clock.Advance(core.RateWindow)
	_, err = pro.c.OpenAccess(ctx, sh.ShareID, devices[7])
	wantCode(t, "a refusal in the next window", err, core.CodeDeviceMismatch)
	if n := inbox(t, env, patient1, core.RolePatient); len(n) == 0 || n[0].Type != core.NoteDeviceMismatch || n[0].Data["device"] != fp(devices[7]) {
		t.Errorf("the patient's newest notification %+v, want the device refused in the new window", n[:min(len(n), 1)])
	}
	if got := countDenials(t, env, patient1, pro1)[core.CodeDeviceMismatch]; got != 4 {
		t.Errorf("%d recorded refusals after the window turned, want 4", got)
	}
}
