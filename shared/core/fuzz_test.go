package core_test

import (
	"bytes"
	"context"
	"crypto/hpke"
	"math/big"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/runtime/embedded"
)

// fuzzDevices are one private key per KEM, derived from fixed seeds so that
// they are the same in every run.
func fuzzDevices(tb testing.TB) []hpke.PrivateKey {
	tb.Helper()
	var out []hpke.PrivateKey
	for i, kem := range core.KEMs {
		k, err := hpke.NewKEM(kem)
		if err != nil {
			tb.Fatal(err)
		}
		priv, err := k.DeriveKeyPair(bytes.Repeat([]byte{byte(i + 1)}, 32))
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, priv)
	}
	return out
}

// deviceKeySeeds are public keys a client could send at open-access: every
// KEM's real key, and the degenerate keys of issue 10 §2 (all zero,
// low-order X25519 points, an ML-KEM-768+X25519 key whose X25519 part is
// zero), truncated and padded ones.
func deviceKeySeeds(tb testing.TB) [][2]any {
	var out [][2]any
	for _, d := range fuzzDevices(tb) {
		pub := d.PublicKey().Bytes()
		kem := d.KEM().ID()
		out = append(out, [2]any{kem, pub}, [2]any{kem, pub[:len(pub)-1]}, [2]any{kem, append(slices.Clone(pub), 0)})
		if kem == core.KEMMLKEM768X25519 {
			zeroed := slices.Clone(pub)
			clear(zeroed[len(zeroed)-32:])
			out = append(out, [2]any{kem, zeroed})
		}
	}
	one := make([]byte, 32)
	one[0] = 1
	order8 := []byte{0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
		0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00}
	p := bytes.Repeat([]byte{0xff}, 32)
	p[0], p[31] = 0xed, 0x7f
	out = append(out,
		[2]any{core.KEMX25519, make([]byte, 32)}, [2]any{core.KEMX25519, one}, [2]any{core.KEMX25519, order8},
		[2]any{core.KEMX25519, p}, [2]any{core.KEMP256, append([]byte{4}, make([]byte, 64)...)},
		[2]any{core.KEMP256, []byte{0}}, [2]any{uint16(0x0011), make([]byte, 97)}, [2]any{uint16(0), []byte{}})
	return out
}

// FuzzParseDeviceKey gives ParseDeviceKey any KEM id and key. A key it
// accepts must be one of the offered KEMs, have a canonical X25519 part
// where it has one, serialize back to the very bytes sent (the fingerprint
// binds those), and be one the server can seal to:
// accepting a key that SealKey then refuses is how a device key made every
// issue-key of its access answer 500 (issue 10 §2). A refusal is invalid,
// never another kind. Nothing may panic.
func FuzzParseDeviceKey(f *testing.F) {
	for _, s := range deviceKeySeeds(f) {
		f.Add(s[0].(uint16), s[1].([]byte))
	}
	f.Fuzz(func(t *testing.T, kem uint16, pub []byte) {
		pk, err := core.ParseDeviceKey(kem, pub)
		if err != nil {
			if core.KindOf(err) != core.KindInvalid {
				t.Fatalf("ParseDeviceKey(%#x, %.40x…): %v, want kind invalid", kem, pub, err)
			}
			return
		}
		if !slices.Contains(core.KEMs, kem) {
			t.Fatalf("ParseDeviceKey accepted KEM %#x", kem)
		}
		if x := x25519Part(kem, pub); x != nil && !canonicalX25519(x) {
			t.Fatalf("ParseDeviceKey(%#x, …%x) accepted an X25519 u-coordinate that is not canonical (RFC 7748: below 2^255-19)", kem, x)
		}
		if !bytes.Equal(pk.Bytes(), pub) {
			t.Fatalf("ParseDeviceKey(%#x, %.40x…) accepted a key that serializes as %.40x…", kem, pub, pk.Bytes())
		}
		if _, err := core.SealKey(kem, pub, bytes.Repeat([]byte{1}, 32), core.SealInfo("ek_a", "ph_b", "ac_c")); err != nil {
			t.Fatalf("ParseDeviceKey accepted %#x key %.40x… (%d bytes), and SealKey to it fails: %v", kem, pub, len(pub), err)
		}
	})
}

// x25519Part is the X25519 public key inside pub of kem, or nil.
func x25519Part(kem uint16, pub []byte) []byte {
	switch {
	case kem == core.KEMX25519:
		return pub
	case kem == core.KEMMLKEM768X25519 && len(pub) >= 32:
		return pub[len(pub)-32:]
	}
	return nil
}

