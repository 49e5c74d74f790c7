package storeitem_test

import (
	"encoding/json"
	"fmt"
	"reflect"
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

// fill sets every field of v, through slices, maps and structs, to a value
// that no other field has (n counts them); times are off UTC, with
// nanoseconds.
func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("v%03d", *n))
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Uint16, reflect.Uint64:
		v.SetUint(uint64(*n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range s.Len() {
			fill(s.Index(i), n)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		m.SetMapIndex(reflect.ValueOf(fmt.Sprintf("k%03d", *n)), reflect.ValueOf(fmt.Sprintf("v%03d", *n)))
		v.Set(m)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 3, 14, 15, *n, 26, 535897000+*n, time.FixedZone("x", 3600))))
			return
		}
		for i := range v.NumField() {
			fill(v.Field(i), n)
		}
	}
}

// roundTrip checks that entity e, every field set (fill), then edit
// applied, reads back from its stored shape as it was.
func roundTrip[E any, S interface{ Entity() (E, error) }](t *testing.T, of func(E) S, edit func(*E)) {
	t.Helper()
	var e E
	fill(reflect.ValueOf(&e).Elem(), new(int))
	if edit != nil {
		edit(&e)
	}
	got, err := of(e).Entity()
	if err != nil {
		t.Fatalf("Entity: %v", err)
	}
	if diff := cmp.Diff(e, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("%T after a round trip through its stored shape (-want +got):\n%s", e, diff)
	}
}

// TestCodecsRoundTrip: every field of every entity, those the codecs
// copy by name (copyFields) and those they set by hand, is stored and
// read back.
func TestCodecsRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"Photo", func(t *testing.T) { roundTrip(t, storeitem.PhotoOf, nil) }},
		{"Appointment", func(t *testing.T) { roundTrip(t, storeitem.AppointmentOf, nil) }},
		{"ChatImage", func(t *testing.T) { roundTrip(t, storeitem.ChatImageOf, nil) }},
		{"AuditRecord", func(t *testing.T) { roundTrip(t, storeitem.AuditRecordOf, nil) }},
		{"Share", func(t *testing.T) { roundTrip(t, storeitem.ShareOf, nil) }},
		{"Access", func(t *testing.T) { roundTrip(t, storeitem.AccessOf, nil) }},
		{"EphemeralKey", func(t *testing.T) { roundTrip(t, storeitem.EphemeralKeyOf, nil) }},
		{"InboxItem", func(t *testing.T) { roundTrip(t, storeitem.InboxItemOf, nil) }},
		// A report names its day: 00:00 UTC.
		{"DailyReport", func(t *testing.T) {
			roundTrip(t, storeitem.DailyReportOf, func(r *core.DailyReport) { r.Day = storeitem.DayOf(r.Day) })
		}},
	} {
		t.Run(tc.name, tc.run)
	}
}
