package storeitem

import (
	"reflect"
	"time"
)

// The codecs (PhotoOf and Photo.Entity, and so on) copy every field that
// an entity and its stored shape name alike with copyFields, and set by
// hand only the fields whose stored form is another shape (a photo's
// wrapped key, a share's devices, photos and access window, the day of a
// report). So a field added to both under one name is stored, and read
// back, without a codec to change; the fixture guard of storetest
// (every fixture fills every field) and the suites' round trips check
// that each is.

var timeType = reflect.TypeFor[time.Time]()

// shapeOf is r with the fields it names alike with entity e set from e.
func shapeOf[S any](r S, e any) S {
	if err := copyFields(&r, e); err != nil {
		panic(err) // unreachable: only reading a stored time fails
	}
	return r
}

// entityOf is e with the fields it names alike with stored shape r set
// from r; an error when a stored time does not parse.
func entityOf[E any](e E, r any) (E, error) {
	err := copyFields(&e, r)
	return e, err
}

// copyFields sets each field of the struct dst points to from the field
// of struct src with the same name, the fields of embedded structs
// included on both sides (core.InboxItem's Notification):
//   - as it is when the two have the same type;
//   - converted between two types of one basic kind (core.Angle and
//     string, core.Role and string);
//   - formatted (FormatTime) from a time.Time into a string, and parsed
//     (ParseTime) from a string into a time.Time.
//
// A field that src does not have, or has in another shape, is left as it
// is. It stops at the first stored time that does not parse.
func copyFields(dst, src any) error {
	from := map[string]reflect.Value{}
	for _, f := range fields(reflect.ValueOf(src)) {
		from[f.name] = f.v
	}
	for _, f := range fields(reflect.ValueOf(dst).Elem()) {
		d, v := f.v, from[f.name]
		if !v.IsValid() {
			continue
		}
		switch dt, vt := d.Type(), v.Type(); {
		case dt == vt:
			d.Set(v)
		case dt == timeType && vt.Kind() == reflect.String:
			t, err := ParseTime(v.String())
			if err != nil {
				return err
			}
			d.Set(reflect.ValueOf(t))
		case vt == timeType && dt.Kind() == reflect.String:
			d.SetString(FormatTime(v.Interface().(time.Time)))
		case dt.Kind() == vt.Kind() && basic(dt.Kind()):
			d.Set(v.Convert(dt))
		}
	}
	return nil
}

// field is one field of a struct value, by name.
type field struct {
	name string
	v    reflect.Value
}

// fields are the exported fields of struct v, in order, with those of its
// embedded structs in their place.
func fields(v reflect.Value) []field {
	var out []field
	for i := range v.NumField() {
		switch f := v.Type().Field(i); {
		case !f.IsExported():
		case f.Anonymous && f.Type.Kind() == reflect.Struct:
			out = append(out, fields(v.Field(i))...)
		default:
			out = append(out, field{f.Name, v.Field(i)})
		}
	}
	return out
}

// basic reports whether values of kind k convert to one another without
// changing meaning: strings, booleans and numbers of one kind.
func basic(k reflect.Kind) bool {
	switch k {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int64, reflect.Uint16, reflect.Uint64:
		return true
	}
	return false
}
