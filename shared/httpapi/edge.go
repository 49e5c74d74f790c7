package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/httpapi/strictjson"
	"github.com/medshare/medshare/shared/httpapi/wire"
	"github.com/medshare/medshare/shared/runtime/emf"
)

// MaxBodyBytes caps a request body (ARCHITECTURE §2.10).
const MaxBodyBytes = 64 << 10

// statusOf is the one table from error kind to HTTP status.
var statusOf = map[core.Kind]int{
	core.KindInvalid:      http.StatusBadRequest,
	core.KindUnauthorized: http.StatusUnauthorized,
	core.KindForbidden:    http.StatusForbidden,
	core.KindNotFound:     http.StatusNotFound,
	core.KindConflict:     http.StatusConflict,
	core.KindGone:         http.StatusGone,
	core.KindTooLarge:     http.StatusRequestEntityTooLarge,
	core.KindRateLimited:  http.StatusTooManyRequests,
	core.KindUnavailable:  http.StatusServiceUnavailable,
	core.KindInternal:     http.StatusInternalServerError,
}

// StatusOf returns the HTTP status of an error.
func StatusOf(err error) int { return statusOf[core.KindOf(err)] }

// Handler turns API Gateway HTTP API events into service calls. It runs
// whatever route it is given: the route row carries its handler, so there
// is nothing to look up (a Lambda function hands it its own row, the local
// server each row of Routes).
type Handler struct {
	svc *core.Service
	log *slog.Logger
}

// request is what an operation sees of an event.
type request struct {
	ev     events.APIGatewayV2HTTPRequest
	caller core.Caller
}

// NewHandler builds the edge for svc. log receives one line per request.
func NewHandler(svc *core.Service, log *slog.Logger) *Handler {
	return &Handler{svc: svc, log: log}
}

// Function returns the Lambda handler of one route, for lambda.Start.
func (h *Handler) Function(route Route) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return h.Handle(ctx, route, ev), nil
	}
}

// Handle runs route for the event and always returns a response with the
// status in it; it never panics on bad input. A route that is no row of the
// table (it has no handler) answers not found.
func (h *Handler) Handle(ctx context.Context, route Route, ev events.APIGatewayV2HTTPRequest) (resp events.APIGatewayV2HTTPResponse) {
	start := time.Now()
	reqID := ev.RequestContext.RequestID
	if reqID == "" {
		reqID = core.NewID("rq")
		ev.RequestContext.RequestID = reqID
	}
	var err error
	defer func() {
		if p := recover(); p != nil {
			err = core.ErrInternal(fmt.Errorf("panic: %v", p), "internal error")
			resp = errorResponse(err, reqID)
		}
		h.logRequest(ctx, route.Op, reqID, resp.StatusCode, err, time.Since(start))
	}()

	if route.run == nil {
		err = core.ErrNotFound("no such operation")
		return errorResponse(err, reqID)
	}
	r := request{ev: ev}
	// Who may call comes before anything about the input: a role that may
	// never call the route learns 403 and nothing about its request. The
	// service checks the role again (ARCHITECTURE §2.1).
	if !route.Public() {
		r.caller, err = callerOf(ev)
		if err == nil && !route.Allows(r.caller.Role) {
			err = core.ErrForbidden("role %s may not call this operation", r.caller.Role)
		}
		if err != nil {
			return errorResponse(err, reqID)
		}
	}
	if err = checkShape(route, ev); err != nil {
		return errorResponse(err, reqID)
	}
	status, body, err := route.run(h, ctx, r)
	if err != nil {
		return errorResponse(err, reqID)
	}
	return jsonResponse(status, body, reqID)
}

