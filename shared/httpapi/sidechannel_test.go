package httpapi_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/testenv"
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
			data, sum := testenv.RandomBytes(2048)
			key, _ := testenv.RandomBytes(32)
			r := env.Do("POST", "/v1/photos", tok, map[string]any{
				"angle": "CROWN", "content_type": "image/jpeg", "size": len(data), "sha256": sum, "data_key": key,
			})
			if r.Status != http.StatusCreated {
				t.Fatalf("presign: status %d %s", r.Status, r.Body)
			}
			var up photoUploadResp
			r.JSON(t, &up)
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
