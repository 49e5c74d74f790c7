// Package wiretest checks what MedShare sends on the wire against what the
// API documents for every answer (ARCHITECTURE §2.10, §7; docs/PROTOCOL.md): never
// a 5xx on a client's input, a request id in X-Request-Id and
// X-Content-Type-Options: nosniff on every answer, and every refusal in the
// one error shape {"error":{"code","message","request_id"}} with a code from
// the closed set and the header's request id. The fuzz targets of the HTTP
// edge, the local server and the blob URLs share it, so that they hold every
// answer to the same rule.
package wiretest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/medshare/medshare/shared/core"
)

// Codes is the closed set of error codes a client must handle (ARCHITECTURE §7).
var Codes = []string{
	core.CodeNotFound, core.CodeInvalid, core.CodeUnauthorized, core.CodeForbidden,
	core.CodeViewsExhausted, core.CodeSessionExpired, core.CodeSessionRevoked,
	core.CodeKeyUsed, core.CodeKeyExpired, core.CodeDeviceMismatch, core.CodeConflict,
	core.CodePayloadTooLarge, core.CodeRateLimited, core.CodeUnavailable, core.CodeInternal,
}

// Check returns what is wrong with one answer to a request with method
// (whose body is absent for HEAD), or nil. A 5xx is wrong: the callers feed
// the server a client's input with every dependency up, so a 5xx is a bug.
func Check(method string, status int, header http.Header, body []byte) error {
	id := header.Get("X-Request-Id")
	switch {
	case status >= 500:
		return fmt.Errorf("status %d: a client's input must never cause a 5xx (body %.300q)", status, body)
	case status < 100:
		return fmt.Errorf("status %d is not an HTTP status", status)
	case id == "":
		return fmt.Errorf("status %d without an X-Request-Id header", status)
	case header.Get("X-Content-Type-Options") != "nosniff":
		return fmt.Errorf("status %d without X-Content-Type-Options: nosniff", status)
	}
	if status < 400 || method == http.MethodHead {
		return nil
	}
	code, err := errorCode(body, id)
	if err != nil {
		return fmt.Errorf("status %d: %w (body %.300q)", status, err, body)
	}
	if !slices.Contains(Codes, code) {
		return fmt.Errorf("status %d: code %q is not in the closed set", status, code)
	}
	if ct := header.Get("Content-Type"); ct != "application/json" {
		return fmt.Errorf("status %d: Content-Type %q, want application/json", status, ct)
	}
	return nil
}

// errorCode decodes a refusal's body, which must be exactly
// {"error":{"code","message","request_id"}} with non-empty strings and the
// request id id, and returns its code.
func errorCode(body []byte, id string) (string, error) {
	var e struct {
		Error *struct {
			Code      *string `json:"code"`
			Message   *string `json:"message"`
			RequestID *string `json:"request_id"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return "", fmt.Errorf("the body is not the error shape: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", errors.New("the body holds more than the error object")
	}
	switch {
	case e.Error == nil:
		return "", errors.New(`the body has no "error" object`)
	case e.Error.Code == nil || *e.Error.Code == "":
		return "", errors.New("the error has no code")
	case e.Error.Message == nil || *e.Error.Message == "":
		return "", errors.New("the error has no message")
	case e.Error.RequestID == nil || *e.Error.RequestID != id:
		return "", fmt.Errorf("the error's request_id is not the X-Request-Id %q", id)
	}
	return *e.Error.Code, nil
}
