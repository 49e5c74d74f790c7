// Package strictjson decodes JSON strictly, on the standard library's
// encoding/json: the request bodies of the API (package httpapi) and the
// lines of a legacy chat export (package legacy). See Unmarshal's rules
// below.
package strictjson

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Strict decoding of request bodies on the standard library's encoding/json,
// which every function links anyway (the Lambda runtime client and the AWS
// SDK use it). JSON v2 (github.com/go-json-experiment/json) had these rules
// by default, at about 0.5 MB in each function that takes a body; Go 1.26
// ships it only behind GOEXPERIMENT=jsonv2 (docs/DECISIONS.md, "Lean
// functions, second pass"). encoding/json alone is lax: it matches names
// in any case, keeps the last of a name given twice, replaces invalid UTF-8
// and unpaired surrogates with U+FFFD, ignores unknown names, and reads
// base64 with line breaks and time zones of +24:00. So a body is checked
// first, in three passes, and decoded only when it passes:
//
//  1. syntax: exactly one JSON value (json.Decoder, which reports where);
//  2. text: valid UTF-8, and no \u escape of an unpaired surrogate;
//  3. shape, walking the tokens beside the Go type: every name is a field's
//     exact name and given once, every value has the field's JSON kind and
//     fits its Go type (integers in range and integral, base64 standard and
//     without line breaks, times RFC 3339 with a zone within ±23:59).
//
// Then encoding/json decodes the body, which can no longer fail or read it
// another way. FuzzStrictDecode holds this to JSON v2's decisions.

// Error is a refused body: msg names the place and the rule, never
// the value.
type Error struct{ msg string }

func (e *Error) Error() string { return e.msg }

func refuse(format string, args ...any) error { return &Error{fmt.Sprintf(format, args...)} }

// UnsupportedTypeError is a request type the walk does not read (a map, a float,
// an interface, an embedded struct, a tag option such as ",string"): a programming error, which the API's
// decodeJSON answers with an internal error, so that any operation's test with a
// valid body fails on it.
type UnsupportedTypeError struct{ t reflect.Type }

func (e *UnsupportedTypeError) Error() string {
	return fmt.Sprintf("strict decoding does not read type %s", e.t)
}

// Unmarshal decodes body, one JSON value, into v (a pointer) under
// the strict rules, or returns a *Error that says why not.
func Unmarshal(body []byte, v any) error {
	if err := checkSyntax(body); err != nil {
		return err
	}
	if err := checkText(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	w := walker{dec: dec}
	if err := w.value(reflect.TypeOf(v).Elem()); err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		// The walk accepted what encoding/json refuses: a type the walk
		// does not know. Refuse rather than guess.
		return refuse("malformed JSON body")
	}
	return nil
}

// checkSyntax accepts exactly one JSON value, with white space around it.
func checkSyntax(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		var syn *json.SyntaxError
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
			return refuse("malformed JSON: unexpected end")
		case errors.As(err, &syn):
			// Offset counts the bytes read, the bad one included.
			return refuse("malformed JSON at offset %d", max(syn.Offset-1, 0))
		}
		return refuse("malformed JSON body")
	}
	if len(bytes.TrimLeft(body[dec.InputOffset():], " \t\r\n")) > 0 {
		return refuse("body must hold exactly one JSON value")
	}
	return nil
}

// checkText refuses invalid UTF-8 and a \u escape of a surrogate that is
// not the first half of a pair followed by the second. The body is valid
// JSON, so a backslash is always inside a string and starts an escape.
func checkText(body []byte) error {
	const msg = "strings must be valid UTF-8"
	if !utf8.Valid(body) {
		return refuse(msg)
	}
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' {
			continue
		}
		if body[i+1] != 'u' {
			i++ // \" \\ \/ \b \f \n \r \t
			continue
		}
		r := hex4(body[i+2 : i+6])
		switch {
		case r < 0xd800 || r > 0xdfff:
		case r <= 0xdbff && i+12 <= len(body) && body[i+6] == '\\' && body[i+7] == 'u':
			if lo := hex4(body[i+8 : i+12]); lo < 0xdc00 || lo > 0xdfff {
				return refuse(msg)
			}
			i += 6
		default:
			return refuse(msg)
		}
		i += 5
	}
	return nil
}

// hex4 reads four hex digits; the JSON syntax has checked them.
func hex4(b []byte) rune {
	n, _ := strconv.ParseUint(string(b), 16, 16)
	return rune(n)
}

var (
	timeType  = reflect.TypeFor[time.Time]()
	bytesType = reflect.TypeFor[[]byte]()
)

// walker reads a valid JSON text token by token beside the Go type it is
// for. path is the place of the value being read, as field names and
// array indexes.
type walker struct {
	dec  *json.Decoder
	path []string
}

func (w *walker) place() string { return strings.Join(w.path, ".") }

// mismatch refuses a value of the wrong kind or out of t's range.
func (w *walker) mismatch(t reflect.Type) error {
	if len(w.path) == 0 {
		return refuse("body must be a JSON %s", jsonKindOf(t))
	}
	return refuse("field %s must be %s", w.place(), t)
}