// logRequest writes one structured line per request: ids, operation,
// outcome and latency, never bodies, keys, PHI or URLs. The line is also a
// CloudWatch Embedded Metric Format record, so CloudWatch turns it into the
// Requests and Latency metrics per operation and outcome with no agent and no
// API call.
func (h *Handler) logRequest(ctx context.Context, op, reqID string, status int, err error, d time.Duration) {
	latency := float64(d.Microseconds()) / 1000
	outcome := outcomeOf(status)
	attrs := []slog.Attr{
		slog.String("op", op),
		slog.String("request_id", reqID),
		slog.Int("status", status),
		slog.Float64("latency_ms", latency),
		slog.String("outcome", outcome),
	}
	level := slog.LevelInfo
	if err != nil {
		attrs = append(attrs, slog.String("code", core.CodeOf(err)))
		var e *core.Error
		switch {
		case status >= 500:
			level = slog.LevelError
			// Details of internal errors are logged, never returned. Adapters keep
			// keys, PHI and URLs out of their error messages.
			attrs = append(attrs, slog.String("error", err.Error()))
		case errors.As(err, &e) && e.Err != nil:
			// A refusal that hides a failure behind it (a denial whose audit
			// record could not be written still answers 404): log the failure.
			level = slog.LevelWarn
			attrs = append(attrs, slog.String("error", err.Error()))
		}
	}
	md := requestMetrics // the shared parts stay shared: no copy per request
	md.Timestamp = time.Now().UnixMilli()
	attrs = append(attrs,
		slog.Any(emf.Key, md),
		slog.String("Operation", op),
		slog.String("Outcome", outcome),
		slog.Int("Requests", 1),
		slog.Float64("Latency", latency),
	)
	h.log.LogAttrs(ctx, level, "request", attrs...)
}

// MetricsNamespace is the CloudWatch namespace of the request metrics.
const MetricsNamespace = emf.Namespace

func outcomeOf(status int) string {
	switch {
	case status >= 500:
		return "error"
	case status >= 400:
		return "rejected"
	}
	return "success"
}

func emfMetadata(now time.Time) emf.Metadata {
	return emf.New(now, [][]string{{"Operation", "Outcome"}, {"Operation"}},
		emf.Metric{Name: "Requests", Unit: "Count"}, emf.Metric{Name: "Latency", Unit: "Milliseconds"})
}

// requestMetrics is the EMF metadata of every request line but its time,
// built once.
var requestMetrics = emfMetadata(time.Time{})

// Claims that the JWT authorizer passes in the request context.
const (
	ClaimSubject = "sub"
	ClaimGroups  = "cognito:groups"
)

// callerOf reads the caller from the JWT authorizer's claims, exactly as API
// Gateway passes them (every claim a string; an array claim as "[a b]").
// The authorizer vouches for the token, not for what it names: a subject
// that is not a valid id or is reserved for the service's own actors is 401,
// and a token naming the system role, or no role, or two, is 403.
func callerOf(ev events.APIGatewayV2HTTPRequest) (core.Caller, error) {
	a := ev.RequestContext.Authorizer
	if a == nil || a.JWT == nil || a.JWT.Claims[ClaimSubject] == "" {
		return core.Caller{}, core.ErrUnauthorized("authentication required")
	}
	claims := a.JWT.Claims
	if !core.ValidExternalID(claims[ClaimSubject]) {
		return core.Caller{}, core.ErrUnauthorized("token subject is not a valid id")
	}
	if core.ReservedID(claims[ClaimSubject]) {
		return core.Caller{}, core.ErrUnauthorized("token subject is reserved for the service")
	}
	var role core.Role
	for _, g := range ParseGroups(claims[ClaimGroups]) {
		if strings.EqualFold(g, string(core.RoleSystem)) {
			return core.Caller{}, core.ErrForbidden("the token names a role reserved for the service")
		}
		if r := core.Role(g); r.Valid() {
			if role != "" {
				return core.Caller{}, core.ErrForbidden("the token carries more than one role")
			}
			role = r
		}
	}
	if role == "" {
		return core.Caller{}, core.ErrForbidden("the token carries no role")
	}
	return core.Caller{
		ID:        claims[ClaimSubject],
		Role:      role,
		SourceIP:  ev.RequestContext.HTTP.SourceIP,
		UserAgent: ev.RequestContext.HTTP.UserAgent,
		RequestID: ev.RequestContext.RequestID,
	}, nil
}

// ParseGroups parses the groups claim as API Gateway renders it: "[a b]", or a
// JSON array, or a single name.
func ParseGroups(v string) []string {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "[\"") {
		var out []string
		if json.Unmarshal([]byte(v), &out) == nil {
			return out
		}
	}
	v = strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")
	return strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' })
}

// FormatGroups renders groups the way API Gateway passes an array claim.
func FormatGroups(groups []string) string { return "[" + strings.Join(groups, " ") + "]" }