// canonicalX25519 reports whether the little-endian u-coordinate u is below
// the field prime 2^255-19 (so also with its top bit clear).
func canonicalX25519(u []byte) bool {
	be := slices.Clone(u)
	slices.Reverse(be)
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	return new(big.Int).SetBytes(be).Cmp(p) < 0
}

// FuzzSealKey seals any data key under any ids to any key (device < 128) or
// to a device of each KEM whose private key the test holds (device >= 128).
// SealKey refuses only with invalid (the key), never an internal error; a key
// sealed to a held device opens with its private key under exactly those
// ids, to the data key, and not under other ids.
func FuzzSealKey(f *testing.F) {
	devices := fuzzDevices(f)
	for i := range devices {
		f.Add(uint8(128+i), uint16(0), []byte{}, bytes.Repeat([]byte{7}, 32), "ek_a", "ph_b", "ac_c")
		f.Add(uint8(128+i), uint16(0), []byte{}, []byte{}, "", "", "")
		f.Add(uint8(128+i), uint16(0), []byte{}, bytes.Repeat([]byte{7}, 1000), "ek_a\x00ph_b", "", "ac_c")
	}
	for _, s := range deviceKeySeeds(f) {
		f.Add(uint8(0), s[0].(uint16), s[1].([]byte), bytes.Repeat([]byte{7}, 32), "ek_a", "ph_b", "ac_c")
	}
	f.Fuzz(func(t *testing.T, device uint8, kem uint16, pub, dataKey []byte, keyID, photoID, accessID string) {
		var priv hpke.PrivateKey
		if device >= 128 {
			priv = devices[int(device)%len(devices)]
			kem, pub = priv.KEM().ID(), priv.PublicKey().Bytes()
		}
		info := core.SealInfo(keyID, photoID, accessID)
		sealed, err := core.SealKey(kem, pub, dataKey, info)
		if err != nil {
			if core.KindOf(err) != core.KindInvalid {
				t.Fatalf("SealKey(%#x, %.40x… (%d bytes)): %v, want kind invalid", kem, pub, len(pub), err)
			}
			if priv != nil {
				t.Fatalf("SealKey to a genuine %#x device: %v", kem, err)
			}
			return
		}
		if _, err := core.ParseDeviceKey(kem, pub); err != nil {
			t.Fatalf("SealKey sealed to a key ParseDeviceKey refuses: %v", err)
		}
		if priv == nil {
			return
		}
		got, err := core.OpenKey(priv, sealed, info)
		if err != nil || !bytes.Equal(got, dataKey) {
			t.Fatalf("the device opens %x (%v), want the sealed data key", got, err)
		}
		if _, err := core.OpenKey(priv, sealed, core.SealInfo(keyID+"x", photoID, accessID)); err == nil {
			t.Fatalf("a key sealed for %q opened for %q", keyID, keyID+"x")
		}
	})
}