// value reads one value for type t.
func (w *walker) value(t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := w.dec.Token()
	if err != nil {
		return refuse("malformed JSON body") // checkSyntax has passed: unreachable
	}
	if tok == nil {
		return nil // null leaves the zero value, of any type
	}
	switch {
	case t == timeType:
		s, ok := tok.(string)
		if !ok {
			return w.mismatch(t)
		}
		return checkTime(s)
	case t == bytesType:
		s, ok := tok.(string)
		if !ok {
			return w.mismatch(t)
		}
		if strings.ContainsAny(s, "\r\n") {
			return refuse("a base64 field is not valid standard base64")
		}
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			return refuse("a base64 field is not valid standard base64")
		}
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		if _, ok := tok.(string); !ok {
			return w.mismatch(t)
		}
	case reflect.Bool:
		if _, ok := tok.(bool); !ok {
			return w.mismatch(t)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := tok.(json.Number)
		if !ok {
			return w.mismatch(t)
		}
		if _, err := strconv.ParseInt(string(n), 10, t.Bits()); err != nil {
			return w.mismatch(t)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := tok.(json.Number)
		if !ok {
			return w.mismatch(t)
		}
		if _, err := strconv.ParseUint(string(n), 10, t.Bits()); err != nil {
			return w.mismatch(t)
		}
	case reflect.Slice:
		if tok != json.Delim('[') {
			return w.mismatch(t)
		}
		for i := 0; w.dec.More(); i++ {
			w.path = append(w.path, strconv.Itoa(i))
			if err := w.value(t.Elem()); err != nil {
				return err
			}
			w.path = w.path[:len(w.path)-1]
		}
		if _, err := w.dec.Token(); err != nil { // ]
			return refuse("malformed JSON body")
		}
	case reflect.Struct:
		if tok != json.Delim('{') {
			return w.mismatch(t)
		}
		fields, err := fieldsOf(t)
		if err != nil {
			return err
		}
		seen := make(map[string]bool, len(fields))
		for w.dec.More() {
			tok, err := w.dec.Token()
			if err != nil {
				return refuse("malformed JSON body")
			}
			name, _ := tok.(string) // an object's names are strings
			w.path = append(w.path, name)
			if seen[name] {
				return refuse("field %s is given more than once", w.place())
			}
			seen[name] = true
			ft, ok := fields[name]
			if !ok {
				return refuse("unknown field %s (names are snake_case and case-sensitive)", w.place())
			}
			if err := w.value(ft); err != nil {
				return err
			}
			w.path = w.path[:len(w.path)-1]
		}
		if _, err := w.dec.Token(); err != nil { // }
			return refuse("malformed JSON body")
		}
	default:
		return &UnsupportedTypeError{t}
	}
	return nil
}

// checkTime accepts an RFC 3339 time as JSON v2 reads one:
// 2006-01-02T15:04:05, an optional fraction of one or more digits after a
// dot, then Z or a zone offset within ±23:59. time.Parse alone is looser
// (one-digit hours, a comma before the fraction, offsets of 24 hours).
func checkTime(s string) error {
	const msg = "times must be RFC 3339, e.g. 2026-11-26T10:00:00Z"
	if _, err := time.Parse(time.RFC3339, s); err != nil {
		return refuse(msg)
	}
	const layout = "0000-00-00T00:00:00"
	if len(s) < len(layout)+1 {
		return refuse(msg)
	}
	for i := range len(layout) {
		if c := layout[i]; c == '0' && !isDigit(s[i]) || c != '0' && s[i] != c {
			return refuse(msg)
		}
	}
	zone := s[len(layout):]
	if zone[0] == '.' {
		n := 1
		for n < len(zone) && isDigit(zone[n]) {
			n++
		}
		if n == 1 {
			return refuse(msg)
		}
		zone = zone[n:]
	}
	switch {
	case zone == "Z":
	case len(zone) == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':' &&
		isDigit(zone[1]) && isDigit(zone[2]) && isDigit(zone[4]) && isDigit(zone[5]) &&
		zone[1:3] <= "23" && zone[4:6] <= "59":
	default:
		return refuse(msg)
	}
	return nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// fieldsOf maps the JSON names of struct t's fields (their json tag's
// name, else the Go name) to their types, as encoding/json names them.
func fieldsOf(t reflect.Type) (map[string]reflect.Type, error) {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type), nil
	}
	m := make(map[string]reflect.Type, t.NumField())
	for f := range t.Fields() {
		if f.Anonymous {
			return nil, &UnsupportedTypeError{t} // encoding/json would inline it
		}
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		for o := range strings.SplitSeq(opts, ",") {
			if o != "" && o != "omitempty" && o != "omitzero" {
				return nil, &UnsupportedTypeError{t} // ",string" changes how a value reads
			}
		}
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		m[name] = f.Type
	}
	fieldCache.Store(t, m)
	return m, nil
}

var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

// jsonKindOf names the JSON kind a Go type decodes from, for a body that is
// not even the right kind of value.
func jsonKindOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	}
	return t.String()
}
