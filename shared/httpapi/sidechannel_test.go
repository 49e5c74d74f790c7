package httpapi_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/testenv"
)

// Issue 10 §2, side channels and abuse by volume: each test runs on both
// adapter sets, through the routes a client app uses.

// TestDeletedPhotoUploadIsRefused: once a photo is deleted, its presigned
// upload URL writes nothing, whether the photo was still pending (the URL
// never used) or ready (the URL used once).
func TestDeletedPhotoUploadIsRefused(t *testing.T) {
	forEachRuntime(t, core.Config{}, testDeletedPhotoUploadIsRefused)
}

func testDeletedPhotoUploadIsRefused(t *testing.T, env *testenv.Env) {
	tok := env.Token(patient1, core.RolePatient)
	for _, tc := range []struct {
		name     string
		finalize bool
	}{
		{"pending", false},
		{"ready", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up, data := photoUpload(t, env, tok)
			if tc.finalize {
				if r := env.Send(up.Upload, data); r.Status != http.StatusOK {
					t.Fatalf("upload: status %d %s", r.Status, r.Body)
				}
				if r := env.Do("POST", "/v1/photos/"+up.PhotoID+"/finalize", tok, nil); r.Status != http.StatusOK {
					t.Fatalf("finalize: status %d %s", r.Status, r.Body)
				}
			}
			if r := env.Do("DELETE", "/v1/photos/"+up.PhotoID, tok, nil); r.Status != http.StatusOK {
				t.Fatalf("delete: status %d %s", r.Status, r.Body)
			}
			if r := env.Send(up.Upload, data); r.Status < 400 || r.Status >= 500 {
				t.Errorf("upload with the deleted photo's URL: status %d, want 4xx", r.Status)
			}
			if _, err := env.Blobs.Stat(t.Context(), core.PhotoObjectKey(patient1, up.PhotoID)); !core.IsKind(err, core.KindNotFound) {
				t.Errorf("object after the refused upload: %v, want not found", err)
			}
			if r := env.Do("POST", "/v1/photos/"+up.PhotoID+"/finalize", tok, nil); r.Status != http.StatusNotFound {
				t.Errorf("finalize after delete: status %d %s, want 404", r.Status, r.Body)
			}
		})
	}
}

// TestCursorsAreBoundToTheCaller: a next_cursor is 400 for another caller
// and for another list, and a professional's history cursor names no
// patient.
func TestCursorsAreBoundToTheCaller(t *testing.T) {
	forEachRuntime(t, core.Config{}, testCursorsAreBoundToTheCaller)
}

func testCursorsAreBoundToTheCaller(t *testing.T, env *testenv.Env) {
	for range 3 {
		photo(t, env, patient1, true)
		photo(t, env, patient2, true)
	}
	registerAppointment(t, env, appt1, clinic1, patient1, pro1)
	img, _ := chatImage(t, env, patient1, core.RolePatient, appt1)
	for range 3 {
		if r := env.Do("GET", "/api/chat-images/"+img+"/signed-url", env.Token(pro1, core.RoleProfessional), nil); r.Status != http.StatusOK {
			t.Fatalf("signed url: status %d %s", r.Status, r.Body)
		}
	}
	next := func(path, token string) string {
		t.Helper()
		r := env.Do("GET", path, token, nil)
		var p struct {
			NextCursor string `json:"next_cursor"`
		}
		r.JSON(t, &p)
		if r.Status != http.StatusOK || p.NextCursor == "" {
			t.Fatalf("GET %s: status %d %s, want 200 and a next_cursor", path, r.Status, r.Body)
		}
		return p.NextCursor
	}
	pat1, pat2 := env.Token(patient1, core.RolePatient), env.Token(patient2, core.RolePatient)
	doctor := env.Token(pro1, core.RoleProfessional)
	photos := next("/v1/photos?limit=1", pat1)
	chain := next("/v1/audit?limit=1", pat1)
	own := next("/v1/audit?limit=1", doctor)
	if strings.Contains(own, patient1) || strings.Contains(decodeCursor(own), patient1) {
		t.Errorf("the professional's history cursor %q names the patient", own)
	}
	for _, tc := range []struct{ name, path, token string }{
		{"another patient's photos", "/v1/photos?limit=1&cursor=" + url.QueryEscape(photos), pat2},
		{"another patient's chain", "/v1/audit?limit=1&cursor=" + url.QueryEscape(chain), pat2},
		{"a patient's chain cursor, as the professional", "/v1/audit?limit=1&cursor=" + url.QueryEscape(chain), doctor},
		{"the professional's cursor, as the patient", "/v1/audit?limit=1&cursor=" + url.QueryEscape(own), pat1},
		{"a photos cursor, on the chain", "/v1/audit?limit=1&cursor=" + url.QueryEscape(photos), pat1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := env.Do("GET", tc.path, tc.token, nil); r.Status != http.StatusBadRequest || r.Code() != core.CodeInvalid {
				t.Errorf("status %d code %q, want 400 invalid_request", r.Status, r.Code())
			}
		})
	}
	// The caller's own cursor goes on.
	if r := env.Do("GET", "/v1/photos?limit=1&cursor="+url.QueryEscape(photos), pat1, nil); r.Status != http.StatusOK {
		t.Errorf("own cursor: status %d %s", r.Status, r.Body)
	}
}

