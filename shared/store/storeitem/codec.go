package storeitem

import (
	"reflect"
	"sync"
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
// is. It stops at the first stored time that does not parse. Which field
// goes where depends only on the two types, so it is worked out once per
// pair of types (planFor): every store read and write runs a codec.
func copyFields(dst, src any) error {
	dv, sv := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src)
	for _, st := range planFor(dv.Type(), sv.Type()) {
		d, v := dv.FieldByIndex(st.dst), sv.FieldByIndex(st.src)
		switch st.op {
		case opSet:
			d.Set(v)
		case opParseTime:
			t, err := ParseTime(v.String())
			if err != nil {
				return err
			}
			d.Set(reflect.ValueOf(t))
		case opFormatTime:
			d.SetString(FormatTime(v.Interface().(time.Time)))
		case opConvert:
			d.Set(v.Convert(d.Type()))
		}
	}
	return nil
}

// How one field is copied.
const (
	opSet        = iota // the same type
	opParseTime         // a stored string into a time.Time
	opFormatTime        // a time.Time into its stored string
	opConvert           // between two types of one basic kind
)

// step copies the field of src at index path src into the field of dst at dst.
type step struct {
	dst, src []int
	op       int
}

// plans holds each pair of types' steps ([2]reflect.Type{dst, src} to []step).
var plans sync.Map

// planFor returns the steps that copy a src into a dst, working them out
// on the pair's first use.
func planFor(dt, st reflect.Type) []step {
	key := [2]reflect.Type{dt, st}
	if p, ok := plans.Load(key); ok {
		return p.([]step)
	}
	from := map[string]field{}
	for _, f := range fields(st, nil) {
		from[f.name] = f
	}
	var steps []step
	for _, f := range fields(dt, nil) {
		v, ok := from[f.name]
		if !ok {
			continue
		}
		s := step{dst: f.index, src: v.index}
		switch ft, vt := f.typ, v.typ; {
		case ft == vt:
			s.op = opSet
		case ft == timeType && vt.Kind() == reflect.String:
			s.op = opParseTime
		case vt == timeType && ft.Kind() == reflect.String:
			s.op = opFormatTime
		case ft.Kind() == vt.Kind() && basic(ft.Kind()):
			s.op = opConvert
		default:
			continue
		}
		steps = append(steps, s)
	}
	p, _ := plans.LoadOrStore(key, steps)
	return p.([]step)
}

// field is one field of a struct type: its name, its index path from the
// outer struct, its type.
type field struct {
	name  string
	index []int
	typ   reflect.Type
}

// fields are the exported fields of struct type t, in order, with those
// of its embedded structs in their place; at is t's own index path.
func fields(t reflect.Type, at []int) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		index := append(append([]int(nil), at...), i)
		switch {
		case !f.IsExported():
		case f.Anonymous && f.Type.Kind() == reflect.Struct:
			out = append(out, fields(f.Type, index)...)
		default:
			out = append(out, field{f.Name, index, f.Type})
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
