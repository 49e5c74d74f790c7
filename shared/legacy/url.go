package legacy

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode/utf8"
)

// The reasons a line is not migrated (the summary's failed_by_reason, the
// migration function's answer). They are stable: operators' scripts read
// them.
const (
	// ReasonMalformed: the line is not a valid image line (LineError).
	ReasonMalformed = "malformed"
	// ReasonOutsideSource: the URL is not under the legacy source's URL
	// prefix, so it names no object the migration can read.
	ReasonOutsideSource = "url_outside_legacy_source"
	// ReasonUnknownAppointment: the clinic has no appointment with the
	// line's id.
	ReasonUnknownAppointment = "unknown_appointment"
	// ReasonSenderNotParticipant: the sender takes no part in the
	// appointment.
	ReasonSenderNotParticipant = "sender_not_participant"
	// ReasonDeadURL: the legacy source has no object at the URL (404).
	ReasonDeadURL = "dead_url"
	// ReasonSizeMismatch: the object's size is not the line's.
	ReasonSizeMismatch = "size_mismatch"
	// ReasonChecksumMismatch: the object's SHA-256 is not the line's.
	ReasonChecksumMismatch = "checksum_mismatch"
	// ReasonUnsupportedType: neither the line nor the object names an
	// image type chat images may have, and its bytes are none either.
	ReasonUnsupportedType = "unsupported_content_type"
	// ReasonTooLarge: the object is larger than MaxSize.
	ReasonTooLarge = "too_large"
	// ReasonConflict: another line imported the same image (same clinic,
	// appointment and URL) declaring another size or SHA-256, or the
	// appointment's participants changed while it was imported.
	ReasonConflict = "conflict"
	// ReasonUnavailable: the source or the store kept failing; running the
	// migration again resumes the line.
	ReasonUnavailable = "unavailable"
	// ReasonNotMigrated (verify only): the line's image is not in private
	// storage, or not ready, while its legacy object is still there.
	ReasonNotMigrated = "not_migrated"
	// ReasonObjectMismatch (verify only): the private object's bytes are
	// not the record's (size or SHA-256).
	ReasonObjectMismatch = "object_mismatch"
)

// Reasons lists every reason.
var Reasons = []string{ReasonMalformed, ReasonOutsideSource, ReasonUnknownAppointment, ReasonSenderNotParticipant,
	ReasonDeadURL, ReasonSizeMismatch, ReasonChecksumMismatch, ReasonUnsupportedType, ReasonTooLarge,
	ReasonConflict, ReasonUnavailable, ReasonNotMigrated, ReasonObjectMismatch}

// NormalizeURL returns the one form of a legacy image's public URL that the
// server keeps and looks up: scheme https (an http URL names the same
// object), the host in lower case without a default port, the path with its
// escapes decoded and written again canonically, no query (S3 selects an
// object by its path alone) and no fragment. It refuses what names no
// object: another scheme, user information, no host, no path, a path with
// "." or ".." segments (which clients resolve and S3 does not), an escape
// that is not valid or decodes to a control character or invalid UTF-8.
func NormalizeURL(raw string) (string, error) {
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

// Origin maps the public URLs of the legacy bucket to the keys of its
// objects: a URL under URLPrefix names the object KeyPrefix + the rest of
// its path, decoded.
type Origin struct {
	// URLPrefix is where the legacy objects were published, normalized and
	// ending in "/": https://old-chat.nyc3.digitaloceanspaces.com/ or
	// https://cdn.example.com/chat/images/.
	URLPrefix string
	// KeyPrefix is put before the rest of the path to make the key ("" or
	// ending in "/").
	KeyPrefix string
}

// NewOrigin checks and normalizes an origin.
func NewOrigin(urlPrefix, keyPrefix string) (Origin, error) {
	if urlPrefix == "" {
		return Origin{}, errors.New("legacy url prefix is empty")
	}
	if !strings.HasSuffix(urlPrefix, "/") {
		urlPrefix += "/"
	}
	// A prefix is a URL whose path may be "/": normalize it with a
	// stand-in object name.
	n, err := NormalizeURL(urlPrefix + "x")
	if err != nil {
		return Origin{}, fmt.Errorf("legacy url prefix: %w", err)
	}
	if keyPrefix != "" && !strings.HasSuffix(keyPrefix, "/") {
		return Origin{}, errors.New("legacy key prefix must end in /")
	}
	if strings.HasPrefix(keyPrefix, "/") || !utf8.ValidString(keyPrefix) {
		return Origin{}, errors.New("legacy key prefix must not start with / and must be UTF-8")
	}
	return Origin{URLPrefix: strings.TrimSuffix(n, "x"), KeyPrefix: keyPrefix}, nil
}

// MaxKeyBytes is the longest object key, S3's.
const MaxKeyBytes = 1024

// Key returns the key of the object that the normalized URL u names, or
// an error when u is not under the prefix (ReasonOutsideSource) or makes no
// key.
func (o Origin) Key(u string) (string, error) {
	rest, ok := strings.CutPrefix(u, o.URLPrefix)
	if !ok || rest == "" {
		return "", fmt.Errorf("the url is not under the legacy source's url prefix %s", o.URLPrefix)
	}
	parsed, err := url.Parse(u)
	if err != nil {
		return "", errors.New("the url does not parse")
	}
	prefix, _ := url.Parse(o.URLPrefix)
	key := o.KeyPrefix + strings.TrimPrefix(parsed.Path, prefix.Path)
	if len(key) > MaxKeyBytes {
		return "", fmt.Errorf("the object key would be longer than %d bytes", MaxKeyBytes)
	}
	return key, nil
}

// URL returns the public URL of the object at key: the inverse of Key.
func (o Origin) URL(key string) (string, error) {
	rest, ok := strings.CutPrefix(key, o.KeyPrefix)
	if !ok || rest == "" {
		return "", fmt.Errorf("key is not under the legacy key prefix %q", o.KeyPrefix)
	}
	prefix, _ := url.Parse(o.URLPrefix)
	u := url.URL{Scheme: prefix.Scheme, Host: prefix.Host, Path: prefix.Path + rest}
	return NormalizeURL(u.String())
}