// decodeCursor returns what base64url makes of a cursor, "" if nothing.
func decodeCursor(c string) string {
	b, _ := base64.RawURLEncoding.DecodeString(c)
	return string(b)
}

// TestStrangerLearnsNothingFromTheirHistory: a stranger who asks for an
// existing chat image and one who asks for an unknown id get the same 404,
// and then the same access history and verify answer: nothing. The patient's
// chain still records the probe of their image.
func TestStrangerLearnsNothingFromTheirHistory(t *testing.T) {
	forEachRuntime(t, core.Config{}, testStrangerLearnsNothingFromTheirHistory)
}

func testStrangerLearnsNothingFromTheirHistory(t *testing.T, env *testenv.Env) {
	registerAppointment(t, env, appt1, clinic1, patient1, pro1)
	img, _ := chatImage(t, env, patient1, core.RolePatient, appt1)
	const prober, control = "pro-probe", "pro-control"
	type answer struct {
		status             int
		code, message      string
		history            []map[string]any
		verify             map[string]any
		historyCursorEmpty bool
	}
	ask := func(sub, id string) answer {
		tok := env.Token(sub, core.RoleProfessional)
		r := env.Do("GET", "/api/chat-images/"+id+"/signed-url", tok, nil)
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		r.JSON(t, &e)
		a := answer{status: r.Status, code: e.Error.Code, message: e.Error.Message}
		h := env.Do("GET", "/v1/audit", tok, nil)
		var page struct {
			Items      []map[string]any `json:"items"`
			NextCursor string           `json:"next_cursor"`
		}
		h.JSON(t, &page)
		a.history, a.historyCursorEmpty = page.Items, page.NextCursor == ""
		env.Do("GET", "/v1/audit/verify", tok, nil).JSON(t, &a.verify)
		return a
	}
	probed := ask(prober, img)
	unknown := ask(control, core.NewID("ci"))
	if probed.status != http.StatusNotFound || probed.code != core.CodeNotFound {
		t.Fatalf("probe of an existing image: status %d code %q, want 404 not_found", probed.status, probed.code)
	}
	if diff := cmp.Diff(unknown, probed, cmp.AllowUnexported(answer{})); diff != "" {
		t.Errorf("what a stranger reads after probing an existing image differs from after an unknown id (-unknown +existing):\n%s", diff)
	}
	if len(probed.history) != 0 {
		t.Errorf("the stranger's history lists %d records, want none", len(probed.history))
	}
	var recorded int
	for _, a := range history(t, env, patient1, core.RolePatient) {
		if a.ActorID == prober && a.Action == string(core.AuditChatImageSignedURL) && a.Outcome == core.OutcomeDenied && a.Reason == core.CodeNotFound {
			recorded++
		}
	}
	if recorded != 1 {
		t.Errorf("the patient's chain records %d probes, want 1", recorded)
	}
}

