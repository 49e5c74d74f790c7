package httpapi

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/medshare/medshare/shared/core"
)

// TestDecodeJSONMessages pins what a client reads about a refused body: the
// place and the rule, never the value it sent.
func TestDecodeJSONMessages(t *testing.T) {
	type event struct {
		Type string    `json:"type"`
		At   time.Time `json:"at"`
	}
	type body struct {
		Angle  string  `json:"angle"`
		Size   *int64  `json:"size"`
		SHA256 []byte  `json:"sha256"`
		KEM    *uint16 `json:"kem"`
		Events []event `json:"events"`
	}
	const jsonType = "application/json"
	for _, c := range []struct {
		name, contentType, body, want string
	}{
		{"empty", jsonType, "", "a JSON body is required"},
		{"whitespace", jsonType, " \n", "a JSON body is required"},
		{"no content type", "", `{}`, "content-type must be application/json; the request has none"},
		{"other content type", "text/plain", `{}`, "content-type must be application/json"},
		{"other charset", "application/json; charset=utf-16", `{}`, "content-type must be application/json, with no parameter but charset=utf-8"},
		{"null", jsonType, `null`, "body must be a JSON object"},
		{"array", jsonType, `[]`, "body must be a JSON object"},
		{"two values", jsonType, `{}{}`, "body must hold exactly one JSON value"},
		{"cut short", jsonType, `{"angle":`, "malformed JSON: unexpected end"},
		{"bad token", jsonType, `{"angle":x}`, "malformed JSON at offset 9"},
		{"other case", jsonType, `{"Angle":"CROWN"}`, "unknown field Angle (names are snake_case and case-sensitive)"},
		{"unknown nested", jsonType, `{"events":[{"typ":"x"}]}`, "unknown field events.0.typ (names are snake_case and case-sensitive)"},
		{"twice", jsonType, `{"angle":"A","angle":"A"}`, "field angle is given more than once"},
		{"twice nested", jsonType, `{"events":[{"type":"a","type":"b"}]}`, "field events.0.type is given more than once"},
		{"invalid utf-8", jsonType, "{\"angle\":\"\xff\"}", "strings must be valid UTF-8"},
		{"wrong type", jsonType, `{"size":"1"}`, "field size must be int64"},
		{"fraction", jsonType, `{"size":1.5}`, "field size must be int64"},
		{"overflow", jsonType, `{"kem":70000}`, "field kem must be uint16"},
		{"bad base64", jsonType, `{"sha256":"%%%"}`, "a base64 field is not valid standard base64"},
		{"bad time", jsonType, `{"events":[{"at":"yesterday"}]}`, "times must be RFC 3339, e.g. 2026-11-26T10:00:00Z"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ev := events.APIGatewayV2HTTPRequest{Body: c.body, Headers: map[string]string{}}
			if c.contentType != "" {
				ev.Headers["content-type"] = c.contentType
			}
			var v body
			err := decodeJSON(ev, &v)
			var e *core.Error
			if core.KindOf(err) != core.KindInvalid || !errors.As(err, &e) || e.Message != c.want {
				t.Errorf("got %v, want invalid_request %q", err, c.want)
			}
		})
	}
	t.Run("base64 body", func(t *testing.T) {
		ev := events.APIGatewayV2HTTPRequest{
			Body: base64.StdEncoding.EncodeToString([]byte(`{"angle":"CROWN"}`)), IsBase64Encoded: true,
			Headers: map[string]string{"content-type": "Application/JSON; Charset=UTF-8"},
		}
		var v body
		if err := decodeJSON(ev, &v); err != nil || v.Angle != "CROWN" {
			t.Errorf("got %v, %+v", err, v)
		}
	})
}
