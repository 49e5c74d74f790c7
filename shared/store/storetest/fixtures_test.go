package storetest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/medshare/medshare/shared/core"
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

// leaf reports whether a value of typ is one field to the guard: anything
// but a struct (time.Time is one) or a slice of structs.
func leaf(typ reflect.Type) bool {
	if typ == reflect.TypeOf(time.Time{}) {
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
