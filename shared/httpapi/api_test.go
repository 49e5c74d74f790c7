package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/testenv"
)

// The cast of these tests.
const (
	patient1 = "pat-1"
	patient2 = "pat-2"
	pro1     = "pro-1"
	pro2     = "pro-2"
	clinic1  = "clinic-1"
	clinic2  = "clinic-2"
	appt1    = "appt-1"
)

type chatUploadResp struct {
	ImageID string         `json:"image_id"`
	URL     string         `json:"url"`
	Status  string         `json:"status"`
	Upload  testenv.Upload `json:"upload"`
}

type photoUploadResp struct {
	PhotoID string         `json:"photo_id"`
	Status  string         `json:"status"`
	Upload  testenv.Upload `json:"upload"`
}

type signedURLResp struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

type auditItem struct {
	PatientID    string `json:"patient_id"`
	Seq          uint64 `json:"seq"`
	ActorID      string `json:"actor_id"`
	Action       string `json:"action"`
	ResourceID   string `json:"resource_id"`
	Outcome      string `json:"outcome"`
	Reason       string `json:"reason"`
	SourceIP     string `json:"source_ip"`
	UserAgent    string `json:"user_agent"`
	ResourceType string `json:"resource_type"`
	V            int    `json:"v"`
	PhotoID      string `json:"photo_id"`
	ShareID      string `json:"share_id"`
	Device       string `json:"device"`
	PrevHash     string `json:"prev_hash"`
	Hash         string `json:"hash"`
}

type auditPage struct {
	Items      []auditItem `json:"items"`
	NextCursor string      `json:"next_cursor"`
}

func registerAppointment(t *testing.T, env *testenv.Env, id, clinic, patient string, pros ...string) testenv.Response {
	t.Helper()
	start := time.Now().UTC().Truncate(time.Second)
	return env.Do("PUT", "/v1/appointments/"+id, env.Token(clinic, core.RoleClinic), map[string]any{
		"patient_id": patient, "professional_ids": pros,
		"starts_at": start, "ends_at": start.Add(time.Hour),
	})
}

// chatImage uploads and finalizes a chat image as uploader and returns its id
// and bytes.
func chatImage(t *testing.T, env *testenv.Env, uploader string, role core.Role, appt string) (string, []byte) {
	t.Helper()
	data, sum := testenv.RandomBytes(3000)
	tok := env.Token(uploader, role)
	up := created[chatUploadResp](t, env, tok, "/api/chat-images", map[string]any{
		"appointment_id": appt, "content_type": "image/png", "size": len(data), "sha256": sum,
	})
	if got := env.Send(up.Upload, data); got.Status != http.StatusOK {
		t.Fatalf("upload bytes: status %d %s", got.Status, got.Body)
	}
	if r := env.Do("POST", "/api/chat-images/"+up.ImageID+"/finalize", tok, nil); r.Status != http.StatusOK {
		t.Fatalf("finalize: status %d %s", r.Status, r.Body)
	}
	return up.ImageID, data
}

// created posts body to path as tok, wants 201 Created and returns the
// answer.
func created[T any](t *testing.T, env *testenv.Env, tok, path string, body map[string]any) T {
	t.Helper()
	r := env.Do("POST", path, tok, body)
	if r.Status != http.StatusCreated {
		t.Fatalf("POST %s: status %d %s", path, r.Status, r.Body)
	}
	var v T
	r.JSON(t, &v)
	return v
}

// photoUpload stages a CROWN photo of random bytes as tok and returns the
// answer and the bytes, not yet sent.
func photoUpload(t *testing.T, env *testenv.Env, tok string) (photoUploadResp, []byte) {
	t.Helper()
	data, sum := testenv.RandomBytes(2048)
	key, _ := testenv.RandomBytes(32)
	return created[photoUploadResp](t, env, tok, "/v1/photos", map[string]any{
		"angle": "CROWN", "content_type": "image/jpeg", "size": len(data), "sha256": sum, "data_key": key,
	}), data
}

