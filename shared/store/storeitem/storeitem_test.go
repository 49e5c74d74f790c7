package storeitem_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/store/storeitem"
)

// TestReadsEarlierBboltShapes: what the embedded store wrote before the
// stores shared one shape (times through encoding/json, trailing zeros
// cut; a share's devices as a list) reads as the same entity. The golden
// files of boltstore check whole stores; this names the two differences.
func TestReadsEarlierBboltShapes(t *testing.T) {
	raw := `{"share_id":"sh_1","patient_id":"pat-1","professional_id":"dr-a","photos":null,"purpose":"p",
		"screenshot_policy":"warn","max_views":5,"views_used":1,"access_window_ns":900000000000,"max_devices":2,
		"devices":["dev-b","dev-a"],"status":"active","created_at":"2026-03-14T15:00:00Z",
		"share_expires_at":"2026-03-14T16:00:00.5Z","revoked_at":"0001-01-01T00:00:00Z","revoked_by":"",
		"revoke_reason":"","idempotency_key":"","request_hash":null}`
	var r storeitem.Share
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		t.Fatal(err)
	}
	got, err := r.Entity()
	if err != nil {
		t.Fatal(err)
	}
	want := core.Share{ID: "sh_1", PatientID: "pat-1", ProfessionalID: "dr-a", Purpose: "p", ScreenshotPolicy: core.ScreenshotWarn,
		MaxViews: 5, ViewsUsed: 1, AccessWindow: 15 * time.Minute, MaxDevices: 2,
		// A list has no binding times: its devices read in fingerprint order
		// (their order is not part of the store's contract).
		Devices: []string{"dev-a", "dev-b"}, Status: core.ShareActive,
		CreatedAt: time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC), ExpiresAt: time.Date(2026, 3, 14, 16, 0, 0, 500000000, time.UTC)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("earlier share mismatch (-want +got):\n%s", diff)
	}
	// Binding a device afterwards keeps the ones bound before first.
	r.Devices.Bind("dev-0", want.CreatedAt)
	if got, want := r.Devices.Bound(), []string{"dev-a", "dev-b", "dev-0"}; !cmp.Equal(got, want) {
		t.Errorf("devices after a bind: got %v, want %v", got, want)
	}
	// Written again, the shape is the map both stores keep.
	out, err := json.Marshal(r.Devices)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), `{"dev-0":"2026-03-14T15:00:00.000000000Z","dev-a":"","dev-b":""}`; got != want {
		t.Errorf("devices written: got %s, want %s", got, want)
	}
}

// TestTimesRoundTrip: a stored time round-trips to the nanosecond, in UTC,
// the zero time included, and fixed-width stored times sort as strings as
// they do as times.
func TestTimesRoundTrip(t *testing.T) {
	base := time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.FixedZone("x", 5*3600))
	for _, tm := range []time.Time{{}, base, base.Add(-time.Nanosecond), base.Truncate(time.Second)} {
		s := storeitem.FormatTime(tm)
		back, err := storeitem.ParseTime(s)
		if err != nil || !back.Equal(tm) || back.Location() != time.UTC {
			t.Errorf("ParseTime(FormatTime(%v)) = %v, %v; want the same instant in UTC", tm, back, err)
		}
		if len(s) != len(storeitem.TimeLayout)-len("Z07:00")+len("Z") {
			t.Errorf("FormatTime(%v) = %q: not fixed width", tm, s)
		}
	}
	if a, b := storeitem.FormatTime(base), storeitem.FormatTime(base.Add(time.Nanosecond)); a >= b {
		t.Errorf("%q does not sort before %q", a, b)
	}
}