// FuzzAuditRecord links a record with any content to any head, then changes
// one field to any value. The linked record must verify; a changed one must
// not, unless the change left the record as it was: a record verifies only
// if it is exactly what Link produced.
func FuzzAuditRecord(f *testing.F) {
	f.Add("pat-1", "pro-1", "professional", "key.issue", "key", "ek_a", "success", "", "203.0.113.7", "MedShare/2.1", "rq_1", uint64(3), int64(1773500966000000001), []byte{1, 2}, uint8(9), "MedShare/2.2")
	f.Add("pat-1", "pro-1", "professional", "key.issue", "key", "ek_a", "denied", "session_revoked", "::1", "", "rq_1", uint64(0), int64(0), []byte{}, uint8(6), "success")
	f.Add("pat-1", "pro-1", "professional", "key.issue", "key", "ek_a", "success", "", "203.0.113.7", "bad \xff agent", "rq_1", uint64(1), int64(1), []byte{}, uint8(9), "bad \xfe agent")
	f.Add("pat-1", "pro-1", "professional", "key.issue", "key", "ek_a", "success", "", "203.0.113.7", "app", "rq_1", uint64(1), int64(1), []byte{}, uint8(12), "\x00")
	f.Add("pat-\u00e9", "", "", "", "", "", "", "", "", "", "", uint64(1<<63), int64(-1), []byte(nil), uint8(13), "1")
	f.Fuzz(func(t *testing.T, patient, actor, role, action, resType, resID, outcome, reason, ip, ua, reqID string,
		seq uint64, atNanos int64, prev []byte, field uint8, value string) {
		rec := core.AuditRecord{
			PatientID: patient, At: time.Unix(0, atNanos), ActorID: actor, ActorRole: core.Role(role), Action: core.AuditAction(action),
			ResourceType: resType, ResourceID: resID, Outcome: outcome, Reason: reason, SourceIP: ip, UserAgent: ua, RequestID: reqID,
		}
		linked := core.Link(rec, core.ChainHead{Seq: seq, Hash: prev})
		if !core.VerifyRecord(linked) {
			t.Fatalf("a record Link produced does not verify: %+v", linked)
		}
		changed := linked
		changed.PrevHash = slices.Clone(linked.PrevHash)
		strs := []*string{&changed.PatientID, &changed.ActorID, (*string)(&changed.ActorRole), (*string)(&changed.Action), &changed.ResourceType,
			&changed.ResourceID, &changed.Outcome, &changed.Reason, &changed.SourceIP, &changed.UserAgent, &changed.RequestID}
		switch i := int(field) % (len(strs) + 4); {
		case i < len(strs):
			*strs[i] = value
		case i == len(strs):
			changed.Seq, _ = strconv.ParseUint(value, 10, 64)
		case i == len(strs)+1:
			n, _ := strconv.ParseInt(value, 10, 64)
			changed.At = time.Unix(0, n)
		case i == len(strs)+2:
			changed.PrevHash = []byte(value)
		default:
			changed.Hash = []byte(value)
		}
		same := changed.PatientID == linked.PatientID && changed.ActorID == linked.ActorID && changed.ActorRole == linked.ActorRole &&
			changed.Action == linked.Action && changed.ResourceType == linked.ResourceType && changed.ResourceID == linked.ResourceID &&
			changed.Outcome == linked.Outcome && changed.Reason == linked.Reason && changed.SourceIP == linked.SourceIP &&
			changed.UserAgent == linked.UserAgent && changed.RequestID == linked.RequestID && changed.Seq == linked.Seq &&
			changed.At.Equal(linked.At) && bytes.Equal(changed.PrevHash, linked.PrevHash) && bytes.Equal(changed.Hash, linked.Hash)
		if core.VerifyRecord(changed) && !same {
			t.Fatalf("a changed record still verifies:\n linked  %+v\n changed %+v", linked, changed)
		}
	})
}

// activityNow is the service's clock in FuzzReportActivity.
var activityNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// The weights of issue 5's scoring, as core/activity.go documents them: the
// oracle of FuzzReportActivity, written apart from the code it checks.
var activityWeights = map[string]int{
	"screenshot": 40, "screen_recording": 60, "copy_attempt": 30, "app_backgrounded": 5, "unexpected_access": 100,
}