// TestDeniedRecordHidesTheHashesOfWhatItHides: a grantee's history shows
// their denied attempts without the patient id, and then without the
// hashes, which cover the patient id and would confirm a guess of it.
func TestDeniedRecordHidesTheHashesOfWhatItHides(t *testing.T) {
	forEachRuntime(t, core.Config{}, testDeniedRecordHidesTheHashesOfWhatItHides)
}

func testDeniedRecordHidesTheHashesOfWhatItHides(t *testing.T, env *testenv.Env) {
	pro, access, photoID := viewedOnce(t, env)
	_, err := pro.c.IssueKey(t.Context(), access, photoID)
	wantCode(t, "second view of a one-view share", err, core.CodeViewsExhausted)

	r := env.Do("GET", "/v1/audit", env.Token(pro1, core.RoleProfessional), nil)
	var page struct {
		Items []struct {
			PatientID string `json:"patient_id"`
			Outcome   string `json:"outcome"`
			Reason    string `json:"reason"`
			PrevHash  string `json:"prev_hash"`
			Hash      string `json:"hash"`
		} `json:"items"`
	}
	r.JSON(t, &page)
	var denied, granted int
	for _, it := range page.Items {
		switch it.Outcome {
		case core.OutcomeDenied:
			denied++
			if it.Reason != core.CodeViewsExhausted || it.PatientID != "" || it.Hash != "" || it.PrevHash != "" {
				t.Errorf("denied record: reason %q, patient %q, hash %q, prev_hash %q; want views_exhausted and the rest hidden",
					it.Reason, it.PatientID, it.Hash, it.PrevHash)
			}
		case core.OutcomeSuccess:
			granted++
			if it.PatientID != patient1 || it.Hash == "" {
				t.Errorf("granted record: patient %q, hash %q; want both shown", it.PatientID, it.Hash)
			}
		}
	}
	if denied != 1 || granted != 2 {
		t.Errorf("history: %d denied and %d granted records, want 1 and 2 (open, issue)", denied, granted)
	}
}

// freshWindow moves env's clock to one minute into the next rate-limit
// window, so that a test has most of an hour before the window turns.
func freshWindow(env *testenv.Env) {
	now := env.Clock.Now()
	env.Clock.Advance(now.Truncate(core.RateWindow).Add(core.RateWindow + time.Minute).Sub(now))
}

// countDenials counts patient's records by actor with outcome denied, by
// reason.
func countDenials(t *testing.T, env *testenv.Env, patient, actor string) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, a := range history(t, env, patient, core.RolePatient) {
		if a.ActorID == actor && a.Outcome == core.OutcomeDenied {
			n[a.Reason]++
		}
	}
	return n
}

// TestDeniedRecordsAreBounded: a stranger's probes of a patient's image, or
// a grantee's refused views, fill the patient's chain up to the limit per
// window, then one rate_limited record, then nothing until the window
// turns. The caller's answer never changes.
func TestDeniedRecordsAreBounded(t *testing.T) {
	forEachRuntime(t, core.Config{Limits: core.Limits{DeniedRecords: 3}}, testDeniedRecordsAreBounded)
}

