// Package httplegacy is a core.LegacySource that reads the legacy objects
// over plain HTTP(S) GET and HEAD, from a base URL under which each key is a
// path: a public bucket's own URLs, a CDN in front of it, or, for the
// embedded runtime and its tests, a directory served by any web server. It
// needs no credentials and never writes.
package httplegacy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/medshare/medshare/shared/core"
)

var _ core.LegacySource = (*Source)(nil)

// DefaultTimeout bounds one request's headers; the body of a large object
// streams for as long as it takes.
const DefaultTimeout = 30 * time.Second

// Source reads objects under a base URL.
type Source struct {
	base   *url.URL
	client *http.Client
}

// New returns the source of objects under baseURL (http or https, with or
// without a trailing slash); client nil uses one with DefaultTimeout for the
// answer's headers and at most three redirects.
func New(baseURL string, client *http.Client) (*Source, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("legacy source %q: want an http or https base URL without user, query or fragment", baseURL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		u.RawPath = ""
	}
	if client == nil {
		client = &http.Client{
			Transport: &http.Transport{
				Proxy:                 http.ProxyFromEnvironment,
				ResponseHeaderTimeout: DefaultTimeout,
				TLSHandshakeTimeout:   DefaultTimeout,
				MaxIdleConnsPerHost:   64,
			},
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 3 {
					return errors.New("more than 3 redirects")
				}
				return nil
			},
		}
	}
	return &Source{base: u, client: client}, nil
}

// URL returns the URL of key: the base followed by the key's segments, each
// escaped.
func (s *Source) URL(key string) string {
	segs := strings.Split(key, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return s.base.String() + strings.Join(segs, "/")
}

func checkKey(key string) error {
	if key == "" || len(key) > 1024 || strings.HasPrefix(key, "/") {
		return core.ErrInvalid("legacy object key must be 1 to 1024 bytes, not starting with /")
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "." || seg == ".." {
			return core.ErrInvalid("legacy object key has a . or .. segment")
		}
	}
	return nil
}

// Ping does nothing: a web server's answer for the base URL itself (a
// listing, 403, 404) says nothing about its objects.
func (s *Source) Ping(context.Context) error { return nil }

// Stat sends a HEAD of the object.
func (s *Source) Stat(ctx context.Context, key string) (core.LegacyObject, error) {
	if err := checkKey(key); err != nil {
		return core.LegacyObject{}, err
	}
	resp, err := s.do(ctx, http.MethodHead, key, 0)
	if err != nil {
		return core.LegacyObject{}, err
	}
	resp.Body.Close()
	if resp.ContentLength < 0 {
		return core.LegacyObject{}, core.ErrUnavailable(nil, "head legacy object %s: the answer has no Content-Length", key)
	}
	return core.LegacyObject{Size: resp.ContentLength, ContentType: resp.Header.Get("Content-Type")}, nil
}

// Open sends a GET of the object, with a Range of its first limit bytes when
// limit > 0. A server that ignores the range still gives no more than limit
// bytes to the reader.
func (s *Source) Open(ctx context.Context, key string, limit int64) (io.ReadCloser, core.LegacyObject, error) {
	if err := checkKey(key); err != nil {
		return nil, core.LegacyObject{}, err
	}
	resp, err := s.do(ctx, http.MethodGet, key, limit)
	if err != nil {
		return nil, core.LegacyObject{}, err
	}
	var contentRange string
	if resp.StatusCode == http.StatusPartialContent {
		contentRange = resp.Header.Get("Content-Range")
	}
	body, obj := core.OpenedLegacyObject(resp.Body, resp.ContentLength, contentRange, resp.Header.Get("Content-Type"), limit)
	return body, obj, nil
}

// do sends one request and classifies its answer: 2xx is the answer, 404
// and 410 are KindNotFound (a dead URL), anything else KindUnavailable (a
// retry may help: a public bucket made private answers 403 to every key,
// and that is not a dead URL).
func (s *Source) do(ctx context.Context, method, key string, limit int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.URL(key), nil)
	if err != nil {
		return nil, core.ErrInvalid("legacy object key %s makes no URL", key)
	}
	if limit > 0 {
		req.Header.Set("Range", "bytes=0-"+strconv.FormatInt(limit-1, 10))
	}
	req.Header.Set("User-Agent", "medshare-migrate")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, core.ErrUnavailable(err, "%s legacy object %s", strings.ToLower(method), key)
	}
	switch {
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusPartialContent:
		return resp, nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		resp.Body.Close()
		return nil, core.ErrNotFound("legacy object %s not found", key)
	}
	resp.Body.Close()
	return nil, core.ErrUnavailable(fmt.Errorf("status %d", resp.StatusCode), "%s legacy object %s", strings.ToLower(method), key)
}