// FuzzReportActivity reports any batch of events (lines "type|seconds from
// now|details") on a fresh share of screenshot policy allow, warn or revoke
// and its access, after a prior score of 0, 30, 60 or 90, as the grantee, the
// patient, a stranger of either role or a clinic. The answer must be the one
// the rules give, computed here from the documented weights: a refusal
// (403 for a clinic, 404 for a stranger, 400 for a bad batch) writes
// nothing; an accepted batch moves the score by its weights (a screenshot
// under allow by 0), revokes at a score of 100 or at once (a screenshot
// under revoke, the patient's unexpected_access), warns at 50 or on a
// screenshot under warn, writes one record (two with a revoke) and stores no
// event's details anywhere in the audit trail.
func FuzzReportActivity(f *testing.F) {
	rt, err := embedded.Open(embedded.Options{DataDir: filepath.Join(f.TempDir(), "data"), PublicURL: "http://medshare.test", Now: func() time.Time { return activityNow }})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { rt.Close() })
	ctx := context.Background()
	const patient, pro = "fz-patient", "fz-pro"
	photo := core.Photo{ID: core.NewID("ph"), OwnerID: patient, Angle: "CROWN", ContentType: "image/jpeg", Size: 10,
		SHA256: bytes.Repeat([]byte{1}, 32), WrappedKey: core.WrappedKey{KeyID: "k", Ciphertext: []byte("w")},
		Status: core.StatusPending, CreatedAt: activityNow, UploadExpiresAt: activityNow.Add(time.Minute)}
	if err := rt.Store.CreatePhoto(ctx, photo); err != nil {
		f.Fatal(err)
	}
	if _, err := rt.Store.MarkPhotoReady(ctx, patient, photo.ID, core.BlobInfo{Size: 10, SHA256: photo.SHA256}, activityNow); err != nil {
		f.Fatal(err)
	}
	device := fuzzDevices(f)[0]
	at := func(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) }
	for _, s := range []struct {
		policy, who, prior uint8
		events             string
	}{
		{1, 0, 0, "screenshot|-60|home screen"},
		{0, 0, 1, "screenshot|0|"},
		{2, 0, 0, "screenshot|0|"},
		{1, 0, 3, "app_backgrounded|-1|\nscreen_recording|-2|x"},
		{1, 1, 0, "unexpected_access|0|not me"},
		{1, 1, 0, "screenshot|0|"},
		{1, 2, 0, "screenshot|0|"},
		{1, 3, 0, "unexpected_access|0|"},
		{1, 4, 0, "screenshot|0|"},
		{1, 0, 0, ""},
		{1, 0, 0, strings.Repeat("app_backgrounded|0|\n", 101)},
		{1, 0, 0, "copy_attempt|" + at(-30*24*time.Hour) + "|\ncopy_attempt|" + at(5*time.Minute) + "|"},
		{1, 0, 0, "copy_attempt|" + at(-30*24*time.Hour-time.Second) + "|"},
		{1, 0, 0, "copy_attempt|" + at(5*time.Minute+time.Second) + "|"},
		{1, 0, 0, "copy_attempt|0|" + strings.Repeat("é", 200)},
		{1, 0, 0, "copy_attempt|0|" + strings.Repeat("é", 201)},
		{1, 0, 0, "copy_attempt|0|tab\there"},
		{1, 0, 0, "copy_attempt|0|\xff\xfe"},
		{1, 0, 0, "Screenshot|0|"},
		{1, 0, 2, "copy_attempt|0|patient name: Jane Roe"},
	} {
		f.Add(s.policy, s.who, s.prior, s.events)
	}
	f.Fuzz(func(t *testing.T, policy, who, prior uint8, batch string) {
		policies := []core.ScreenshotPolicy{core.ScreenshotAllow, core.ScreenshotWarn, core.ScreenshotRevoke}
		pol := policies[int(policy)%len(policies)]
		patientC := core.Caller{ID: patient, Role: core.RolePatient, RequestID: "rq-fuzz"}
		proC := core.Caller{ID: pro, Role: core.RoleProfessional, RequestID: "rq-fuzz"}
		sh, _, err := rt.Service.CreateShare(ctx, patientC, core.ShareInput{ProfessionalID: pro, PhotoIDs: []string{photo.ID},
			ExpiresIn: time.Hour, MaxViews: 5, ScreenshotPolicy: pol})
		if err != nil {
			t.Fatal(err)
		}
		a, err := rt.Service.OpenAccess(ctx, proC, sh.ID, core.DeviceInput{KEM: device.KEM().ID(), PublicKey: device.PublicKey().Bytes(), Fingerprint: "fuzz"})
		if err != nil {
			t.Fatal(err)
		}
		score := 30 * (int(prior) % 4)
		for range score / 30 {
			if _, err := rt.Service.ReportActivity(ctx, proC, a.ID, []core.ActivityEvent{{Type: "copy_attempt", At: activityNow}}); err != nil {
				t.Fatal(err)
			}
		}
		callers := []core.Caller{proC, patientC, {ID: "fz-stranger", Role: core.RoleProfessional}, {ID: "fz-stranger", Role: core.RolePatient}, {ID: "fz-clinic", Role: core.RoleClinic}}
		c := callers[int(who)%len(callers)]
		var events []core.ActivityEvent
		if batch != "" {
			for line := range strings.SplitSeq(batch, "\n") {
				typ, rest, _ := strings.Cut(line, "|")
				secs, details, _ := strings.Cut(rest, "|")
				n, _ := strconv.ParseInt(secs, 10, 64)
				events = append(events, core.ActivityEvent{Type: typ, At: activityNow.Add(time.Duration(n) * time.Second), Details: details})
			}
		}
		before := headSeq(t, rt, patient)

		res, err := rt.Service.ReportActivity(ctx, c, a.ID, events)

		want := expectActivity(c.Role, c.ID == pro || c.ID == patient, pol, score, events)
		if err != nil || want.kind != 0 {
			if core.KindOf(err) != want.kind || err == nil {
				t.Fatalf("ReportActivity as %s %s of %q: got %v (%+v), want kind %v", c.Role, c.ID, batch, err, res, want.kind)
			}
			if after := headSeq(t, rt, patient); after != before {
				t.Fatalf("a refused report wrote %d records", after-before)
			}
			if got := storedScore(t, rt, a.ID); got != score {
				t.Fatalf("a refused report moved the score from %d to %d", score, got)
			}
			return
		}
		if res.Score != want.score || res.Action != want.action {
			t.Fatalf("ReportActivity as %s of %q under %s from %d: got %+v, want score %d action %s", c.Role, batch, pol, score, res, want.score, want.action)
		}
		if got := storedScore(t, rt, a.ID); got != want.score {
			t.Fatalf("stored score %d, want %d", got, want.score)
		}
		stored, err := rt.Store.GetShare(ctx, sh.ID)
		if err != nil {
			t.Fatal(err)
		}
		if (stored.Status == core.ShareRevoked) != (want.action == core.ActionRevoked) {
			t.Fatalf("share status %s after action %s", stored.Status, want.action)
		}
		records := uint64(1)
		if want.action == core.ActionRevoked {
			records = 2
		}
		if got := headSeq(t, rt, patient) - before; got != records {
			t.Fatalf("the report wrote %d records, want %d", got, records)
		}
		after, _, err := rt.Store.ListAudit(ctx, patient, true, core.Page{Limit: int(records)})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			if len(e.Details) < 8 {
				continue
			}
			for _, r := range after {
				for _, s := range []string{string(r.Action), r.ResourceID, r.Reason, r.UserAgent, r.RequestID, r.Outcome} {
					if strings.Contains(s, e.Details) {
						t.Fatalf("the audit trail holds an event's details %q: %+v", e.Details, r)
					}
				}
			}
		}
	})
}

