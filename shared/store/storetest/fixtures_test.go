package storetest

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/store/storeitem"
)

// TestFixturesFillEveryField is the guard of fixtures.go: for each entity
// the suite stores, every field (nested structs and the elements of slices
// of structs included) must be set by at least one fixture, so that a field
// added to an entity and left zero by every fixture fails here rather than
// escaping every round trip.
func TestFixturesFillEveryField(t *testing.T) {
	entities := []any{
		core.Photo{}, core.Appointment{}, core.ChatImage{}, core.AuditRecord{}, core.Share{},
		core.Access{}, core.EphemeralKey{}, core.Notification{}, core.DailyReport{},
	}
	set := map[reflect.Type]map[string]bool{}
	for _, f := range fixtures() {
		v := reflect.ValueOf(f)
		if set[v.Type()] == nil {
			set[v.Type()] = map[string]bool{}
		}
		markSet(v, "", set[v.Type()])
	}
	for _, e := range entities {
		typ := reflect.TypeOf(e)
		if set[typ] == nil {
			t.Errorf("%v: no fixture in fixtures()", typ)
			continue
		}
		var missing []string
		for _, f := range fieldPaths(typ, "") {
			if !set[typ][f] {
				missing = append(missing, f)
			}
		}
		if len(missing) > 0 {
			t.Errorf("%v: no fixture sets %v: set it in a fixture that a round trip stores and reads back, and list it in fixtures()", typ, missing)
		}
	}
}

// fieldPaths lists the paths of the fields of struct type typ, down to its
// leaves: "WrappedKey.KeyID", "Photos[].SHA256".
func fieldPaths(typ reflect.Type, prefix string) []string {
	if leaf(typ) {
		return []string{prefix}
	}
	if typ.Kind() == reflect.Slice {
		return fieldPaths(typ.Elem(), prefix+"[]")
	}
	var out []string
	for f := range typ.Fields() {
		if !f.IsExported() {
			continue
		}
		p := f.Name
		if prefix != "" && !f.Anonymous {
			p = prefix + "." + f.Name
		} else if prefix != "" {
			p = prefix
		}
		out = append(out, fieldPaths(f.Type, p)...)
	}
	return slices.Compact(out)
}

// markSet records in set the paths of v's leaves that are not zero (for a
// slice or map: not empty).
func markSet(v reflect.Value, prefix string, set map[string]bool) {
	typ := v.Type()
	switch {
	case leaf(typ):
		if (typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map) && v.Len() > 0 || !v.IsZero() && typ.Kind() != reflect.Slice && typ.Kind() != reflect.Map {
			set[prefix] = true
		}
	case typ.Kind() == reflect.Slice:
		for i := range v.Len() {
			markSet(v.Index(i), prefix+"[]", set)
		}
	default:
		for i := range typ.NumField() {
			f := typ.Field(i)
			if !f.IsExported() {
				continue
			}
			p := f.Name
			if prefix != "" && !f.Anonymous {
				p = prefix + "." + f.Name
			} else if prefix != "" {
				p = prefix
			}
			markSet(v.Field(i), p, set)
		}
	}
}

// TestRoundTripCatchesADroppedField proves what fill and the guard are
// for: a codec of storeitem that forgets one field of an entity fails a
// round trip. Each entity, from its fullest fixture with fill setting what
// that leaves zero (so a field added to the entity is covered with no edit
// here), goes through its stored shape and each store's encoding and reads
// back equal under the suite's comparison; and that comparison sees every
// leaf of the entity go missing, one at a time (so no option of the
// suite's hides one), and every stored attribute go missing. For shares,
// testCreateShare's RoundTrip stores everyFieldShare (which fill
// completes) in both stores themselves.
func TestRoundTripCatchesADroppedField(t *testing.T) {
	full := map[reflect.Type]any{}
	for _, f := range fixtures() {
		if prev, ok := full[reflect.TypeOf(f)]; !ok || zeroLeaves(f) < zeroLeaves(prev) {
			full[reflect.TypeOf(f)] = f
		}
	}
	entity := func(e any) any {
		out := reflect.New(reflect.TypeOf(e))
		out.Elem().Set(reflect.ValueOf(e))
		fill(out.Interface())
		return out.Elem().Interface()
	}
	t.Run("Photo", func(t *testing.T) {
		checkCodec(t, entity(full[reflect.TypeFor[core.Photo]()]).(core.Photo), storeitem.PhotoOf, cmpOpts)
	})
	t.Run("Appointment", func(t *testing.T) {
		checkCodec(t, entity(full[reflect.TypeFor[core.Appointment]()]).(core.Appointment), storeitem.AppointmentOf, cmpOpts)
	})
	t.Run("ChatImage", func(t *testing.T) {
		checkCodec(t, entity(full[reflect.TypeFor[core.ChatImage]()]).(core.ChatImage), storeitem.ChatImageOf, cmpOpts)
	})
	t.Run("AuditRecord", func(t *testing.T) {
		checkCodec(t, entity(full[reflect.TypeFor[core.AuditRecord]()]).(core.AuditRecord), storeitem.AuditRecordOf, cmpOpts)
	})
	t.Run("Share", func(t *testing.T) {
		checkCodec(t, everyFieldShare("pat-1", "dr-a", t0), storeitem.ShareOf, shareCmpOpts)
	})
	t.Run("Access", func(t *testing.T) {
		checkCodec(t, entity(full[reflect.TypeFor[core.Access]()]).(core.Access), storeitem.AccessOf, cmpOpts)
	})
	t.Run("EphemeralKey", func(t *testing.T) {
		checkCodec(t, entity(full[reflect.TypeFor[core.EphemeralKey]()]).(core.EphemeralKey), storeitem.EphemeralKeyOf, cmpOpts)
	})
	t.Run("InboxItem", func(t *testing.T) {
		it := core.InboxItem{Notification: full[reflect.TypeFor[core.Notification]()].(core.Notification)}
		checkCodec(t, entity(it).(core.InboxItem), storeitem.InboxItemOf, cmpOpts)
	})
	t.Run("DailyReport", func(t *testing.T) {
		checkCodec(t, entity(full[reflect.TypeFor[core.DailyReport]()]).(core.DailyReport), storeitem.DailyReportOf, cmpOpts)
	})
}

