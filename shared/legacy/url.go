package legacy

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/medshare/medshare/shared/core"
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
// server keeps and looks up (core.NormalizeLegacyURL, which the resolve
// route applies too).
func NormalizeURL(raw string) (string, error) { return core.NormalizeLegacyURL(raw) }

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
