package storetest

import (
	"fmt"
	"reflect"
	"time"

	"github.com/medshare/medshare/shared/core"
)

// The fixtures of the suite, by entity, as TestFixturesFillEveryField reads
// them: every value the suite stores through the port, or expects back
// from it after a write that sets what no caller gives (a claim's UsedAt, a
// score, an appointment's image count, a record's link). A fixture added
// for an entity belongs here too.
//
// Together the fixtures of an entity must set every field of it, nested
// structs and the elements of slices of structs included: the suite
// compares what it stored with what it reads back, so a field that some
// fixture sets and an adapter drops fails a round trip; a field that no
// fixture sets would not. A field added to an entity fails the guard until
// a fixture sets it, which makes the round trips cover it; the fixtures
// that a round trip stores whole (everyFieldShare) pass through fill, so a
// field added to their entity is set with no edit here.
func fixtures() []any {
	sh := NewShare("pat-1", "dr-a", t0)
	a := NewAccess(sh, "device-1", tNow)
	scored := a
	scored.Score = 3 // AddSuspicion's (wantScore)
	k := NewKey(sh, a.ID, tNow)
	claimed := k
	claimed.Status, claimed.UsedAt = core.KeyUsed, tNow.Add(time.Second) // ClaimKey's (wantKey)
	appt := newAppointment("appt-1")
	counted := appt
	counted.ImageCount = 1 // CreateChatImage's (wantAppointment)
	rec := auditRecord("pat-1", "dr-a", 0)
	linked := core.Link(rec, core.ChainHead{Seq: 41, Hash: Digest("head 41")})
	refused, note := refusal(sh, "device-2", tNow)
	return []any{
		newPhoto("pat-1"), pendingPhoto("pat-1", tNow),
		appt, counted, newChatImage(appt), legacyChatImage(appt),
		rec, linked, refused, Record("pat-1", "dr-a", core.RoleProfessional, core.AuditKeyIssue, k.ID, tNow),
		sh, everyFieldShare("pat-1", "dr-a", t0),
		a, scored,
		k, claimed,
		note, Note("dr-a", core.NoteSessionCreated, sh.ID, t0),
		dailyReport(day0, 0),
	}
}

// everyFieldShare returns NewShare of patient for professional, created at
// created, with every field set: as if two devices were bound, two views
// spent and the share revoked, and with an idempotency key. The stores keep
// what CreateShare is given, so that one write round-trips every field.
func everyFieldShare(patient, professional string, created time.Time) core.Share {
	sh := NewShare(patient, professional, created)
	sh.MaxDevices, sh.Devices, sh.ViewsUsed = 2, []string{"device-1", "device-2"}, 2
	sh.RevokedAt, sh.RevokedBy, sh.RevokeReason = created.Add(time.Minute), patient, revokeReason
	sh.IdempotencyKey, sh.RequestHash = "idem-1", Digest("request 1")
	fill(&sh)
	return sh
}

// fill sets every leaf of *v (as TestFixturesFillEveryField counts them)
// that is still zero to a value of its own, distinct from the others it
// sets: a field that no fixture names, such as one just added to an
// entity, is stored and compared by every round trip of v all the same.
// Slices of structs that are empty get one element. It panics on a kind of
// field it cannot fill, so that such a field fails the suite at once.
func fill(v any) {
	n := 0
	fillValue(reflect.ValueOf(v).Elem(), &n)
}

func fillValue(v reflect.Value, n *int) {
	typ := v.Type()
	if leaf(typ) && !v.IsZero() && !(typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map) {
		return
	}
	*n++
	name := fmt.Sprintf("fill-%d", *n)
	switch {
	case typ == reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(t0.Add(time.Duration(*n)*time.Minute + time.Duration(*n))))
	case typ.Kind() == reflect.Struct:
		for i := range typ.NumField() {
			if typ.Field(i).IsExported() {
				fillValue(v.Field(i), n)
			}
		}
	case typ.Kind() == reflect.Slice && typ.Elem().Kind() == reflect.Struct:
		if v.Len() == 0 {
			v.Set(reflect.MakeSlice(typ, 1, 1))
		}
		for i := range v.Len() {
			fillValue(v.Index(i), n)
		}
	case typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map:
		if v.Len() > 0 {
			return
		}
		switch {
		case typ.Elem().Kind() == reflect.Uint8:
			v.SetBytes(Digest(name))
		case typ.Kind() == reflect.Slice && typ.Elem().Kind() == reflect.String:
			v.Set(reflect.Append(reflect.MakeSlice(typ, 0, 1), reflect.ValueOf(name).Convert(typ.Elem())))
		case typ.Kind() == reflect.Map && typ.Key().Kind() == reflect.String && typ.Elem().Kind() == reflect.String:
			v.Set(reflect.MakeMap(typ))
			v.SetMapIndex(reflect.ValueOf(name).Convert(typ.Key()), reflect.ValueOf(name).Convert(typ.Elem()))
		default:
			panic(fmt.Sprintf("storetest: fill cannot fill a %v", typ))
		}
	case typ.Kind() == reflect.String:
		v.SetString(name)
	case typ.Kind() == reflect.Bool:
		v.SetBool(true)
	case v.CanInt():
		v.SetInt(int64(*n))
	case v.CanUint():
		v.SetUint(uint64(*n))
	case v.CanFloat():
		v.SetFloat(float64(*n))
	default:
		panic(fmt.Sprintf("storetest: fill cannot fill a %v", typ))
	}
}

// leaf reports whether a value of typ is one field to the guard: anything
// but a struct (time.Time is one) or a slice of structs.
func leaf(typ reflect.Type) bool {
	if typ == reflect.TypeFor[time.Time]() {
		return true
	}
	switch typ.Kind() {
	case reflect.Struct:
		return false
	case reflect.Slice:
		return typ.Elem().Kind() != reflect.Struct
	}
	return true
}