func testDeniedRecordsAreBounded(t *testing.T, env *testenv.Env) {
	freshWindow(env)
	registerAppointment(t, env, appt1, clinic1, patient1, pro1)
	img, _ := chatImage(t, env, patient1, core.RolePatient, appt1)
	probe := func(sub string) {
		t.Helper()
		r := env.Do("GET", "/api/chat-images/"+img+"/signed-url", env.Token(sub, core.RoleProfessional), nil)
		if r.Status != http.StatusNotFound || r.Code() != core.CodeNotFound {
			t.Fatalf("probe by %s: status %d code %q, want 404 not_found", sub, r.Status, r.Code())
		}
	}
	for range 8 {
		probe("pro-probe")
	}
	probe("pro-other") // another actor has a budget of its own
	want := map[string]int{core.CodeNotFound: 3, core.CodeRateLimited: 1}
	if diff := cmp.Diff(want, countDenials(t, env, patient1, "pro-probe")); diff != "" {
		t.Errorf("recorded probes by pro-probe (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{core.CodeNotFound: 1}, countDenials(t, env, patient1, "pro-other")); diff != "" {
		t.Errorf("recorded probes by pro-other (-want +got):\n%s", diff)
	}
	if h := history(t, env, "pro-probe", core.RoleProfessional); len(h) != 0 {
		t.Errorf("the prober's own history lists %d records, want none", len(h))
	}
	env.Clock.Advance(core.RateWindow)
	probe("pro-probe")
	want[core.CodeNotFound]++
	if diff := cmp.Diff(want, countDenials(t, env, patient1, "pro-probe")); diff != "" {
		t.Errorf("recorded probes by pro-probe in the next window (-want +got):\n%s", diff)
	}
	wantChainValid(t, env)

	// A grantee's refused views count the same way.
	pro, access, photoID := viewedOnce(t, env)
	for range 6 {
		_, err := pro.c.IssueKey(t.Context(), access, photoID)
		wantCode(t, "a view past the last", err, core.CodeViewsExhausted)
	}
	if diff := cmp.Diff(map[string]int{core.CodeViewsExhausted: 3, core.CodeRateLimited: 1}, countDenials(t, env, patient1, pro1)); diff != "" {
		t.Errorf("recorded refused views (-want +got):\n%s", diff)
	}
	wantChainValid(t, env)
}

// TestCreateSessionIsRateLimited: a patient creates at most the limit of
// sessions per window; the next answers 429 rate_limited with Retry-After
// up to the window's end, and notifies nobody.
func TestCreateSessionIsRateLimited(t *testing.T) {
	forEachRuntime(t, core.Config{Limits: core.Limits{SharesCreated: 3}}, testCreateSessionIsRateLimited)
}

func testCreateSessionIsRateLimited(t *testing.T, env *testenv.Env) {
	freshWindow(env)
	pat, other, _, _ := parties(env)
	photoID := pat.upload(t, "CROWN", "image/jpeg", []byte("shared"), nil)
	otherPhoto := other.upload(t, "CROWN", "image/jpeg", []byte("shared too"), nil)
	create := func(tok, photo string) testenv.Response {
		return env.Do("POST", "/v1/shares", tok, map[string]any{
			"professional_id": pro1, "photo_ids": []string{photo}, "expires_in": 3600, "max_views": 1,
		})
	}
	tok := env.Token(patient1, core.RolePatient)
	for i := range 3 {
		if r := create(tok, photoID); r.Status != http.StatusCreated {
			t.Fatalf("session %d: status %d %s", i+1, r.Status, r.Body)
		}
	}
	before := env.Clock.Now()
	r := create(tok, photoID)
	after := env.Clock.Now()
	if r.Status != http.StatusTooManyRequests || r.Code() != core.CodeRateLimited {
		t.Fatalf("session 4: status %d %s, want 429 rate_limited", r.Status, r.Body)
	}
	var e struct {
		Error struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	r.JSON(t, &e)
	if e.Error.RequestID == "" {
		t.Errorf("429 without a request id: %s", r.Body)
	}
	end := before.Truncate(core.RateWindow).Add(core.RateWindow)
	retry, err := strconv.Atoi(r.Header.Get("Retry-After"))
	lo, hi := int(end.Sub(after)/time.Second), int((end.Sub(before)+time.Second-1)/time.Second)
	if err != nil || retry < lo || retry > hi {
		t.Errorf("Retry-After %q, want the seconds to the window's end, %d to %d", r.Header.Get("Retry-After"), lo, hi)
	}
	// Another patient has a budget of their own.
	if r := create(env.Token(patient2, core.RolePatient), otherPhoto); r.Status != http.StatusCreated {
		t.Errorf("another patient's session: status %d %s", r.Status, r.Body)
	}
	var inbox struct {
		Items []struct {
			Type string `json:"type"`
		} `json:"items"`
	}
	env.Do("GET", "/v1/notifications", env.Token(pro1, core.RoleProfessional), nil).JSON(t, &inbox)
	if len(inbox.Items) != 4 {
		t.Errorf("the professional got %d notifications, want 4 (three sessions of one patient, one of the other)", len(inbox.Items))
	}
	env.Clock.Advance(time.Duration(retry) * time.Second)
	if r := create(tok, photoID); r.Status != http.StatusCreated {
		t.Errorf("after Retry-After: status %d %s, want 201", r.Status, r.Body)
	}
}

// TestOtherWritesIntoOthersDataAreBounded: the other calls that write into
// someone else's chain or inbox are limited per window too, each counted
// only once the caller is authorized: a stranger still gets the 404 of an
// unknown id, never a 429 that would tell them the thing exists.
func TestOtherWritesIntoOthersDataAreBounded(t *testing.T) {
	forEachRuntime(t, core.Config{Limits: core.Limits{AccessesOpened: 2, ActivityReports: 2, Appointments: 2, ChatUploads: 2}}, testOtherWritesIntoOthersDataAreBounded)
}

func testOtherWritesIntoOthersDataAreBounded(t *testing.T, env *testenv.Env) {
	freshWindow(env)
	ctx := t.Context()
	pat, _, pro, other := parties(env)
	photoID := pat.upload(t, "CROWN", "image/jpeg", []byte("viewed"), nil)
	sh, err := pat.c.CreateShare(ctx, client.ShareRequest{ProfessionalID: pro1, PhotoIDs: []string{photoID}, ExpiresIn: 3600, MaxViews: 10, ScreenshotPolicy: "allow"}, "")
	if err != nil {
		t.Fatal(err)
	}
	dev, _ := client.NewDevice(core.KEMX25519)
	var access string
	for i := range 2 {
		a, err := pro.c.OpenAccess(ctx, sh.ShareID, dev)
		if err != nil {
			t.Fatalf("access %d: %v", i+1, err)
		}
		access = a.AccessID
	}
	_, err = pro.c.OpenAccess(ctx, sh.ShareID, dev)
	wantCode(t, "a third access in the window", err, core.CodeRateLimited)
	_, err = other.c.OpenAccess(ctx, sh.ShareID, dev)
	wantCode(t, "a stranger's access", err, core.CodeNotFound)

	report := func(c *client.Client, typ string) error {
		return c.Do(ctx, "POST", "/v1/access/"+access+"/activity", nil, map[string]any{
			"events": []map[string]any{{"type": typ, "at": env.Clock.Now()}},
		}, nil)
	}
	for i := range 2 {
		if err := report(pro.c, "screenshot"); err != nil {
			t.Fatalf("report %d: %v", i+1, err)
		}
	}
	wantCode(t, "a third report in the window", report(pro.c, "screenshot"), core.CodeRateLimited)
	wantCode(t, "a stranger's report", report(other.c, "screenshot"), core.CodeNotFound)
	// The grantee's spent reports do not stop the patient's.
	if err := report(pat.c, "unexpected_access"); err != nil {
		t.Errorf("the patient's report: %v", err)
	}

	for i := range 2 {
		if r := registerAppointment(t, env, fmt.Sprintf("appt-%d", i), clinic1, patient1, pro1); r.Status != http.StatusCreated {
			t.Fatalf("appointment %d: status %d %s", i+1, r.Status, r.Body)
		}
	}
	if r := registerAppointment(t, env, "appt-2", clinic1, patient1, pro1); r.Status != http.StatusTooManyRequests || r.Code() != core.CodeRateLimited {
		t.Errorf("a third appointment of one patient: status %d %s, want 429", r.Status, r.Body)
	}
	if r := registerAppointment(t, env, "appt-3", clinic1, patient2, pro1); r.Status != http.StatusCreated {
		t.Errorf("another patient's appointment: status %d %s", r.Status, r.Body)
	}
	if r := registerAppointment(t, env, "appt-4", clinic2, patient1, pro1); r.Status != http.StatusCreated {
		t.Errorf("another clinic's appointment: status %d %s", r.Status, r.Body)
	}

	stage := func(sub string, role core.Role, appt string) testenv.Response {
		data, sum := testenv.RandomBytes(10)
		return env.Do("POST", "/api/chat-images", env.Token(sub, role), map[string]any{
			"appointment_id": appt, "content_type": "image/png", "size": len(data), "sha256": sum,
		})
	}
	for i := range 2 {
		if r := stage(pro1, core.RoleProfessional, "appt-0"); r.Status != http.StatusCreated {
			t.Fatalf("chat image %d: status %d %s", i+1, r.Status, r.Body)
		}
	}
	if r := stage(pro1, core.RoleProfessional, "appt-0"); r.Status != http.StatusTooManyRequests {
		t.Errorf("a third chat image in the window: status %d %s, want 429", r.Status, r.Body)
	}
	if r := stage(patient1, core.RolePatient, "appt-0"); r.Status != http.StatusCreated {
		t.Errorf("another participant's chat image: status %d %s", r.Status, r.Body)
	}
	if r := stage(pro2, core.RoleProfessional, "appt-0"); r.Status != http.StatusNotFound {
		t.Errorf("a stranger's chat image: status %d %s, want 404", r.Status, r.Body)
	}
	wantChainValid(t, env)
}

// TestAppointmentIDsAreScopedToTheClinic: a clinic's PUT of an id that
// another clinic registered answers as for a new id, and creates the
// clinic's own appointment without touching the other one; each
// appointment's participants chat in their own. A participant of two
// clinics' appointments with one id names the clinic.
func TestAppointmentIDsAreScopedToTheClinic(t *testing.T) {
	forEachRuntime(t, core.Config{}, testAppointmentIDsAreScopedToTheClinic)
}

func testAppointmentIDsAreScopedToTheClinic(t *testing.T, env *testenv.Env) {
	first := registerAppointment(t, env, appt1, clinic1, patient1, pro1)
	taken := registerAppointment(t, env, appt1, clinic2, patient2, pro2)
	fresh := registerAppointment(t, env, "appt-fresh", clinic2, patient2, pro2)
	if first.Status != http.StatusCreated || fresh.Status != http.StatusCreated {
		t.Fatalf("registrations: status %d and %d, want 201", first.Status, fresh.Status)
	}
	if taken.Status != fresh.Status {
		t.Errorf("another clinic's PUT of an existing id: status %d %s; a new id: %d", taken.Status, taken.Body, fresh.Status)
	}
	var got struct {
		AppointmentID   string   `json:"appointment_id"`
		PatientID       string   `json:"patient_id"`
		ProfessionalIDs []string `json:"professional_ids"`
	}
	taken.JSON(t, &got)
	if got.AppointmentID != appt1 || got.PatientID != patient2 || len(got.ProfessionalIDs) != 1 || got.ProfessionalIDs[0] != pro2 {
		t.Errorf("clinic 2's appointment = %+v, want its own", got)
	}
	if r := registerAppointment(t, env, appt1, clinic2, patient2, pro2); r.Status != http.StatusOK {
		t.Errorf("clinic 2 updates its appointment: status %d %s, want 200", r.Status, r.Body)
	}

	// Each appointment's participants chat in their own.
	img1, _ := chatImage(t, env, patient1, core.RolePatient, appt1)
	img2, _ := chatImage(t, env, patient2, core.RolePatient, appt1)
	for _, tc := range []struct {
		img, pro string
		want     int
	}{
		{img1, pro1, http.StatusOK},
		{img1, pro2, http.StatusNotFound},
		{img2, pro2, http.StatusOK},
		{img2, pro1, http.StatusNotFound},
	} {
		if r := env.Do("GET", "/api/chat-images/"+tc.img+"/signed-url", env.Token(tc.pro, core.RoleProfessional), nil); r.Status != tc.want {
			t.Errorf("%s fetches %s: status %d, want %d", tc.pro, tc.img, r.Status, tc.want)
		}
	}

	// One patient in two clinics' appointments of one id names the clinic.
	registerAppointment(t, env, "appt-both", clinic1, patient1, pro1)
	registerAppointment(t, env, "appt-both", clinic2, patient1, pro2)
	upload := func(body map[string]any) testenv.Response {
		data, sum := testenv.RandomBytes(100)
		body["content_type"], body["size"], body["sha256"] = "image/png", len(data), sum
		return env.Do("POST", "/api/chat-images", env.Token(patient1, core.RolePatient), body)
	}
	if r := upload(map[string]any{"appointment_id": "appt-both"}); r.Status != http.StatusConflict || r.Code() != core.CodeConflict {
		t.Errorf("upload to an id of two of the caller's appointments: status %d %s, want 409", r.Status, r.Body)
	}
	r := upload(map[string]any{"appointment_id": "appt-both", "clinic_id": clinic2})
	if r.Status != http.StatusCreated {
		t.Fatalf("upload naming the clinic: status %d %s, want 201", r.Status, r.Body)
	}
	var up chatUploadResp
	r.JSON(t, &up)
	img, err := env.Store.GetChatImage(t.Context(), up.ImageID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{patient1, pro2}, img.Participants); diff != "" {
		t.Errorf("participants of the image sent to clinic 2's appointment (-want +got):\n%s", diff)
	}
	if r := env.Do("POST", "/api/chat-images", env.Token(pro1, core.RoleProfessional), map[string]any{
		"appointment_id": "appt-both", "clinic_id": clinic2, "content_type": "image/png", "size": 1, "sha256": make([]byte, 32),
	}); r.Status != http.StatusNotFound {
		t.Errorf("upload naming a clinic whose appointment the caller is not in: status %d %s, want 404", r.Status, r.Body)
	}
}

// TestLimitsHoldUnderConcurrency: many requests at once past a limit get
// exactly the limit through, and exactly the limit of denials (and one
// rate_limited record) into the chain.
func TestLimitsHoldUnderConcurrency(t *testing.T) {
	forEachRuntime(t, core.Config{Limits: core.Limits{SharesCreated: 5, DeniedRecords: 3}}, testLimitsHoldUnderConcurrency)
}

func testLimitsHoldUnderConcurrency(t *testing.T, env *testenv.Env) {
	freshWindow(env)
	pat, _, _, _ := parties(env)
	photoID := pat.upload(t, "CROWN", "image/jpeg", []byte("shared at once"), nil)
	registerAppointment(t, env, appt1, clinic1, patient1, pro1)
	img, _ := chatImage(t, env, patient1, core.RolePatient, appt1)

	const n = 12
	tok := env.Token(patient1, core.RolePatient)
	probe := env.Token("pro-probe", core.RoleProfessional)
	shares, probes := make([]int, n), make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			shares[i] = env.Do("POST", "/v1/shares", tok, map[string]any{
				"professional_id": pro1, "photo_ids": []string{photoID}, "expires_in": 3600, "max_views": 1,
			}).Status
		})
		wg.Go(func() {
			probes[i] = env.Do("GET", "/api/chat-images/"+img+"/signed-url", probe, nil).Status
		})
	}
	wg.Wait()
	count := func(statuses []int) map[int]int {
		m := map[int]int{}
		for _, s := range statuses {
			m[s]++
		}
		return m
	}
	if diff := cmp.Diff(map[int]int{http.StatusCreated: 5, http.StatusTooManyRequests: n - 5}, count(shares)); diff != "" {
		t.Errorf("concurrent sessions by status (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[int]int{http.StatusNotFound: n}, count(probes)); diff != "" {
		t.Errorf("concurrent probes by status (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{core.CodeNotFound: 3, core.CodeRateLimited: 1}, countDenials(t, env, patient1, "pro-probe")); diff != "" {
		t.Errorf("recorded probes (-want +got):\n%s", diff)
	}
	wantChainValid(t, env)
}

// viewedOnce shares a photo of patient1 with pro1 for one view, which pro1
// spends: it returns pro1, the access and the photo.
func viewedOnce(t *testing.T, env *testenv.Env) (party, string, string) {
	t.Helper()
	ctx := t.Context()
	pat, _, pro, _ := parties(env)
	photoID := pat.upload(t, "CROWN", "image/jpeg", []byte("one view only"), nil)
	_, _, a := openShare(t, pat, pro, client.ShareRequest{ProfessionalID: pro1, PhotoIDs: []string{photoID}, ExpiresIn: 3600, MaxViews: 1}, core.KEMX25519)
	if _, err := pro.c.IssueKey(ctx, a.AccessID, photoID); err != nil {
		t.Fatal(err)
	}
	return pro, a.AccessID, photoID
}
