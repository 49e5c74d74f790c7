package httpapi_test

import (
	"net/http"
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