// photo stages, uploads and (if finalize) finalizes a photo of owner.
func photo(t *testing.T, env *testenv.Env, owner string, finalize bool) (string, []byte) {
	t.Helper()
	tok := env.Token(owner, core.RolePatient)
	up, data := photoUpload(t, env, tok)
	if got := env.Send(up.Upload, data); got.Status != http.StatusOK {
		t.Fatalf("upload ciphertext: status %d %s", got.Status, got.Body)
	}
	if finalize {
		if r := env.Do("POST", "/v1/photos/"+up.PhotoID+"/finalize", tok, nil); r.Status != http.StatusOK {
			t.Fatalf("finalize: status %d %s", r.Status, r.Body)
		}
	}
	return up.PhotoID, data
}

func history(t *testing.T, env *testenv.Env, sub string, role core.Role) []auditItem {
	t.Helper()
	var all []auditItem
	cursor := ""
	for {
		q := "/v1/audit?limit=100"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		r := env.Do("GET", q, env.Token(sub, role), nil)
		if r.Status != http.StatusOK {
			t.Fatalf("history: status %d %s", r.Status, r.Body)
		}
		var p auditPage
		r.JSON(t, &p)
		all = append(all, p.Items...)
		if p.NextCursor == "" {
			return all
		}
		cursor = p.NextCursor
	}
}

func TestChatImageFlow(t *testing.T) { forEachRuntime(t, core.Config{}, testChatImageFlow) }

func testChatImageFlow(t *testing.T, env *testenv.Env) {
	if r := registerAppointment(t, env, appt1, clinic1, patient1, pro1); r.Status != http.StatusCreated {
		t.Fatalf("register: status %d %s, want 201", r.Status, r.Body)
	}
	if r := registerAppointment(t, env, appt1, clinic1, patient1, pro1); r.Status != http.StatusOK {
		t.Fatalf("re-register: status %d %s, want 200", r.Status, r.Body)
	}

	data, sum := testenv.RandomBytes(5000)
	up := created[chatUploadResp](t, env, env.Token(patient1, core.RolePatient), "/api/chat-images", map[string]any{
		"appointment_id": appt1, "content_type": "image/jpeg", "size": len(data), "sha256": sum,
	})
	if want := "private://chat-images/" + up.ImageID; up.URL != want {
		t.Errorf("url = %q, want %q", up.URL, want)
	}
	if up.Upload.Method != http.MethodPut {
		t.Errorf("upload method = %q, want PUT", up.Upload.Method)
	}
	// Not finalized yet: nobody gets a URL.
	if r := env.Do("GET", "/api/chat-images/"+up.ImageID+"/signed-url", env.Token(pro1, core.RoleProfessional), nil); r.Status != http.StatusConflict {
		t.Errorf("signed url before finalize: status %d, want 409", r.Status)
	}
	if r := env.Do("POST", "/api/chat-images/"+up.ImageID+"/finalize", env.Token(patient1, core.RolePatient), nil); r.Status != http.StatusConflict {
		t.Errorf("finalize before upload: status %d %s, want 409", r.Status, r.Body)
	}
	if r := env.Send(up.Upload, data); r.Status != http.StatusOK {
		t.Fatalf("upload: status %d %s", r.Status, r.Body)
	}
	r := env.Do("POST", "/api/chat-images/"+up.ImageID+"/finalize", env.Token(patient1, core.RolePatient), nil)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"status":"ready"`) {
		t.Fatalf("finalize: status %d %s", r.Status, r.Body)
	}

	before := time.Now()
	r = env.Do("GET", "/api/chat-images/"+up.ImageID+"/signed-url", env.Token(pro1, core.RoleProfessional), nil)
	if r.Status != http.StatusOK {
		t.Fatalf("signed url: status %d %s", r.Status, r.Body)
	}
	var su signedURLResp
	r.JSON(t, &su)
	if d := su.ExpiresAt.Sub(before); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("expires_at is %v after the request, want 1h", d)
	}
	got := env.Get(su.URL)
	if got.Status != http.StatusOK || !bytes.Equal(got.Body, data) {
		t.Fatalf("GET signed url: status %d, %d bytes; want 200 and the uploaded %d bytes", got.Status, len(got.Body), len(data))
	}

	// Tampered signatures and expired URLs fail.
	u, _ := url.Parse(su.URL)
	q := u.Query()
	for k, v := range q {
		if strings.Contains(strings.ToLower(k), "signature") {
			sig := []byte(v[0])
			sig[0] ^= 1
			if sig[0] == v[0][0] {
				sig[0] = '0'
			}
			q.Set(k, string(sig))
		}
	}
	u.RawQuery = q.Encode()
	if r := env.Get(u.String()); r.Status != http.StatusForbidden {
		t.Errorf("tampered url: status %d, want 403", r.Status)
	}
	if env.Name == "embedded" { // S3's URLs follow real time: blobtest checks their expiry on VersityGW
		env.Clock.Advance(61 * time.Minute)
		if r := env.Get(su.URL); r.Status != http.StatusForbidden {
			t.Errorf("expired url: status %d, want 403", r.Status)
		}
	}

	// A stranger is denied, and the denial is audited in the patient's chain.
	if r := env.Do("GET", "/api/chat-images/"+up.ImageID+"/signed-url", env.Token(pro2, core.RoleProfessional), nil); r.Status != http.StatusNotFound || r.Code() != core.CodeNotFound {
		t.Errorf("stranger: status %d code %q, want 404 not_found", r.Status, r.Code())
	}
	var granted, denied int
	for _, a := range history(t, env, patient1, core.RolePatient) {
		if a.Action != string(core.AuditChatImageSignedURL) || a.ResourceID != up.ImageID {
			continue
		}
		switch {
		case a.ActorID == pro1 && a.Outcome == core.OutcomeSuccess:
			granted++
			if a.SourceIP != "127.0.0.1" || a.UserAgent != "medshare-test/1" {
				t.Errorf("audit record source = %q %q, want the request's IP and user agent", a.SourceIP, a.UserAgent)
			}
		case a.ActorID == pro2 && a.Outcome == core.OutcomeDenied && a.Reason == core.CodeNotFound:
			denied++
		}
	}
	if granted != 1 || denied != 1 {
		t.Errorf("audit: %d granted and %d denied fetches, want 1 and 1", granted, denied)
	}
	r = env.Do("GET", "/v1/audit/verify", env.Token(patient1, core.RolePatient), nil)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"valid":true`) {
		t.Errorf("verify: status %d %s", r.Status, r.Body)
	}
	for k, v := range u.Query() {
		if strings.Contains(strings.ToLower(k), "signature") && strings.Contains(env.Logs.String(), v[0]) {
			t.Errorf("logs contain a signed URL's signature")
		}
	}
}

