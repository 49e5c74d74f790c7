// Package localserver serves the HTTP API on one machine. It plays API
// Gateway's part: it matches the route table, validates the bearer token the
// way the JWT authorizer does, and hands the very same payload 2.0 event to the
// handler that the Lambda functions run.
package localserver

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/httpapi"
	"github.com/medshare/medshare/shared/runtime/devauth"
)

// Invoker runs one route for an event: the in-process handler, or the
// function deployed for the route's operation elsewhere (tests put Lambda
// functions running under the runtime interface emulator behind it).
type Invoker interface {
	Handle(ctx context.Context, route httpapi.Route, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse
}

// Options configure the server.
type Options struct {
	Handler Invoker
	Auth    *devauth.Authority
	// Blobs serves the embedded blob store's presigned URLs under BlobPrefix.
	Blobs      http.Handler
	BlobPrefix string // e.g. "/blobs/"
	// OpenAPI is served at /openapi.yaml.
	OpenAPI []byte
	Log     *slog.Logger
	// Limits are the rate limits per caller (nil: none).
	Limits *Limits
}

var paramRE = regexp.MustCompile(`\{([a-z_]+)\}`)

// New returns the server's HTTP handler.
func New(o Options) http.Handler {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	routes := httpapi.Routes()
	for _, rt := range routes {
		h := &routeHandler{o: o, route: rt, routeKey: rt.RouteKey()}
		for _, m := range paramRE.FindAllStringSubmatch(rt.Path, -1) {
			h.params = append(h.params, m[1])
		}
		mux.Handle(rt.Method+" "+rt.Path, h)
	}
	// What carries no token is limited by the client's address.
	if o.Blobs != nil {
		mux.Handle(o.BlobPrefix, o.Limits.limitIP(o.Blobs, o.Log))
	}
	if o.OpenAPI != nil {
		mux.Handle("GET /openapi.yaml", o.Limits.limitIP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/yaml")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.Header().Set("X-Request-Id", core.NewID("rq"))
			w.Write(o.OpenAPI)
		}), o.Log))
	}
	mux.Handle("/", o.Limits.limitIP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, rt := range routes {
			if pathMatches(rt.Path, r.URL.Path) {
				writeError(w, http.StatusMethodNotAllowed, core.CodeInvalid, "method not allowed on this path")
				return
			}
		}
		writeError(w, http.StatusNotFound, core.CodeNotFound, "no such route")
	}), o.Log))
	return withAnswerHeaders(mux)
}

// withAnswerHeaders gives every answer nosniff and a request id, including
// the ones no handler of ours writes: ServeMux's own redirects of unclean
// paths (`/v1//photos`, `/blobs`). A handler that has a request id of its
// own replaces this one.
func withAnswerHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Request-Id", core.NewID("rq"))
		next.ServeHTTP(w, r)
	})
}

// pathMatches reports whether path fits a route pattern such as
// "/v1/photos/{photo_id}": each {param} is exactly one non-empty segment.
func pathMatches(pattern, path string) bool {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return false
	}
	for i, p := range ps {
		if paramRE.MatchString(p) {
			if xs[i] == "" {
				return false
			}
		} else if p != xs[i] {
			return false
		}
	}
	return true
}

type routeHandler struct {
	o     Options
	route httpapi.Route
	// Of the route, computed once: its key and the names of its path
	// parameters.
	routeKey string
	params   []string
}

// writeError answers what the gateway itself refuses (401, 404, 405, 413),
// with a request id of its own, as API Gateway gives one, and the headers of
// every answer of the API.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	id := core.NewID("rq")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Request-Id", id)
	w.WriteHeader(status)
	io.WriteString(w, `{"error":{"code":"`+code+`","message":"`+msg+`","request_id":"`+id+`"}}`)
}

