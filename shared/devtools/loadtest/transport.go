package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/medshare/medshare/shared/httpapi"
)

// ErrNotLoopback is returned for any URL, redirect or connection whose host
// is not a loopback address. The load test only ever talks to this machine.
var ErrNotLoopback = errors.New("not a loopback address (only 127.0.0.0/8, ::1 and localhost are allowed)")

// ErrBudget is returned once the run has sent as many requests as its plan
// allows: the engine is bounded in requests, not only in time.
var ErrBudget = errors.New("request budget exhausted")

// CheckURL accepts an http or https URL whose host is localhost or a loopback
// IP literal (127.0.0.0/8, ::1). Other names are refused without a DNS look-up.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("url %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("url %q: the scheme must be http or https", raw)
	}
	if u.User != nil {
		return fmt.Errorf("url %q: user information is not allowed", raw)
	}
	if err := checkHost(u.Hostname()); err != nil {
		return fmt.Errorf("url %q: %w", raw, err)
	}
	return nil
}

func checkHost(host string) error {
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Unmap().IsLoopback() {
		return fmt.Errorf("host %q: %w", host, ErrNotLoopback)
	}
	return nil
}

// dialLoopbackOnly runs after name resolution, on the address about to be
// connected: even "localhost" must resolve to a loopback address.
func dialLoopbackOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("dial %q: %w", address, ErrNotLoopback)
	}
	if a, err := netip.ParseAddr(host); err != nil || !a.Unmap().IsLoopback() {
		return fmt.Errorf("dial %q: %w", address, ErrNotLoopback)
	}
	return nil
}

// trace is what the transport learned about one request; the engine puts one
// in the request's context to correlate a response with its session.
type trace struct {
	sent       bool // the request went on the wire
	start, end time.Time
	status     int // 0 when no response came back
	code       string
	err        error
}

// unknown reports a request that was sent but got no answer: the server may
// or may not have acted on it.
func (t *trace) unknown() bool { return t.sent && t.status == 0 }

type traceKey struct{}

func withTrace(ctx context.Context) (context.Context, *trace) {
	t := &trace{}
	return context.WithValue(ctx, traceKey{}, t), t
}

func traceFrom(ctx context.Context) *trace {
	t, _ := ctx.Value(traceKey{}).(*trace)
	return t
}

// transport sends every request of a run: it refuses hosts that are not
// loopback, bounds the requests in flight and in total, applies a timeout
// once a request has its slot, reads the whole answer and records it.
type transport struct {
	base    *http.Transport
	sem     chan struct{}
	timeout time.Duration
	budget  atomic.Int64 // requests left
	refused atomic.Int64 // requests refused by the budget
	stats   *stats
}

func newTransport(concurrency int, timeout time.Duration, budget int64, st *stats) *transport {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: dialLoopbackOnly}
	t := &transport{
		base: &http.Transport{
			Proxy:               nil, // never through a proxy, whatever the environment says
			DialContext:         d.DialContext,
			MaxIdleConns:        2 * concurrency,
			MaxIdleConnsPerHost: 2 * concurrency,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		},
		sem:     make(chan struct{}, concurrency),
		timeout: timeout,
		stats:   st,
	}
	t.budget.Store(budget)
	return t
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	refuse := func(err error) (*http.Response, error) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	if err := checkHost(req.URL.Hostname()); err != nil {
		return refuse(fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(), err))
	}
	if t.budget.Add(-1) < 0 {
		t.refused.Add(1)
		return refuse(ErrBudget)
	}
	select {
	case t.sem <- struct{}{}:
	case <-req.Context().Done():
		return refuse(req.Context().Err())
	}
	defer func() { <-t.sem }()
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	defer cancel()

	op := classify(req.Method, req.URL.Path)
	tr := traceFrom(req.Context())
	start := time.Now()
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	var body []byte
	if err == nil {
		body, err = io.ReadAll(io.LimitReader(resp.Body, 256<<20))
		resp.Body.Close()
	}
	end := time.Now()
	if err != nil {
		t.stats.record(op, start, end, 0, "")
		if tr != nil {
			*tr = trace{sent: true, start: start, end: end, err: err}
		}
		return nil, err
	}
	var code string
	if resp.StatusCode >= 400 {
		code = errorCode(body)
	}
	t.stats.record(op, start, end, resp.StatusCode, code)
	if tr != nil {
		*tr = trace{sent: true, start: start, end: end, status: resp.StatusCode, code: code}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}

func errorCode(body []byte) string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	return e.Error.Code
}

var paramRE = regexp.MustCompile(`^\{[a-z_]+\}$`)

// classify names a request by the route table's operation, so that the
// figures use the same names as the server's logs and functions.
func classify(method, path string) string {
	if strings.HasPrefix(path, "/blobs/") {
		if method == http.MethodGet {
			return "blob-get"
		}
		return "blob-" + strings.ToLower(method)
	}
	xs := strings.Split(path, "/")
	for _, r := range httpapi.Routes() {
		if r.Method != method {
			continue
		}
		ps := strings.Split(r.Path, "/")
		if len(ps) != len(xs) {
			continue
		}
		ok := true
		for i, p := range ps {
			if paramRE.MatchString(p) {
				ok = xs[i] != ""
			} else {
				ok = p == xs[i]
			}
			if !ok {
				break
			}
		}
		if ok {
			return r.Op
		}
	}
	return "other " + method
}