// zeroLeaves counts the leaves of v that are zero.
func zeroLeaves(v any) int {
	set := map[string]bool{}
	markSet(reflect.ValueOf(v), "", set)
	return len(fieldPaths(reflect.TypeOf(v), "")) - len(set)
}

// checkCodec is TestRoundTripCatchesADroppedField for entity e, whose
// stored shape is of(e), under the suite's comparison opts.
func checkCodec[E any, R interface{ Entity() (E, error) }](t *testing.T, e E, of func(E) R, opts cmp.Options) {
	if n := zeroLeaves(e); n > 0 {
		t.Fatalf("%d leaves of %T are zero after fill", n, e)
	}
	encodings := []struct {
		name string
		// drop encodes r, without the attribute attr unless it is "", and
		// decodes it back; it lists the attributes it wrote.
		drop func(t *testing.T, r R, attr string) (R, []string)
	}{
		{"bbolt (encoding/json)", func(t *testing.T, r R, attr string) (R, []string) {
			raw, err := json.Marshal(r)
			Must(t, "Marshal", err)
			var m map[string]json.RawMessage
			Must(t, "Unmarshal", json.Unmarshal(raw, &m))
			delete(m, attr)
			raw, err = json.Marshal(m)
			Must(t, "Marshal", err)
			var back R
			Must(t, "Unmarshal", json.Unmarshal(raw, &back))
			return back, slices.Sorted(maps.Keys(m))
		}},
		{"DynamoDB (attributevalue)", func(t *testing.T, r R, attr string) (R, []string) {
			m, err := attributevalue.MarshalMap(r)
			Must(t, "MarshalMap", err)
			delete(m, attr)
			var back R
			Must(t, "UnmarshalMap", attributevalue.UnmarshalMap(m, &back))
			return back, slices.Sorted(maps.Keys(m))
		}},
	}
	for _, enc := range encodings {
		t.Run(enc.name, func(t *testing.T) {
			r, attrs := enc.drop(t, of(e), "")
			got, err := r.Entity()
			Must(t, "Entity", err)
			if diff := cmp.Diff(e, got, opts); diff != "" {
				t.Fatalf("%T through its stored shape (-want +got):\n%s", e, diff)
			}
			for _, path := range fieldPaths(reflect.TypeFor[E](), "") {
				forgot := reflect.New(reflect.TypeFor[E]()).Elem()
				forgot.Set(reflect.ValueOf(deepCopy(t, got)))
				zeroLeaf(forgot, path)
				if cmp.Equal(e, forgot.Interface(), opts) {
					t.Errorf("a codec that forgets %s passes the round trip", path)
				}
			}
			for _, attr := range attrs {
				r, _ := enc.drop(t, of(e), attr)
				if got, err := r.Entity(); err == nil && cmp.Equal(e, got, opts) {
					t.Errorf("an item without %q passes the round trip", attr)
				}
			}
		})
	}
}

// deepCopy copies v through its stored shape's reading: a copy whose
// slices zeroLeaf may change without changing v's.
func deepCopy[E any](t *testing.T, v E) E {
	raw, err := json.Marshal(v)
	Must(t, "Marshal", err)
	var out E
	Must(t, "Unmarshal", json.Unmarshal(raw, &out))
	return out
}

// zeroLeaf sets the leaf at path (a fieldPaths path) of v to its zero
// value, in every element of the slices on the way.
func zeroLeaf(v reflect.Value, path string) {
	if path == "" {
		v.SetZero()
		return
	}
	if rest, ok := strings.CutPrefix(path, "[]"); ok {
		for i := range v.Len() {
			zeroLeaf(v.Index(i), strings.TrimPrefix(rest, "."))
		}
		return
	}
	name, rest, _ := strings.Cut(path, ".")
	if i := strings.Index(name, "[]"); i >= 0 {
		name, rest = name[:i], strings.TrimSuffix(name[i:]+"."+rest, ".")
	}
	zeroLeaf(v.FieldByName(name), rest)
}
