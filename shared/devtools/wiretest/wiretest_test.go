package wiretest

import (
	"net/http"
	"testing"
)

// TestCheck: the answers the rule allows pass, and each way of breaking it
// is caught.
func TestCheck(t *testing.T) {
	good := func() http.Header {
		return http.Header{"X-Request-Id": {"rq_1"}, "X-Content-Type-Options": {"nosniff"}, "Content-Type": {"application/json"}}
	}
	without := func(k string) http.Header { h := good(); h.Del(k); return h }
	with := func(k, v string) http.Header { h := good(); h.Set(k, v); return h }
	const refusal = `{"error":{"code":"not_found","message":"photo not found","request_id":"rq_1"}}`
	tests := []struct {
		name   string
		method string
		status int
		header http.Header
		body   string
		ok     bool
	}{
		{"success", "GET", 200, good(), `{"items":[]}`, true},
		{"refusal", "POST", 404, good(), refusal, true},
		{"refusal to a HEAD has no body", "HEAD", 403, good(), "", true},
		{"redirect", "GET", 307, with("Content-Type", "text/html"), "", true},
		{"5xx", "GET", 500, good(), `{"error":{"code":"internal","message":"internal error","request_id":"rq_1"}}`, false},
		{"503", "GET", 503, good(), `{"error":{"code":"unavailable","message":"retry","request_id":"rq_1"}}`, false},
		{"no request id", "GET", 200, without("X-Request-Id"), `{}`, false},
		{"no nosniff", "GET", 404, without("X-Content-Type-Options"), refusal, false},
		{"sniffable", "GET", 200, with("X-Content-Type-Options", "sniff"), `{}`, false},
		{"not JSON", "GET", 404, good(), `not found`, false},
		{"another content type", "GET", 404, with("Content-Type", "text/plain"), refusal, false},
		{"empty body", "POST", 400, good(), ``, false},
		{"no error object", "GET", 404, good(), `{"code":"not_found"}`, false},
		{"an extra member", "GET", 404, good(), `{"error":{"code":"not_found","message":"m","request_id":"rq_1","detail":"x"}}`, false},
		{"an extra top-level member", "GET", 404, good(), `{"error":{"code":"not_found","message":"m","request_id":"rq_1"},"x":1}`, false},
		{"two values", "GET", 404, good(), refusal + `{}`, false},
		{"no code", "GET", 404, good(), `{"error":{"message":"m","request_id":"rq_1"}}`, false},
		{"empty message", "GET", 404, good(), `{"error":{"code":"not_found","message":"","request_id":"rq_1"}}`, false},
		{"no request id in the body", "GET", 404, good(), `{"error":{"code":"not_found","message":"m"}}`, false},
		{"another request id", "GET", 404, good(), `{"error":{"code":"not_found","message":"m","request_id":"rq_2"}}`, false},
		{"a code outside the set", "GET", 404, good(), `{"error":{"code":"missing","message":"m","request_id":"rq_1"}}`, false},
		{"a code of another type", "GET", 404, good(), `{"error":{"code":404,"message":"m","request_id":"rq_1"}}`, false},
		{"not a status", "GET", 42, good(), ``, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.method, tt.status, tt.header, []byte(tt.body))
			if (err == nil) != tt.ok {
				t.Errorf("Check(%s %d %v %s): got %v, want ok=%v", tt.method, tt.status, tt.header, tt.body, err, tt.ok)
			}
		})
	}
}
