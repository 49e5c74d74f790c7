package httpapi

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/google/go-cmp/cmp"
	"github.com/medshare/medshare/shared/httpapi/strictjson"
)

// strictProbe has a field of every kind a request body uses.
type strictProbe struct {
	Angle  string        `json:"angle"`
	Size   *int64        `json:"size"`
	N      int           `json:"n"`
	W      int64         `json:"w"`
	Views  *int          `json:"views"`
	SHA256 []byte        `json:"sha256"`
	KEM    *uint16       `json:"kem"`
	IDs    []string      `json:"ids"`
	At     time.Time     `json:"at"`
	Events []strictEvent `json:"events"`
}

type strictEvent struct {
	Type string    `json:"type"`
	At   time.Time `json:"at"`
}

// strictSeeds are bodies on each side of every rule, and where
// encoding/json alone reads otherwise than JSON v2.
var strictSeeds = []string{
	`{}`, ` {"angle":"CROWN"} `, `{"angle":"\u0041\ud83d\ude00"}`, `{"angle":"\ud800"}`, `{"angle":"\udc00\ud800"}`,
	`{"angle":"\ud800\u0041"}`, `{"angle":"\\ud800"}`, `{"angle":"\ud800x"}`, "{\"angle\":\"\xff\"}", "{\"\xff\":1}",
	`{"Angle":"x"}`, `{"ANGLE":"x"}`, `{"angle":"a","angle":"a"}`, `{"angle":"a","\u0061ngle":"b"}`, `{"a":1}`, `{"":1}`,
	`{"size":1e2}`, `{"size":-0}`, `{"size":1.0}`, `{"size":9223372036854775807}`, `{"size":9223372036854775808}`,
	`{"size":-9223372036854775808}`, `{"size":"1"}`, `{"size":null}`, `{"n":null}`, `{"n":true}`, `{"kem":-1}`, `{"kem":65535}`,
	`{"kem":65536}`, `{"kem":-0}`, `{"views":3}`, `{"w":-12}`,
	`{"sha256":"YWJj\nZA=="}`, `{"sha256":"YWJj\rZA=="}`, `{"sha256":"YWJjZA"}`, `{"sha256":"YWJjZA=="}`, `{"sha256":"YWJjZB=="}`,
	`{"sha256":"YW Jj"}`, `{"sha256":"_-8="}`, `{"sha256":null}`, `{"sha256":""}`, `{"sha256":[1]}`,
	`{"at":"2026-11-26T10:00:00Z"}`, `{"at":"2026-11-26T10:00:00z"}`, `{"at":"2026-11-26T10:00:00.5+01:00"}`,
	`{"at":"2026-11-26T24:00:00Z"}`, `{"at":"2026-11-26T10:00:60Z"}`, `{"at":"2026-11-26T10:00:00+24:00"}`,
	`{"at":"2026-11-26T10:00:00+23:59"}`, `{"at":"2026-11-26T10:00:00+23:60"}`, `{"at":"2026-11-26T10:00:00-00:00"}`,
	`{"at":"2026-11-26 10:00:00Z"}`, `{"at":5}`, `{"at":null}`, `{"at":"0000-01-01T0:00:00+00:00"}`, `{"at":"2026-11-26T10:00:00,5Z"}`,
	`{"at":"2026-11-26T10:00:00.Z"}`, `{"at":"2026-11-26T10:00:00.123456789123Z"}`, `{"at":"2026-11-26T10:00:00+0100"}`, `{"at":"2026-02-30T10:00:00Z"}`,
	`{"at":"+2026-11-26T10:00:00Z"}`, `{"at":"2026-11-26T10:00:00+01:00 "}`, `{"at":"2026-11-26t10:00:00Z"}`,
	`{"events":null}`, `{"events":{}}`, `{"events":[null]}`, `{"events":[{"type":"a"},{"type":"b","type":"c"}]}`,
	`{"events":[{"typ":"a"}]}`, `{"events":[1]}`, `{"ids":[1]}`, `{"ids":[null,"a"]}`, `{"ids":"a"}`,
	`{"angle":1}`, `{"angle":true}`, `{"angle":{}}`, `{"angle":[]}`, `{"angle":"a"}x`, `{}{}`, `{"angle":"a",}`, `{"angle":`,
	`{"angle":x}`, `{"size":01}`, "{\"angle\":\"\x01\"}", `{"angle":"\u0000"}`, "{\"angle\":\"\u2028\"}", `{"angle":"\/\b\f\n\r\t\"\\"}`,
}