type activityAnswer struct {
	kind   core.Kind // 0: accepted
	score  int
	action string
}

// expectActivity is what ReportActivity must answer, by the rules: role
// first, then the batch, then whose access it is.
func expectActivity(role core.Role, party bool, pol core.ScreenshotPolicy, prior int, events []core.ActivityEvent) activityAnswer {
	if role != core.RolePatient && role != core.RoleProfessional {
		return activityAnswer{kind: core.KindForbidden}
	}
	allowed := []string{"screenshot", "screen_recording", "copy_attempt", "app_backgrounded"}
	if role == core.RolePatient {
		allowed = []string{"unexpected_access"}
	}
	if len(events) == 0 || len(events) > 100 {
		return activityAnswer{kind: core.KindInvalid}
	}
	for _, e := range events {
		printable := !strings.ContainsFunc(e.Details, func(r rune) bool { return !unicode.IsPrint(r) })
		if !slices.Contains(allowed, e.Type) || e.At.Before(activityNow.Add(-30*24*time.Hour)) || e.At.After(activityNow.Add(5*time.Minute)) ||
			len([]rune(e.Details)) > 200 || !printable {
			return activityAnswer{kind: core.KindInvalid}
		}
	}
	if !party {
		return activityAnswer{kind: core.KindNotFound}
	}
	delta, now, warn := 0, false, false
	for _, e := range events {
		switch {
		case e.Type == "screenshot" && pol == core.ScreenshotAllow:
		case e.Type == "screenshot" && pol == core.ScreenshotRevoke, e.Type == "unexpected_access":
			now = true
			delta += activityWeights[e.Type]
		default:
			delta += activityWeights[e.Type]
		}
		warn = warn || (e.Type == "screenshot" && pol == core.ScreenshotWarn)
	}
	score := prior + delta
	switch {
	case now || score >= 100:
		return activityAnswer{score: score, action: core.ActionRevoked}
	case warn || (delta > 0 && score >= 50):
		return activityAnswer{score: score, action: core.ActionWarned}
	}
	return activityAnswer{score: score, action: core.ActionNone}
}

// headSeq is the length of patient's audit chain.
func headSeq(t *testing.T, rt *embedded.Runtime, patient string) uint64 {
	t.Helper()
	h, err := rt.Store.AuditHead(context.Background(), patient)
	if err != nil {
		t.Fatal(err)
	}
	return h.Seq
}

func storedScore(t *testing.T, rt *embedded.Runtime, accessID string) int {
	t.Helper()
	a, err := rt.Store.GetAccess(context.Background(), accessID)
	if err != nil {
		t.Fatal(err)
	}
	return a.Score
}