func errorResponse(err error, reqID string) events.APIGatewayV2HTTPResponse {
	status := StatusOf(err)
	msg := "internal error"
	var e *core.Error
	if errors.As(err, &e) && status < 500 {
		msg = e.Message
	} else if status == http.StatusServiceUnavailable {
		msg = "a dependency is unavailable; retry later"
	}
	resp := jsonResponse(status, wire.Error{Error: wire.ErrorDetail{Code: core.CodeOf(err), Message: msg, RequestID: reqID}}, reqID)
	if d := core.RetryAfterOf(err); d > 0 && status == http.StatusTooManyRequests {
		// Whole seconds, rounded up: never an invitation to retry too early.
		resp.Headers["Retry-After"] = strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
	}
	return resp
}

func jsonResponse(status int, body any, reqID string) events.APIGatewayV2HTTPResponse {
	headers := map[string]string{
		"Content-Type":           "application/json",
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
		"X-Request-Id":           reqID,
	}
	if body == nil {
		return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: headers}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // URLs keep their '&'; the API never serves HTML
	err := enc.Encode(body)
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"internal error","request_id":"` + reqID + `"}}`)
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: headers, Body: string(b)}
}

// checkShape checks what a route takes besides its body's content: query
// parameters only on paged routes, and no body on a route that takes none.
func checkShape(route Route, ev events.APIGatewayV2HTTPRequest) error {
	if !route.Paged && len(route.Query) == 0 && len(ev.QueryStringParameters) > 0 {
		return core.ErrInvalid("this operation takes no query parameters")
	}
	for k := range ev.QueryStringParameters {
		if !route.takesQuery(k) {
			return core.ErrInvalid("unknown query parameter %q", k)
		}
	}
	if route.Body == BodyNone && ev.Body != "" {
		if len(ev.Body) > MaxBodyBytes {
			return core.ErrTooLarge("body must be at most %d bytes", MaxBodyBytes)
		}
		return core.ErrInvalid("this operation takes no body")
	}
	return nil
}

// decodeJSON decodes the body strictly: a size limit, a body, the media type
// application/json (with at most a UTF-8 charset), then exactly one JSON
// object under strictjson.Unmarshal's rules: names match exactly (case
// included), a name given twice is refused, strings are valid UTF-8, and
// unknown names are refused.
func decodeJSON(ev events.APIGatewayV2HTTPRequest, v any) error {
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return core.ErrInvalid("body is not valid base64")
		}
		body = b
	}
	if len(body) > MaxBodyBytes {
		return core.ErrTooLarge("body must be at most %d bytes", MaxBodyBytes)
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return core.ErrInvalid("a JSON body is required")
	}
	if err := checkContentType(header(ev, "content-type")); err != nil {
		return err
	}
	if trimmed[0] != '{' { // null would decode to an empty request
		return core.ErrInvalid("body must be a JSON object")
	}
	if err := strictjson.Unmarshal(body, v); err != nil {
		var unsupported *strictjson.UnsupportedTypeError
		if errors.As(err, &unsupported) {
			return core.ErrInternal(err, "decode request")
		}
		return core.ErrInvalid("%s", err)
	}
	return nil
}

// checkContentType accepts exactly the media type application/json (type and
// subtype in any case, RFC 9110 §8.3.1), with no parameter but an optional
// charset=utf-8: JSON is UTF-8 (RFC 8259 §8.1), and a body declared as
// anything else was not meant for this API.
func checkContentType(ct string) error {
	const want = "content-type must be application/json"
	if ct == "" {
		return core.ErrInvalid("%s; the request has none", want)
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return core.ErrInvalid("%s", want)
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return core.ErrInvalid("%s, with no parameter but charset=utf-8", want)
		}
	}
	return nil
}

// header returns a request header; API Gateway lowercases header names.
func header(ev events.APIGatewayV2HTTPRequest, name string) string {
	if v, ok := ev.Headers[name]; ok {
		return v
	}
	for k, v := range ev.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// pageParam reads limit and cursor; checkShape has refused every query
// parameter the route does not take.
func pageParam(ev events.APIGatewayV2HTTPRequest) (core.Page, error) {
	var p core.Page
	if v, ok := ev.QueryStringParameters["limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || v != strconv.Itoa(n) || n < 1 || n > core.MaxPageLimit {
			return p, core.ErrInvalid("limit must be an integer between 1 and %d", core.MaxPageLimit)
		}
		p.Limit = n
	}
	p.Cursor = ev.QueryStringParameters["cursor"]
	if len(p.Cursor) > 1024 {
		return p, core.ErrInvalid("cursor is malformed")
	}
	return p, nil
}