func (h *routeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// A public route is limited by address before any work; an
	// authenticated one by its subject once the token is verified, or by
	// address when the token is refused.
	if h.route.Public() && !h.o.Limits.allowIP(w, r, h.o.Log) {
		return
	}
	// The request id withAnswerHeaders gave the answer is the event's: one
	// id per request, from the log line to the audit record.
	ev, status, msg := h.event(r, w.Header().Get("X-Request-Id"))
	switch {
	case h.route.Public():
	case status == http.StatusUnauthorized:
		if !h.o.Limits.allowIP(w, r, h.o.Log) {
			return
		}
	default:
		if !h.o.Limits.allowUser(w, subject(ev), h.route.Op, h.o.Log) {
			return
		}
	}
	if status != 0 {
		code := core.CodeInvalid
		switch status {
		case http.StatusUnauthorized:
			code = core.CodeUnauthorized
			w.Header().Set("WWW-Authenticate", `Bearer realm="medshare"`)
		case http.StatusRequestEntityTooLarge:
			code = core.CodePayloadTooLarge
		}
		writeError(w, status, code, msg)
		return
	}
	resp := h.o.Handler.Handle(r.Context(), h.route, ev)
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(resp.StatusCode)
	if resp.IsBase64Encoded {
		if b, err := base64.StdEncoding.DecodeString(resp.Body); err == nil {
			w.Write(b)
			return
		}
	}
	io.WriteString(w, resp.Body)
}

// event builds the payload 2.0 event API Gateway would send; a non-zero status
// is an answer the gateway itself would give (401 from the authorizer, 413).
func (h *routeHandler) event(r *http.Request, requestID string) (events.APIGatewayV2HTTPRequest, int, string) {
	now := time.Now().UTC()
	if requestID == "" {
		requestID = core.NewID("rq")
	}
	ev := events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       h.routeKey,
		RawPath:        r.URL.EscapedPath(),
		RawQueryString: r.URL.RawQuery,
		Headers:        map[string]string{},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:   h.routeKey,
			AccountID:  "000000000000",
			Stage:      "$default",
			RequestID:  requestID,
			APIID:      "local",
			DomainName: r.Host,
			Time:       now.Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:  now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP(r.RemoteAddr),
				UserAgent: r.UserAgent(),
			},
		},
	}
	for k, v := range r.Header {
		ev.Headers[strings.ToLower(k)] = strings.Join(v, ",")
	}
	if q := r.URL.Query(); len(q) > 0 {
		ev.QueryStringParameters = make(map[string]string, len(q))
		for k, v := range q {
			ev.QueryStringParameters[k] = strings.Join(v, ",")
		}
	}
	if len(h.params) > 0 {
		ev.PathParameters = make(map[string]string, len(h.params))
		for _, n := range h.params {
			ev.PathParameters[n] = r.PathValue(n)
		}
	}
	if !h.route.Public() {
		// Two Authorization headers are refused rather than one of them
		// picked: a proxy and the server must never disagree on who calls.
		auth := r.Header.Values("Authorization")
		tok, ok := "", len(auth) == 1
		if ok {
			tok, ok = devauth.BearerToken(auth[0])
		}
		if !ok {
			return ev, http.StatusUnauthorized, "a bearer token is required"
		}
		claims, err := h.o.Auth.Verify(tok)
		if err != nil {
			return ev, http.StatusUnauthorized, "the bearer token is invalid or expired"
		}
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims, Scopes: nil},
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, httpapi.MaxBodyBytes+1))
	if err != nil {
		return ev, http.StatusBadRequest, "could not read the body"
	}
	if len(body) > httpapi.MaxBodyBytes {
		return ev, http.StatusRequestEntityTooLarge, "body too large"
	}
	if utf8.Valid(body) {
		ev.Body = string(body)
	} else {
		ev.Body = base64.StdEncoding.EncodeToString(body)
		ev.IsBase64Encoded = true
	}
	return ev, 0, ""
}

// subject is the verified token's subject of an event.
func subject(ev events.APIGatewayV2HTTPRequest) string {
	if a := ev.RequestContext.Authorizer; a != nil && a.JWT != nil {
		return a.JWT.Claims["sub"]
	}
	return ""
}

func sourceIP(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	return host
}
