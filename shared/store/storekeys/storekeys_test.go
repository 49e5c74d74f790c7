package storekeys

import (
	"encoding/base64"
	"strconv"
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
		{"appointment", AppointmentKey("clinic-1", "appt-1"), Key{"APPT#appt-1", "CLINIC#clinic-1"}},
		{"chat image", ChatImageKey("ci_abc"), Key{"CHATIMG#ci_abc", "CHATIMG"}},
		{"audit record", AuditRecordKey("pat-1", 42), Key{"AUDIT#pat-1", "SEQ#00000000000000000042"}},
		{"audit record, seq 0", AuditRecordKey("pat-1", 0), Key{"AUDIT#pat-1", "SEQ#00000000000000000000"}},
		{"audit record, largest seq", AuditRecordKey("pat-1", 1<<64-1), Key{"AUDIT#pat-1", "SEQ#18446744073709551615"}},
		{"audit head", AuditHeadKey("pat-1"), Key{"AUDIT#pat-1", "HEAD"}},
		{"actor index", ActorIndexKey("dr-a", at, "pat-1", 7),
			Key{"ACTOR#dr-a", "2026-03-14T14:09:26.000005000Z#pat-1#00000000000000000007"}},
		{"chat image in its appointment's list", ChatImagesByAppointmentKey("clinic-1", "appt-1", at, "ci_abc"),
			Key{"APPTIMG#clinic-1#appt-1", "IMG#2026-03-14T14:09:26.000005000Z#ci_abc"}},
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
	photos := List{PK: PhotoPKPrefix + "pat-1", SKPrefix: PhotoSKPrefix}
	chain := List{PK: AuditPKPrefix + "pat-1", SKPrefix: AuditSeqSKPrefix}
	actor := List{PK: ActorPKPrefix + "dr-a", Desc: true}
	pos := ActorPos{At: time.Date(2026, 3, 14, 15, 9, 26, 1, time.UTC), N: 2}.String()
	for _, tc := range []struct {
		name string
		list List
		pos  string
	}{
		{"photo", photos, PhotoSKPrefix + "ph_abc"},
		{"audit record", chain, SeqSK(3)},
		{"actor index", actor, pos},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := EncodeCursor(tc.list, tc.pos)
			if strings.ContainsAny(c, "=+/") {
				t.Errorf("EncodeCursor(%q) = %q: want base64url without padding", tc.pos, c)
			}
			got, err := DecodeCursor(c, tc.list)
			if err != nil || got != tc.pos {
				t.Errorf("DecodeCursor(%q) = %q, %v; want %q", c, got, err, tc.pos)
			}
			raw, _ := base64.RawURLEncoding.DecodeString(c)
			if strings.Contains(string(raw), tc.list.PK) {
				t.Errorf("cursor %q holds the partition %q", raw, tc.list.PK)
			}
		})
	}
	// A list that several callers read binds the cursor to its reader; the
	// other lists' cursors are as they were without one.
	chat := ChatImagesList("clinic-1", "appt-1", "pat-1")
	chatPos := ChatImageIndexSK(time.Date(2026, 3, 14, 15, 9, 26, 1, time.UTC), "ci_abc")
	if got, err := DecodeCursor(EncodeCursor(chat, chatPos), chat); err != nil || got != chatPos {
		t.Errorf("chat list cursor: %q, %v; want %q", got, err, chatPos)
	}
	for _, other := range []List{
		ChatImagesList("clinic-1", "appt-1", "dr-a"),
		ChatImagesList("clinic-2", "appt-1", "pat-1"),
		ChatImagesList("clinic-1", "appt-2", "pat-1"),
		{PK: chat.PK, SKPrefix: chat.SKPrefix, Desc: true},
	} {
		if _, err := DecodeCursor(EncodeCursor(chat, chatPos), other); core.KindOf(err) != core.KindInvalid {
			t.Errorf("pat-1's chat list cursor decoded for %+v: %v, want kind invalid", other, err)
		}
	}
	if a, b := EncodeCursor(photos, PhotoSKPrefix+"ph_ab"), EncodeCursor(List{PK: photos.PK, SKPrefix: photos.SKPrefix, Reader: ""}, PhotoSKPrefix+"ph_ab"); a != b {
		t.Errorf("a list without a reader: cursor %q, want %q", b, a)
	}
	for _, bad := range [][2]string{{"clinic#1", "appt-1"}, {"", "appt-1"}, {"clinic-1", ""}, {"clinic-1", "a\x00b"}} {
		if err := CheckChatListIDs(bad[0], bad[1]); core.KindOf(err) != core.KindInvalid {
			t.Errorf("CheckChatListIDs(%q, %q) = %v, want kind invalid", bad[0], bad[1], err)
		}
	}
	if err := CheckChatListIDs("clinic-1", "appt#1"); err != nil {
		t.Errorf("CheckChatListIDs(clinic-1, appt#1) = %v: the appointment id comes last and may hold #", err)
	}
	if got, err := DecodeCursor("", photos); err != nil || got != "" {
		t.Errorf(`DecodeCursor("") = %q, %v; want "", nil`, got, err)
	}
	forged := func(b ...byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	good := EncodeCursor(photos, PhotoSKPrefix+"ph_ab")
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	otherVersion := append([]byte{2}, raw[1:]...)
	for _, tc := range []struct {
		name   string
		cursor string
		list   List
	}{
		{"not base64", "%%%", photos},
		{"padded", base64.URLEncoding.EncodeToString(raw), photos},
		{"bare sort key, as cursors were", base64.RawURLEncoding.EncodeToString([]byte(PhotoSKPrefix + "ph_ab")), photos},
		{"too short", forged(1, 2, 3), photos},
		{"another version", base64.RawURLEncoding.EncodeToString(otherVersion), photos},
		{"another caller", good, List{PK: PhotoPKPrefix + "pat-2", SKPrefix: PhotoSKPrefix}},
		{"another list of the caller", EncodeCursor(chain, SeqSK(1)), List{PK: AuditPKPrefix + "pat-1", SKPrefix: PhotoSKPrefix}},
		{"another direction", EncodeCursor(chain, SeqSK(1)), List{PK: chain.PK, SKPrefix: chain.SKPrefix, Desc: true}},
		{"another prefix", EncodeCursor(photos, SeqSK(1)), photos},
		{"bare prefix", EncodeCursor(photos, PhotoSKPrefix), photos},
		{"NUL", EncodeCursor(photos, PhotoSKPrefix+"a\x00b"), photos},
		{"NUL, no prefix", EncodeCursor(actor, "a\x00b"), actor},
		{"not UTF-8", EncodeCursor(photos, PhotoSKPrefix+"\xff"), photos},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := DecodeCursor(tc.cursor, tc.list); core.KindOf(err) != core.KindInvalid {
				t.Errorf("DecodeCursor(%q) = %q, %v; want kind invalid", tc.cursor, got, err)
			}
		})
	}
}