func TestPhotoFlow(t *testing.T) { forEachRuntime(t, core.Config{}, testPhotoFlow) }

func testPhotoFlow(t *testing.T, env *testenv.Env) {
	tok := env.Token(patient1, core.RolePatient)
	data, sum := testenv.RandomBytes(4096)
	key, _ := testenv.RandomBytes(32)
	meta := []byte("client-encrypted-notes")
	up := created[photoUploadResp](t, env, tok, "/v1/photos", map[string]any{
		"angle": "HAIRLINE", "content_type": "image/heic", "size": len(data), "sha256": sum,
		"data_key": key, "metadata": meta,
	})
	if up.Status != "pending" {
		t.Errorf("status = %q, want pending", up.Status)
	}

	// The server keeps the data key only wrapped, under the photo's context.
	stored, err := env.Store.GetPhoto(t.Context(), patient1, up.PhotoID)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored.WrappedKey.Ciphertext, key) {
		t.Error("the stored wrapped key contains the plaintext data key")
	}
	plain, err := env.Keys.Unwrap(t.Context(), stored.WrappedKey, map[string]string{"photo": up.PhotoID, "owner": patient1})
	if err != nil || !bytes.Equal(plain, key) {
		t.Errorf("unwrap under the photo's context: %v, equal=%v", err, bytes.Equal(plain, key))
	}
	if _, err := env.Keys.Unwrap(t.Context(), stored.WrappedKey, map[string]string{"photo": up.PhotoID, "owner": patient2}); err == nil {
		t.Error("unwrap under another owner's context succeeded")
	}
	if logs := env.Logs.String(); strings.Contains(logs, base64.StdEncoding.EncodeToString(key)) {
		t.Error("logs contain the data key")
	}

	// Sending other bytes is refused and leaves nothing; then the real upload.
	bad := append([]byte(nil), data...)
	bad[0] ^= 0xff
	if r := env.Send(up.Upload, bad); r.Status < 400 || r.Status >= 500 {
		t.Errorf("upload of other bytes: status %d, want 4xx", r.Status)
	}
	if r := env.Do("POST", "/v1/photos/"+up.PhotoID+"/finalize", tok, nil); r.Status != http.StatusConflict {
		t.Errorf("finalize after refused upload: status %d %s, want 409", r.Status, r.Body)
	}
	if r := env.Send(up.Upload, data); r.Status != http.StatusOK {
		t.Fatalf("upload: status %d %s", r.Status, r.Body)
	}
	for i := range 2 { // finalize is idempotent
		r := env.Do("POST", "/v1/photos/"+up.PhotoID+"/finalize", tok, nil)
		if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"status":"ready"`) {
			t.Fatalf("finalize #%d: status %d %s", i+1, r.Status, r.Body)
		}
	}

	r := env.Do("GET", "/v1/photos", tok, nil)
	var list struct {
		Items []struct {
			PhotoID  string `json:"photo_id"`
			Status   string `json:"status"`
			Angle    string `json:"angle"`
			Metadata []byte `json:"metadata"`
			SHA256   []byte `json:"sha256"`
		} `json:"items"`
	}
	r.JSON(t, &list)
	if len(list.Items) != 1 || list.Items[0].PhotoID != up.PhotoID || list.Items[0].Status != "ready" ||
		list.Items[0].Angle != "HAIRLINE" || !bytes.Equal(list.Items[0].Metadata, meta) || !bytes.Equal(list.Items[0].SHA256, sum) {
		t.Errorf("list = %s", r.Body)
	}
	if strings.Contains(string(r.Body), "wrapped") || strings.Contains(string(r.Body), "data_key") {
		t.Errorf("list exposes key material: %s", r.Body)
	}

	if r := env.Do("DELETE", "/v1/photos/"+up.PhotoID, tok, nil); r.Status != http.StatusOK {
		t.Fatalf("delete: status %d %s", r.Status, r.Body)
	}
	if r := env.Do("DELETE", "/v1/photos/"+up.PhotoID, tok, nil); r.Status != http.StatusNotFound {
		t.Errorf("second delete: status %d, want 404", r.Status)
	}
	if _, err := env.Blobs.Stat(t.Context(), core.PhotoObjectKey(patient1, up.PhotoID)); !core.IsKind(err, core.KindNotFound) {
		t.Errorf("object after delete: %v, want not found", err)
	}
	var actions []string
	for _, a := range history(t, env, patient1, core.RolePatient) {
		actions = append(actions, a.Action+":"+a.Outcome)
	}
	want := []string{"photo.delete:success", "photo.finalize:success", "photo.finalize:success"}
	if strings.Join(actions, ",") != strings.Join(want, ",") {
		t.Errorf("history = %v, want %v (newest first)", actions, want)
	}
}

// TestExpiryAtReadTime: items past their expiry but still stored are treated as
// expired wherever they are read.
func TestExpiryAtReadTime(t *testing.T) {
	forEachRuntime(t, core.Config{UploadTTL: 10 * time.Minute}, testExpiryAtReadTime)
}

func testExpiryAtReadTime(t *testing.T, env *testenv.Env) {
	registerAppointment(t, env, appt1, clinic1, patient1, pro1)
	photoID, _ := photo(t, env, patient1, false) // uploaded, not finalized

	data, sum := testenv.RandomBytes(100)
	tok := env.Token(patient1, core.RolePatient)
	r := env.Do("POST", "/api/chat-images", tok, map[string]any{"appointment_id": appt1, "content_type": "image/png", "size": len(data), "sha256": sum})
	var up chatUploadResp
	r.JSON(t, &up)
	env.Send(up.Upload, data)

	env.Clock.Advance(11 * time.Minute)
	if r := env.Do("POST", "/v1/photos/"+photoID+"/finalize", tok, nil); r.Status != http.StatusNotFound {
		t.Errorf("finalize of abandoned photo: status %d %s, want 404", r.Status, r.Body)
	}
	if r := env.Do("GET", "/v1/photos", tok, nil); strings.Contains(string(r.Body), photoID) {
		t.Errorf("list shows an abandoned upload: %s", r.Body)
	}
	if r := env.Do("POST", "/api/chat-images/"+up.ImageID+"/finalize", tok, nil); r.Status != http.StatusNotFound {
		t.Errorf("finalize of abandoned chat image: status %d, want 404", r.Status)
	}
	if r := env.Do("GET", "/api/chat-images/"+up.ImageID+"/signed-url", tok, nil); r.Status != http.StatusNotFound {
		t.Errorf("signed url of abandoned chat image: status %d, want 404", r.Status)
	}
	// The presigned upload itself has expired too (the embedded store's URLs
	// follow the test clock; S3's follow real time).
	if r := env.Send(up.Upload, data); env.Name == "embedded" && r.Status != http.StatusForbidden {
		t.Errorf("upload after expiry: status %d, want 403", r.Status)
	}
}

func TestParticipantsFixedOnceImagesExist(t *testing.T) {
	forEachRuntime(t, core.Config{}, testParticipantsFixedOnceImagesExist)
}

func testParticipantsFixedOnceImagesExist(t *testing.T, env *testenv.Env) {
	registerAppointment(t, env, appt1, clinic1, patient1, pro1)
	chatImage(t, env, patient1, core.RolePatient, appt1)
	if r := registerAppointment(t, env, appt1, clinic1, patient1, pro1, pro2); r.Status != http.StatusConflict {
		t.Errorf("adding a professional after images: status %d %s, want 409", r.Status, r.Body)
	}
	if r := registerAppointment(t, env, appt1, clinic1, patient1, pro1); r.Status != http.StatusOK {
		t.Errorf("same participants, new times: status %d %s, want 200", r.Status, r.Body)
	}
	// Another clinic's appointment with the same id is its own: it has no
	// images, whatever this one has (TestAppointmentIDsAreScopedToTheClinic).
	if r := registerAppointment(t, env, appt1, clinic2, patient1, pro1, pro2); r.Status != http.StatusCreated {
		t.Errorf("another clinic's appointment with the same id: status %d %s, want 201", r.Status, r.Body)
	}
}

// TestConcurrentFetchesAudited: every one of many concurrent fetches lands in
// one linear chain that verifies.
func TestConcurrentFetchesAudited(t *testing.T) {
	forEachRuntime(t, core.Config{}, testConcurrentFetchesAudited)
}

func testConcurrentFetchesAudited(t *testing.T, env *testenv.Env) {
	registerAppointment(t, env, appt1, clinic1, patient1, pro1)
	id, _ := chatImage(t, env, patient1, core.RolePatient, appt1)
	before := len(history(t, env, patient1, core.RolePatient))

	const n = 200
	tok := env.Token(pro1, core.RoleProfessional)
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", env.URL+"/api/chat-images/"+id+"/signed-url", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := env.Client.Do(req)
			if err != nil {
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusOK {
			t.Fatalf("fetch %d: status %d, want 200", i, s)
		}
	}
	recs := history(t, env, patient1, core.RolePatient)
	if got := len(recs) - before; got != n {
		t.Errorf("audit records added = %d, want %d", got, n)
	}
	seen := map[uint64]bool{}
	for _, r := range recs {
		if seen[r.Seq] {
			t.Fatalf("sequence %d appears twice: the chain forked", r.Seq)
		}
		seen[r.Seq] = true
	}
	for s := uint64(1); s <= uint64(len(recs)); s++ {
		if !seen[s] {
			t.Fatalf("sequence %d is missing", s)
		}
	}
	r := env.Do("GET", "/v1/audit/verify", env.Token(patient1, core.RolePatient), nil)
	if !strings.Contains(string(r.Body), fmt.Sprintf(`"valid":true,"records":%d`, len(recs))) {
		t.Errorf("verify = %s, want valid with %d records", r.Body, len(recs))
	}
}

// forEachRuntime runs a test on the embedded runtime and on the AWS adapters
// against the local emulators: every security property is checked on both.
func forEachRuntime(t *testing.T, cfg core.Config, test func(*testing.T, *testenv.Env)) {
	for _, rt := range testenv.Runtimes {
		t.Run(rt.Name, func(t *testing.T) { test(t, rt.Start(t, cfg)) })
	}
}

// wantChainValid checks that patient1's audit chain verifies.
func wantChainValid(t *testing.T, env *testenv.Env) {
	t.Helper()
	r := env.Do("GET", "/v1/audit/verify", env.Token(patient1, core.RolePatient), nil)
	if !strings.Contains(string(r.Body), `"valid":true`) {
		t.Errorf("verify: %s", r.Body)
	}
}
