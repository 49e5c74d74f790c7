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
// for: a codec that forgets one field of a share fails the suite's round
// trip (testCreateShare's RoundTrip, on both stores). The stored shape of
// everyFieldShare, through each store's encoding, reads back equal under
// the suite's comparison; and that comparison sees every leaf of the share
// go missing, one at a time (so the fixture sets each leaf, and no option
// of shareCmpOpts hides one), and every stored attribute go missing.
func TestRoundTripCatchesADroppedField(t *testing.T) {
	sh := everyFieldShare("pat-1", "dr-a", t0)
	encodings := []struct {
		name string
		// drop encodes r, without the attribute attr unless it is "", and
		// decodes it back; it lists the attributes it wrote.
		drop func(t *testing.T, r storeitem.Share, attr string) (storeitem.Share, []string)
	}{
		{"bbolt (encoding/json)", func(t *testing.T, r storeitem.Share, attr string) (storeitem.Share, []string) {
			raw, err := json.Marshal(r)
			Must(t, "Marshal", err)
			var m map[string]json.RawMessage
			Must(t, "Unmarshal", json.Unmarshal(raw, &m))
			delete(m, attr)
			raw, err = json.Marshal(m)
			Must(t, "Marshal", err)
			var back storeitem.Share
			Must(t, "Unmarshal", json.Unmarshal(raw, &back))
			return back, slices.Sorted(maps.Keys(m))
		}},
		{"DynamoDB (attributevalue)", func(t *testing.T, r storeitem.Share, attr string) (storeitem.Share, []string) {
			m, err := attributevalue.MarshalMap(r)
			Must(t, "MarshalMap", err)
			delete(m, attr)
			var back storeitem.Share
			Must(t, "UnmarshalMap", attributevalue.UnmarshalMap(m, &back))
			return back, slices.Sorted(maps.Keys(m))
		}},
	}
	for _, enc := range encodings {
		t.Run(enc.name, func(t *testing.T) {
			r, attrs := enc.drop(t, storeitem.ShareOf(sh), "")
			got, err := r.Entity()
			Must(t, "Entity", err)
			if diff := cmp.Diff(sh, got, shareCmpOpts); diff != "" {
				t.Fatalf("everyFieldShare through the stored shape (-want +got):\n%s", diff)
			}
			for _, path := range fieldPaths(reflect.TypeFor[core.Share](), "") {
				forgot := got
				forgot.Photos = slices.Clone(got.Photos)
				zeroLeaf(reflect.ValueOf(&forgot).Elem(), path)
				if cmp.Equal(sh, forgot, shareCmpOpts) {
					t.Errorf("a codec that forgets %s passes the round trip", path)
				}
			}
			for _, attr := range attrs {
				r, _ := enc.drop(t, storeitem.ShareOf(sh), attr)
				if got, err := r.Entity(); err == nil && cmp.Equal(sh, got, shareCmpOpts) {
					t.Errorf("an item without %q passes the round trip", attr)
				}
			}
		})
	}
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
