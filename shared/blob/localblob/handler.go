package localblob

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/httpapi/wire"
)

// httpError is a response the handler sends instead of the object. Its
// message is safe to show: no path, URL, signature or cause.
type httpError struct {
	status  int
	code    string
	message string
}

var (
	errForbidden = &httpError{http.StatusForbidden, core.CodeForbidden, "the url's signature does not match the request"}
	errExpired   = &httpError{http.StatusForbidden, core.CodeForbidden, "the url has expired"}
	errNotFound  = &httpError{http.StatusNotFound, core.CodeNotFound, "no such object"}
	errBadKey    = &httpError{http.StatusBadRequest, core.CodeInvalid, "the object key is malformed"}
)

// internal logs an I/O failure and returns the generic response for it.
func (s *Store) internal(op, key string, err error) *httpError {
	s.log.Error("localblob: "+op, "key", key, "err", err)
	return &httpError{http.StatusInternalServerError, core.CodeInternal, "the blob store failed; try again"}
}

// Handler serves GET, HEAD and PUT of objects with URLs from PresignGet and
// PresignPut. It must receive the requests whose path starts with the base
// URL's path and a slash, with that path in place, e.g. mounted with
// mux.Handle("/blobs/", store.Handler()) for the base URL
// http://127.0.0.1:8080/blobs. Every answer carries X-Request-Id and
// X-Content-Type-Options: nosniff. Errors are JSON
// {"error":{"code","message","request_id"}} with the codes forbidden (403: bad,
// missing or expired signature), invalid_request (400, 405, 411),
// not_found (404), conflict (412: the key was written or deleted before; a
// URL uploads once) and payload_too_large (413).
func (s *Store) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *Store) serveHTTP(w http.ResponseWriter, r *http.Request) {
	// Every answer, object or error, names itself and is never sniffed: the
	// request id is what a client quotes when it reports a refusal.
	id := core.NewID("rq")
	w.Header().Set("X-Request-Id", id)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if herr := s.serve(w, r); herr != nil {
		writeError(w, r, herr, id)
	}
}

func (s *Store) serve(w http.ResponseWriter, r *http.Request) *httpError {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPut:
	default:
		w.Header().Set("Allow", "GET, HEAD, PUT")
		return &httpError{http.StatusMethodNotAllowed, core.CodeInvalid, "method not allowed"}
	}
	key, ok := strings.CutPrefix(r.URL.Path, s.prefix)
	if !ok {
		return errNotFound
	}
	if !ValidKey(key) {
		return errBadKey
	}
	q := r.URL.Query()
	if r.Method == http.MethodPut {
		return s.servePut(w, r, key, q)
	}
	return s.serveGet(w, r, key, q)
}

// single returns the only value of a query parameter.
func single(q url.Values, name string) (string, bool) {
	v := q[name]
	if len(v) != 1 || v[0] == "" {
		return "", false
	}
	return v[0], true
}

// canonicalInt parses a decimal integer written exactly as the store writes
// one (strconv.FormatInt): no sign, no leading zero. The signature covers the
// value, so another spelling would otherwise pass as the signed URL.
func canonicalInt(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && s == strconv.FormatInt(n, 10)
}

// verify checks the signature of a request whose other signed fields are
// given, then its expiry.
func (s *Store) verify(q url.Values, method, key string, length int64, sumHex, contentType string) *httpError {
	expStr, ok1 := single(q, ParamExpires)
	sigHex, ok2 := single(q, ParamSignature)
	if !ok1 || !ok2 {
		return &httpError{http.StatusForbidden, core.CodeForbidden, "the url is not signed"}
	}
	exp, ok := canonicalInt(expStr)
	if !ok {
		return errForbidden
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil || sigHex != hex.EncodeToString(sig) {
		return errForbidden
	}
	want, _ := hex.DecodeString(s.sign(method, key, exp, length, sumHex, contentType))
	if !hmac.Equal(sig, want) {
		return errForbidden
	}
	if !s.now().Before(time.Unix(exp, 0)) {
		return errExpired
	}
	return nil
}

func (s *Store) serveGet(w http.ResponseWriter, r *http.Request, key string, q url.Values) *httpError {
	// HEAD reads what GET reads, so a GET URL allows it.
	if herr := s.verify(q, http.MethodGet, key, 0, "", ""); herr != nil {
		return herr
	}
	f, contentType, offset, err := s.openObject(key)
	if errors.Is(err, fs.ErrNotExist) {
		return errNotFound
	}
	if err != nil {
		return s.internal("open object", key, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return s.internal("stat object", key, err)
	}
	size := fi.Size() - offset
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	h.Set("Cache-Control", "private, no-store")
	// The store serves whatever type was signed: never let a browser run it
	// with the server's origin.
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	if _, err := io.Copy(w, io.NewSectionReader(f, offset, size)); err != nil {
		// The status is sent; the client sees a short body.
		s.log.Warn("localblob: send object", "key", key, "err", err)
	}
	return nil
}

func (s *Store) servePut(w http.ResponseWriter, r *http.Request, key string, q url.Values) *httpError {
	lengthStr, ok1 := single(q, ParamLength)
	sumHex, ok2 := single(q, ParamSHA256)
	if !ok1 || !ok2 {
		return &httpError{http.StatusForbidden, core.CodeForbidden, "the url is not signed for an upload"}
	}
	length, ok := canonicalInt(lengthStr)
	if !ok || length < 0 {
		return errForbidden
	}
	sum, err := hex.DecodeString(sumHex)
	if err != nil || len(sum) != 32 {
		return errForbidden
	}
	types := r.Header.Values("Content-Type")
	if len(types) > 1 {
		return &httpError{http.StatusBadRequest, core.CodeInvalid, "send one Content-Type header"}
	}
	contentType := r.Header.Get("Content-Type")
	// A different content type fails here: it is signed.
	if herr := s.verify(q, http.MethodPut, key, length, sumHex, contentType); herr != nil {
		return herr
	}
	switch {
	case r.ContentLength < 0:
		return &httpError{http.StatusLengthRequired, core.CodeInvalid, "send the body with a Content-Length header"}
	case r.ContentLength > length:
		return &httpError{http.StatusRequestEntityTooLarge, core.CodePayloadTooLarge, "the body is longer than the signed length"}
	case r.ContentLength < length:
		return &httpError{http.StatusBadRequest, core.CodeInvalid, "the body is shorter than the signed length"}
	}
	if sums := r.Header.Values(ChecksumHeader); len(sums) > 0 {
		got, err := base64.StdEncoding.DecodeString(sums[0])
		if len(sums) > 1 || err != nil || !hmac.Equal(got, sum) {
			return &httpError{http.StatusBadRequest, core.CodeInvalid, "the " + ChecksumHeader + " header does not match the signed sha256"}
		}
	}
	if herr := s.writable(key); herr != nil {
		return herr
	}
	if herr := s.put(key, contentType, r.Body, length, sum); herr != nil {
		return herr
	}
	w.Header().Set(ChecksumHeader, base64.StdEncoding.EncodeToString(sum))
	w.WriteHeader(http.StatusOK)
	return nil
}

func writeError(w http.ResponseWriter, r *http.Request, e *httpError, requestID string) {
	b, _ := json.Marshal(wire.Error{Error: wire.ErrorDetail{Code: e.code, Message: e.message, RequestID: requestID}})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(e.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}
