package core

import (
	"errors"
	"net"
	"net/url"
	"strings"
	"unicode/utf8"
)

// NormalizeLegacyURL returns the one form of a legacy image's public URL that the
// server keeps and looks up: scheme https (an http URL names the same
// object), the host in lower case without a default port, the path with its
// escapes decoded and written again canonically, no query (S3 selects an
// object by its path alone) and no fragment. It refuses what names no
// object: another scheme, user information, no host, no path, a path with
// "." or ".." segments (which clients resolve and S3 does not), an escape
// that is not valid or decodes to a control character or invalid UTF-8.
func NormalizeLegacyURL(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("empty")
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] <= ' ' || raw[i] == 0x7f {
			return "", errors.New("holds a space or a control character")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("does not parse as a URL")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", errors.New("must be an https (or http) URL")
	}
	if u.Opaque != "" || u.User != nil {
		return "", errors.New("must be https://host/path, without user information")
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", errors.New("has no host")
	}
	if strings.ContainsAny(host, "%[]") && net.ParseIP(host) == nil {
		return "", errors.New("has a malformed host")
	}
	port := u.Port()
	if port == "443" || (port == "80" && scheme == "http") {
		port = ""
	}
	if port != "" {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	path := u.Path // decoded
	if path == "" || path == "/" {
		return "", errors.New("names no object (no path)")
	}
	if !utf8.ValidString(path) {
		return "", errors.New("its path is not valid UTF-8")
	}
	for _, r := range path {
		if r < 0x20 || r == 0x7f {
			return "", errors.New("its path holds a control character")
		}
	}
	for _, seg := range strings.Split(path[1:], "/") {
		if seg == "." || seg == ".." {
			return "", errors.New(`its path has a "." or ".." segment`)
		}
	}
	out := url.URL{Scheme: "https", Host: host, Path: path}
	return out.String(), nil
}