func TestActorPos(t *testing.T) {
	at := time.Date(2026, 3, 14, 15, 9, 26, 1, time.UTC)
	p := ActorPos{At: at, N: 3}
	got, err := ParseActorPos(p.String())
	if err != nil || !got.At.Equal(at) || got.N != 3 {
		t.Errorf("ParseActorPos(%q) = %+v, %v; want %+v", p.String(), got, err, p)
	}
	if strings.Contains(p.String(), "pat") {
		t.Errorf("position %q names a patient", p.String())
	}
	sk := func(at time.Time, patient string, seq uint64) string {
		return ActorIndexKey("dr-a", at, patient, seq).SK
	}
	if !p.AtTime(sk(at, "pat-1", 9)) || p.AtTime(sk(at.Add(time.Nanosecond), "pat-1", 9)) {
		t.Errorf("AtTime does not tell records at %v from others", at)
	}
	if b := p.Bound(); !(sk(at, "pat-\U0010FFFF", 1<<62) < b) || !(b < sk(at.Add(time.Nanosecond), "", 0)) {
		t.Errorf("Bound %q is not just above every key at %v", b, at)
	}
	for _, bad := range []string{
		"", "x", p.String() + "x",
		at.Format(ActorTimeLayout) + "#0",
		at.Format(ActorTimeLayout) + "#-1",
		at.Format(ActorTimeLayout) + "#01",
		at.Format(ActorTimeLayout) + "#" + strconv.Itoa(MaxActorPosN+1),
		at.Format(ActorTimeLayout) + "#pat-1#00000000000000000001",
		strings.Replace(p.String(), "T15", "X15", 1),
	} {
		if _, err := ParseActorPos(bad); core.KindOf(err) != core.KindInvalid {
			t.Errorf("ParseActorPos(%q) = %v, want kind invalid", bad, err)
		}
	}

	actors := List{PK: ActorPKPrefix + "dr-a", Desc: true}
	if got, err := DecodeActorCursor("", actors); got != nil || err != nil {
		t.Errorf(`DecodeActorCursor("") = %v, %v; want nil, nil`, got, err)
	}
	if got, err := DecodeActorCursor(EncodeCursor(actors, p.String()), actors); err != nil || got == nil || *got != p {
		t.Errorf("DecodeActorCursor of %v = %v, %v", p, got, err)
	}
	for _, bad := range []string{
		EncodeCursor(actors, sk(at, "pat-1", 1)), // an index key, as cursors were
		EncodeCursor(List{PK: ActorPKPrefix + "dr-b", Desc: true}, p.String()),
	} {
		if got, err := DecodeActorCursor(bad, actors); core.KindOf(err) != core.KindInvalid {
			t.Errorf("DecodeActorCursor(%q) = %v, %v; want kind invalid", bad, got, err)
		}
	}

	later := at.Add(time.Second)
	for _, tc := range []struct {
		name string
		prev *ActorPos
		sks  []string
		want ActorPos
	}{
		{"first page, one at the last time", nil, []string{sk(later, "pat-1", 2), sk(at, "pat-1", 1)}, ActorPos{at, 1}},
		{"first page, two at the last time", nil, []string{sk(later, "pat-1", 3), sk(at, "pat-2", 1), sk(at, "pat-1", 1)}, ActorPos{at, 2}},
		{"a page all at the previous time", &ActorPos{at, 2}, []string{sk(at, "pat-3", 1), sk(at, "pat-4", 1)}, ActorPos{at, 4}},
		{"a page that moves on", &ActorPos{later, 5}, []string{sk(later, "pat-3", 1), sk(at, "pat-4", 1)}, ActorPos{at, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NextActorPos(tc.prev, tc.sks)
			if err != nil || !got.At.Equal(tc.want.At) || got.N != tc.want.N {
				t.Errorf("NextActorPos = %+v, %v; want %+v", got, err, tc.want)
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

// TestListStartNext: Start checks the owner before it decodes the cursor,
// and names the listing in its errors; Next encodes a position that
// Start reads back, and ends the list on "".
func TestListStartNext(t *testing.T) {
	photos := List{PK: PhotoPKPrefix + "pat-1", SKPrefix: PhotoSKPrefix}
	for _, tc := range []struct {
		name, owner, cursor string
		want                string // the position, or the error's message
		wantErr             bool   // KindInvalid
	}{
		{"first page", "pat-1", "", "", false},
		{"a page after", "pat-1", photos.Next(PhotoSKPrefix + "ph_ab"), PhotoSKPrefix + "ph_ab", false},
		{"a bad owner comes first", "pat\x00", "%%%", `list photos of "pat\x00": `, true},
		{"a bad cursor", "pat-1", "%%%", "list photos of pat-1: ", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := photos.Start("list photos of", tc.owner, tc.cursor)
			if !tc.wantErr {
				if err != nil || got != tc.want {
					t.Fatalf("Start = %q, %v; want %q, nil", got, err, tc.want)
				}
				return
			}
			if err == nil || core.KindOf(err) != core.KindInvalid || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("Start = %q, %v; want kind invalid, message starting %q", got, err, tc.want)
			}
		})
	}
	if got := photos.Next(""); got != "" {
		t.Errorf(`Next("") = %q, want "": the list ended`, got)
	}
}
