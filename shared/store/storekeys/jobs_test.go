package storekeys

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
)

func TestJobKeyShapes(t *testing.T) {
	// 01:30 on the 15th at UTC+05:30 is 20:00 on the 14th in UTC.
	at := time.Date(2026, 3, 15, 1, 30, 0, 0, time.FixedZone("x", 5*3600+1800))
	for _, tc := range []struct {
		name string
		got  Key
		want Key
	}{
		{"watermark", WatermarkKey(core.DueShare), Key{"JOB#share", "WATERMARK"}},
		{"daily report, named in UTC", DailyReportKey(at), Key{"REPORT#2026-03-14", "REPORT"}},
		{"tally", TallyKey("burst:ac_1:42"), Key{"TALLY#burst:ac_1:42", "TALLY"}},
	} {
		if diff := cmp.Diff(tc.want, tc.got); diff != "" {
			t.Errorf("%s: key mismatch (-want +got):\n%s", tc.name, diff)
		}
	}
}

// TestDueItemKey checks that every kind's key is the item's own key and
// parses back to the same id and owner.
func TestDueItemKey(t *testing.T) {
	for _, tc := range []struct {
		it   core.DueItem
		want Key
	}{
		{core.DueItem{Kind: core.DueUpload, ID: "ph_1", Owner: "pat#1"}, PhotoKey("pat#1", "ph_1")},
		{core.DueItem{Kind: core.DueUpload, ID: "ci_1"}, ChatImageKey("ci_1")},
		{core.DueItem{Kind: core.DueShare, ID: "sh_1"}, ShareKey("sh_1")},
		{core.DueItem{Kind: core.DueKey, ID: "ek_1"}, EphemeralKeyKey("ek_1")},
		{core.DueItem{Kind: core.DueNotification, ID: "nt_1", Owner: "dr-a"}, InboxKey("dr-a", "nt_1")},
	} {
		got, err := DueItemKey(tc.it)
		if err != nil || got != tc.want {
			t.Errorf("DueItemKey(%+v) = %v, %v; want %v", tc.it, got, err, tc.want)
		}
		id, owner, err := ParseDueItemKey(tc.it.Kind, got)
		if err != nil || id != tc.it.ID || owner != tc.it.Owner {
			t.Errorf("ParseDueItemKey(%s, %v) = %q, %q, %v; want %q, %q", tc.it.Kind, got, id, owner, err, tc.it.ID, tc.it.Owner)
		}
	}
	if _, err := DueItemKey(core.DueItem{Kind: "photo", ID: "ph_1"}); core.KindOf(err) != core.KindInvalid {
		t.Errorf("DueItemKey of an unknown kind: got %v, want kind invalid", err)
	}
}

// TestParseDueItemKeyRefuses checks that a key of another kind, or one
// whose ids are empty or malformed, is not read as a due item.
func TestParseDueItemKeyRefuses(t *testing.T) {
	for _, tc := range []struct {
		kind core.DueKind
		k    Key
	}{
		{core.DueUpload, ShareKey("sh_1")},
		{core.DueUpload, Key{"USER#", "PHOTO#ph_1"}},   // no owner: not a chat image either
		{core.DueUpload, Key{"USER#pat-1", "PHOTO#"}},  // no id
		{core.DueUpload, Key{"CHATIMG#", "CHATIMG"}},   // no id
		{core.DueUpload, Key{"USER#pat-1", "CHATIMG"}}, // a chat image's sort key in a photo partition
		{core.DueUpload, Key{"CHATIMG#ci_1", "PHOTO#ph_1"}},
		{core.DueUpload, Key{"USER#pat-1", "PHOTO#ph\x00"}},
		{core.DueShare, Key{"SHARE#sh_1", "ACCESS"}},
		{core.DueShare, EphemeralKeyKey("ek_1")},
		{core.DueKey, Key{"EKEY#", "EKEY"}},
		{core.DueKey, ShareKey("sh_1")},
		{core.DueNotification, Key{"INBOX#dr-a", "NOTE#"}},
		{core.DueNotification, Key{"INBOX#", "NOTE#nt_1"}},
		{core.DueNotification, PhotoKey("pat-1", "ph_1")},
		{"photo", PhotoKey("pat-1", "ph_1")},
	} {
		if id, owner, err := ParseDueItemKey(tc.kind, tc.k); err == nil {
			t.Errorf("ParseDueItemKey(%s, %q %q) = %q, %q; want an error", tc.kind, tc.k.PK, tc.k.SK, id, owner)
		}
	}
}

func TestCheckDueKind(t *testing.T) {
	for _, k := range core.DueKinds {
		if err := CheckDueKind(k); err != nil {
			t.Errorf("CheckDueKind(%s): %v", k, err)
		}
	}
	for _, k := range []core.DueKind{"", "photo", "Share", "share#"} {
		if err := CheckDueKind(k); core.KindOf(err) != core.KindInvalid {
			t.Errorf("CheckDueKind(%q): got %v, want kind invalid", k, err)
		}
	}
}