// FuzzStrictDecode holds strictjson.Unmarshal to JSON v2 with unknown names
// refused, the decoder the service used before: the same bodies are
// accepted, into the same values, for each request type.
func FuzzStrictDecode(f *testing.F) {
	for _, s := range strictSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, newV := range []func() any{
			func() any { return new(strictProbe) },
			func() any { return new(uploadPresignBody) },
			func() any { return new(appointmentBody) },
			func() any { return new(chatUploadBody) },
			func() any { return new(shareBody) },
			func() any { return new(activityBody) },
		} {
			want, got := newV(), newV()
			wantErr := jsonv2.Unmarshal([]byte(body), want, jsonv2.RejectUnknownMembers(true))
			gotErr := strictjson.Unmarshal([]byte(body), got)
			var refused *strictjson.Error
			if gotErr != nil && !errors.As(gotErr, &refused) {
				t.Fatalf("%q into %T: error %v is not a refusal", body, got, gotErr)
			}
			if (wantErr == nil) != (gotErr == nil) {
				t.Fatalf("%q into %T: got error %v, JSON v2 %v", body, got, gotErr, wantErr)
			}
			if wantErr == nil {
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("%q into %T (-JSON v2 +got):\n%s", body, got, diff)
				}
			}
		}
	})
}

// TestStrictDecodeMessages pins the refusals of what encoding/json alone
// would accept, and their messages.
func TestStrictDecodeMessages(t *testing.T) {
	for _, c := range []struct {
		name, body, want string
		lax              bool // encoding/json alone accepts the body
	}{
		{"unpaired high surrogate", `{"angle":"\ud800"}`, "strings must be valid UTF-8", true},
		{"unpaired low surrogate", `{"angle":"\udc00"}`, "strings must be valid UTF-8", true},
		{"high surrogate, then no low", `{"angle":"\ud800\u0041"}`, "strings must be valid UTF-8", true},
		{"invalid UTF-8 in a name", "{\"\xff\":1}", "strings must be valid UTF-8", true},
		{"other case", `{"Angle":"x"}`, "unknown field Angle (names are snake_case and case-sensitive)", true},
		{"twice, escaped", `{"angle":"a","\u0061ngle":"b"}`, "field angle is given more than once", true},
		{"base64 with a line break", `{"sha256":"YWJj\nZA=="}`, "a base64 field is not valid standard base64", true},
		{"zone of 24 hours", `{"at":"2026-11-26T10:00:00+24:00"}`, "times must be RFC 3339, e.g. 2026-11-26T10:00:00Z", true},
		{"time as a number", `{"at":5}`, "field at must be time.Time", false},
		{"array for a string", `{"ids":[1]}`, "field ids.0 must be string", false},
		{"object for a slice", `{"events":{}}`, "field events must be []httpapi.strictEvent", false},
		{"integral but with an exponent", `{"size":1e2}`, "field size must be int64", false},
		{"negative for unsigned", `{"kem":-1}`, "field kem must be uint16", false},
		{"trailing text", `{"angle":"a"}x`, "body must hold exactly one JSON value", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var v strictProbe
			err := strictjson.Unmarshal([]byte(c.body), &v)
			if err == nil || err.Error() != c.want {
				t.Errorf("got %v, want %q", err, c.want)
			}
			if err := json.Unmarshal([]byte(c.body), new(strictProbe)); (err == nil) != c.lax {
				t.Errorf("encoding/json alone: %v, want accepted %v", err, c.lax)
			}
		})
	}
}

// TestStrictDecodeUnsupportedType: a request type the walk cannot read is
// an internal error, never a body accepted unchecked.
func TestStrictDecodeUnsupportedType(t *testing.T) {
	type inner struct {
		A string `json:"a"`
	}
	for _, c := range []struct {
		v    any
		body string
	}{
		{new(struct {
			M map[string]string `json:"m"`
		}), `{"m":{}}`},
		{new(struct {
			F float64 `json:"f"`
		}), `{"f":1}`},
		{new(struct {
			inner
		}), `{"a":"x"}`},
		{new(struct {
			N int64 `json:"n,string"`
		}), `{"n":"1"}`},
	} {
		v := c.v
		err := strictjson.Unmarshal([]byte(c.body), v)
		var u *strictjson.UnsupportedTypeError
		if !errors.As(err, &u) {
			t.Errorf("%s: got %v, want an unsupported type", reflect.TypeOf(v).Elem(), err)
		}
	}
}
