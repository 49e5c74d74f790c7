package localserver

import (
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/runtime/ratelimit"
)

// Limits are the server's rate limits per caller. A nil *Limits, or a nil
// field, limits nothing.
type Limits struct {
	// User limits authenticated requests by their token's subject.
	User *ratelimit.Keyed
	// IP limits, by the client's address, what carries no valid token: the
	// public routes (/health), /openapi.yaml, the blob URLs, unknown paths
	// and the requests refused with 401. IPv6 clients are counted per /64,
	// the block one subscriber usually gets.
	IP *ratelimit.Keyed
	// LimitLoopback also limits loopback clients by IP. They are exempt by
	// default: they are this machine (the load test, a health probe), and a
	// reverse proxy on it would make every client one loopback address.
	LimitLoopback bool
}

// ipKey is the bucket of a connection's remote address; ok is false for a
// loopback client that is exempt, or an address that does not parse (which
// net/http never gives).
func (l *Limits) ipKey(remoteAddr string) (key string, ok bool) {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return "", false
	}
	a := ap.Addr().Unmap()
	if a.IsLoopback() && !l.LimitLoopback {
		return "", false
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String(), true
	}
	return a.String(), true
}

// allowIP takes a token from the client address's bucket, or answers 429
// and returns false.
func (l *Limits) allowIP(w http.ResponseWriter, r *http.Request, log *slog.Logger) bool {
	if l == nil || l.IP == nil {
		return true
	}
	key, ok := l.ipKey(r.RemoteAddr)
	if !ok {
		return true
	}
	d := l.IP.Allow(key)
	if d.OK {
		return true
	}
	if d.First {
		// The address is what an operator needs to act; it is not PHI.
		log.Warn("rate limited", "by", "ip", "ip", key, "method", r.Method, "path_prefix", pathPrefix(r.URL.Path))
	}
	tooMany(w, d)
	return false
}

// allowUser takes a token from the subject's bucket, or answers 429 and
// returns false.
func (l *Limits) allowUser(w http.ResponseWriter, subject, op string, log *slog.Logger) bool {
	if l == nil || l.User == nil {
		return true
	}
	d := l.User.Allow(subject)
	if d.OK {
		return true
	}
	if d.First {
		log.Warn("rate limited", "by", "user", "subject", subject, "op", op)
	}
	tooMany(w, d)
	return false
}

// LimitIP wraps next in the limit by client address, as the server wraps
// what carries no token (blob URLs, the OpenAPI document, unknown paths):
// for the answers of a handler in front of the server (the portal's files).
// A nil Limits, or one without an address limit, returns next.
func (l *Limits) LimitIP(next http.Handler, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return l.limitIP(next, log)
}

// limitIP wraps what carries no token (blob URLs, the OpenAPI document,
// unknown paths) in the IP limit.
func (l *Limits) limitIP(next http.Handler, log *slog.Logger) http.Handler {
	if l == nil || l.IP == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l.allowIP(w, r, log) {
			next.ServeHTTP(w, r)
		}
	})
}

// tooMany answers 429 rate_limited in the documented shape.
func tooMany(w http.ResponseWriter, d ratelimit.Decision) {
	w.Header().Set("Retry-After", strconv.FormatInt(int64(d.RetryAfter.Seconds()), 10))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	writeError(w, http.StatusTooManyRequests, core.CodeRateLimited, "too many requests; retry after the time in the Retry-After header")
}

// pathPrefix is the first segment of a path, for logs: blob and API paths
// carry ids and signatures that logs must not.
func pathPrefix(p string) string {
	for i := 1; i < len(p); i++ {
		if p[i] == '/' {
			return p[:i+1]
		}
	}
	return p
}
