package storekeys

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
)

func TestKeyShapes(t *testing.T) {
	at := time.Date(2026, 3, 14, 15, 9, 26, 5000, time.FixedZone("x", 3600))
	for _, tc := range []struct {
		name string
		got  Key
		want Key
	}{
		{"photo", PhotoKey("pat-1", "ph_abc"), Key{"USER#pat-1", "PHOTO#ph_abc"}},
		{"photo, ids with # and UTF-8", PhotoKey("pat#1", "ünï"), Key{"USER#pat#1", "PHOTO#ünï"}},
		{"appointment", AppointmentKey("appt-1"), Key{"APPT#appt-1", "APPT"}},
		{"chat image", ChatImageKey("ci_abc"), Key{"CHATIMG#ci_abc", "CHATIMG"}},
		{"audit record", AuditRecordKey("pat-1", 42), Key{"AUDIT#pat-1", "SEQ#00000000000000000042"}},
		{"audit record, seq 0", AuditRecordKey("pat-1", 0), Key{"AUDIT#pat-1", "SEQ#00000000000000000000"}},
		{"audit record, largest seq", AuditRecordKey("pat-1", 1<<64-1), Key{"AUDIT#pat-1", "SEQ#18446744073709551615"}},
		{"audit head", AuditHeadKey("pat-1"), Key{"AUDIT#pat-1", "HEAD"}},
		{"actor index", ActorIndexKey("dr-a", at, "pat-1", 7),
			Key{"ACTOR#dr-a", "2026-03-14T14:09:26.000005000Z#pat-1#00000000000000000007"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.got); diff != "" {
				t.Errorf("key mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSeqSK(t *testing.T) {
	for _, seq := range []uint64{0, 1, 42, 1<<64 - 1} {
		sk := SeqSK(seq)
		if got := AuditRecordKey("pat-1", seq).SK; got != sk {
			t.Errorf("AuditRecordKey(_, %d).SK = %q, SeqSK says %q", seq, got, sk)
		}
		got, err := ParseSeqSK(sk)
		if err != nil || got != seq {
			t.Errorf("ParseSeqSK(%q) = %d, %v; want %d", sk, got, err, seq)
		}
	}
	if a, b := SeqSK(9), SeqSK(10); a >= b {
		t.Errorf("sort keys out of sequence order: %q >= %q", a, b)
	}
	for _, bad := range []string{
		"",
		"SEQ#",
		"SEQ#12",
		"SEQ#000000000000000000001",
		"SEQ#+0000000000000000001",
		"SEQ#0000000000000000000x",
		"SEQ#99999999999999999999", // above the largest uint64
		"HEAD",
		"PHOTO#00000000000000000001",
	} {
		if _, err := ParseSeqSK(bad); err == nil {
			t.Errorf("ParseSeqSK(%q): got nil error, want one", bad)
		}
	}
}

func TestActorSKSortsByTime(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	earlier := ActorIndexKey("dr-a", base.Add(999*time.Millisecond), "pat-9", 99).SK
	later := ActorIndexKey("dr-a", base.Add(time.Second), "pat-1", 1).SK
	if earlier >= later {
		t.Errorf("sort keys out of time order: %q >= %q", earlier, later)
	}
}

func TestParseActorSK(t *testing.T) {
	at := time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)
	for _, patient := range []string{"pat-1", "p", "pat#with#hashes", "ünï"} {
		for _, seq := range []uint64{0, 12345, 1<<64 - 1} {
			sk := ActorIndexKey("dr-a", at, patient, seq).SK
			gotAt, gotPatient, gotSeq, err := ParseActorSK(sk)
			if err != nil {
				t.Fatalf("ParseActorSK(%q): %v", sk, err)
			}
			if !gotAt.Equal(at) || gotAt.Location() != time.UTC || gotPatient != patient || gotSeq != seq {
				t.Errorf("ParseActorSK(%q): got (%v, %q, %d), want (%v, %q, %d)", sk, gotAt, gotPatient, gotSeq, at, patient, seq)
			}
		}
	}
	good := ActorIndexKey("dr-a", at, "pat-1", 1).SK
	for _, bad := range []string{
		"",
		"SEQ#00000000000000000001",
		good[:len(good)-1],
		good + "0",
		strings.Replace(good, "#pat-1#", "##", 1),
		strings.Replace(good, "T15", "X15", 1),
		strings.Replace(good, "00000000000000000001", "0000000000000000000x", 1),
		strings.Replace(good, "00000000000000000001", "+0000000000000000001", 1),
	} {
		if _, _, _, err := ParseActorSK(bad); err == nil {
			t.Errorf("ParseActorSK(%q): got nil error, want one", bad)
		}
	}
}

func TestCursor(t *testing.T) {
	actorSK := ActorIndexKey("dr-a", time.Date(2026, 3, 14, 15, 9, 26, 1, time.UTC), "pat-1", 1).SK
	for _, tc := range []struct {
		name     string
		sk       string
		skPrefix string
	}{
		{"photo", PhotoSKPrefix + "ph_abc", PhotoSKPrefix},
		{"audit record", SeqSK(3), AuditSeqSKPrefix},
		{"actor index", actorSK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := EncodeCursor(tc.sk)
			if strings.ContainsAny(c, "=+/") {
				t.Errorf("EncodeCursor(%q) = %q: want base64url without padding", tc.sk, c)
			}
			got, err := DecodeCursor(c, tc.skPrefix)
			if err != nil || got != tc.sk {
				t.Errorf("DecodeCursor(%q, %q) = %q, %v; want %q", c, tc.skPrefix, got, err, tc.sk)
			}
		})
	}
	if c := EncodeCursor(PhotoSKPrefix + "ph_abc"); strings.Contains(c, base64.RawURLEncoding.EncodeToString([]byte(PhotoPKPrefix))) {
		t.Errorf("EncodeCursor = %q: holds the partition", c)
	}
	if got, err := DecodeCursor("", PhotoSKPrefix); err != nil || got != "" {
		t.Errorf(`DecodeCursor("") = %q, %v; want "", nil`, got, err)
	}
	for _, tc := range []struct {
		name     string
		cursor   string
		skPrefix string
	}{
		{"not base64", "%%%", PhotoSKPrefix},
		{"padded", base64.URLEncoding.EncodeToString([]byte(PhotoSKPrefix + "ph_ab")), PhotoSKPrefix},
		{"another prefix", EncodeCursor(SeqSK(1)), PhotoSKPrefix},
		{"bare prefix", EncodeCursor(PhotoSKPrefix), PhotoSKPrefix},
		{"NUL", EncodeCursor(PhotoSKPrefix + "a\x00b"), PhotoSKPrefix},
		{"NUL, no prefix", EncodeCursor("a\x00b"), ""},
		{"not UTF-8", EncodeCursor(PhotoSKPrefix + "\xff"), PhotoSKPrefix},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := DecodeCursor(tc.cursor, tc.skPrefix); core.KindOf(err) != core.KindInvalid {
				t.Errorf("DecodeCursor(%q, %q) = %q, %v; want kind invalid", tc.cursor, tc.skPrefix, got, err)
			}
		})
	}
}

func TestCheckIDs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ids   []string
		valid bool
	}{
		{"none", nil, true},
		{"plain", []string{"pat-1", "ph_01JABC"}, true},
		{"with # and UTF-8", []string{"with#hash", "dr.a@clinic:1", "ünï"}, true},
		{"longest", []string{strings.Repeat("x", MaxIDBytes)}, true},
		{"longest in UTF-8", []string{strings.Repeat("ü", MaxIDBytes/2)}, true},
		{"empty", []string{""}, false},
		{"empty after a good one", []string{"pat-1", ""}, false},
		{"NUL", []string{"pat-1\x00PHOTO#ph_x"}, false},
		{"not UTF-8", []string{"ph\xff"}, false},
		{"too long", []string{strings.Repeat("x", MaxIDBytes+1)}, false},
		{"too long in UTF-8", []string{strings.Repeat("ü", MaxIDBytes/2) + "x"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckIDs(tc.ids...)
			if tc.valid && err != nil {
				t.Errorf("CheckIDs(%q) = %v, want nil", tc.ids, err)
			}
			if !tc.valid && core.KindOf(err) != core.KindInvalid {
				t.Errorf("CheckIDs(%q) = %v, want kind invalid", tc.ids, err)
			}
		})
	}
}
