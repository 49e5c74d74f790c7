package core

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Config holds the service's tunables. Zero values take the defaults.
type Config struct {
	// ChatURLTTL is how long a chat image's signed URL is valid (default 1h).
	ChatURLTTL time.Duration
	// UploadTTL is how long a presigned upload is valid, and how long a staged
	// upload may stay PENDING before it is abandoned (default 15m).
	UploadTTL time.Duration
	// MaxUploadBytes caps the declared size of a photo or chat image (default 20 MiB).
	MaxUploadBytes int64
	// Limits bound, per RateWindow, what one caller can make the service
	// write into other people's data (limits.go).
	Limits Limits
	// LegacyResolutionOff turns off the legacy URLs of old chat images
	// (phase 4 of ARCHITECTURE §9): ResolveChatImage then answers only for
	// images that are migrated. The zero value resolves both.
	LegacyResolutionOff bool
}

// Defaults for Config.
const (
	DefaultChatURLTTL     = time.Hour
	DefaultUploadTTL      = 15 * time.Minute
	DefaultMaxUploadBytes = 20 << 20
	DefaultPageLimit      = 50
	MaxPageLimit          = 100
	MaxMetadataBytes      = 4096
)

func (c Config) withDefaults() Config {
	if c.ChatURLTTL <= 0 {
		c.ChatURLTTL = DefaultChatURLTTL
	}
	if c.UploadTTL <= 0 {
		c.UploadTTL = DefaultUploadTTL
	}
	if c.MaxUploadBytes <= 0 {
		c.MaxUploadBytes = DefaultMaxUploadBytes
	}
	c.Limits = c.Limits.withDefaults()
	return c
}

// Deps are the adapters the service runs on. A Lambda function links only
// the adapters its operation calls (lambdafn): Blobs, Keys and Notifier may
// be nil in a function that never calls them, and the store is always set.
type Deps struct {
	Store Store
	Blobs Blobs
	Keys  KeyRing
	// Notifier publishes the notifications that the store keeps in the
	// inboxes; while nil, they stay unpublished for the relay.
	Notifier Notifier
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service has one method per operation. Each method authorizes the caller
// against the resource it loads: this is the one place authorization happens
// (ARCHITECTURE §2.1).
type Service struct {
	cfg      Config
	store    Store
	blobs    Blobs
	keys     KeyRing
	notifier Notifier
	now      func() time.Time
	audit    *auditor
	// suspicion serializes score updates per access within the process.
	suspicion [64]sync.Mutex
}

// NewService builds a service.
func NewService(cfg Config, d Deps) *Service {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	return &Service{
		cfg:      cfg.withDefaults(),
		store:    d.Store,
		blobs:    d.Blobs,
		keys:     d.Keys,
		notifier: d.Notifier,
		now:      func() time.Time { return now().UTC() },
		audit:    &auditor{store: d.Store},
	}
}

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// sortableEncoding has the same characters as idEncoding in ASCII order, so
// that byte order and text order agree.
var sortableEncoding = base32.NewEncoding("234567abcdefghijklmnopqrstuvwxyz").WithPadding(base32.NoPadding)

// NewID returns a random id with the given prefix: 128 random bits.
func NewID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return prefix + "_" + idEncoding.EncodeToString(b[:])
}

// The id checks are byte loops rather than regular expressions: compiling
// [A-Za-z0-9._:@-]{0,127} expands it into 128 copies, and that was a third
// of a Lambda function's package initialization at every cold start
// (docs/PERFORMANCE.md). TestIDShapes checks them against the expressions.

// ValidID reports whether id has the shape of an id this service generates with
// the given prefix: two lower-case letters, "_", and 26 characters of the
// base32 alphabet a-z2-7 (^[a-z]{2}_[a-z2-7]{26}$).
func ValidID(prefix, id string) bool {
	if len(id) != 29 || id[2] != '_' || !strings.HasPrefix(id, prefix+"_") {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case i == 2:
		case 'a' <= c && c <= 'z':
		case i > 2 && '2' <= c && c <= '7':
		default:
			return false
		}
	}
	return true
}

// ValidExternalID reports whether id is acceptable as an id chosen outside the
// service (user subjects, appointment ids, idempotency keys): 1 to 128
// characters, letters, digits and ._:@- but not first
// (^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$). A user's id must not be a
// ReservedID either.
func ValidExternalID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == ':' || c == '@' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// SystemIDPrefix starts the id of every actor that is the service itself
// (DetectorID, CleanupID, ReportRecipient): the whole prefix is reserved, in
// any case, so that an actor added later is reserved already and no user id
// can pass for one in an audit trail or a log.
const SystemIDPrefix = "medshare-"

// SystemIDs are the service's own actors today.
var SystemIDs = []string{DetectorID, CleanupID, ReportRecipient, MigrationID}

// ReservedID reports whether id is reserved for the service's own actors: it
// may not be a token's subject, a share's professional or an appointment's
// patient or professional.
func ReservedID(id string) bool {
	return len(id) >= len(SystemIDPrefix) && strings.EqualFold(id[:len(SystemIDPrefix)], SystemIDPrefix)
}

// requireRole admits a caller that has one of roles. No token can make a
// system actor: RoleSystem is not Valid, and a reserved id is refused as a
// subject (the edge refuses both before this, and this check stays so that
// the service holds the line on its own).
func (s *Service) requireRole(c Caller, roles ...Role) error {
	if c.ID == "" || !c.Role.Valid() {
		return ErrUnauthorized("authentication required")
	}
	if !ValidExternalID(c.ID) {
		return ErrUnauthorized("token subject is not a valid id")
	}
	if ReservedID(c.ID) {
		return ErrUnauthorized("token subject is reserved for the service")
	}
	if !slices.Contains(roles, c.Role) {
		return ErrForbidden("role %s may not call this operation", c.Role)
	}
	return nil
}

func pageOf(p Page) (Page, error) {
	switch {
	case p.Limit == 0:
		p.Limit = DefaultPageLimit
	case p.Limit < 0 || p.Limit > MaxPageLimit:
		return p, ErrInvalid("limit must be between 1 and %d", MaxPageLimit)
	}
	return p, nil
}

// record appends an audit record for caller about a resource of patientID.
func (s *Service) record(ctx context.Context, c Caller, patientID string, action AuditAction, resType, resID string, outcome error) error {
	return s.appendRecord(ctx, s.auditRecord(c, patientID, action, resType, resID, outcome))
}

// appendRecord appends rec to its patient's chain; a failure is the audit
// trail's (KindUnavailable or KindInternal), so that no answer leaves
// unrecorded.
func (s *Service) appendRecord(ctx context.Context, rec AuditRecord) error {
	if _, err := s.audit.append(ctx, rec); err != nil {
		return auditFailure(err)
	}
	return nil
}

// auditFailure is the error of a failed append: the audit trail's own
// (KindUnavailable or KindInternal) as it is, anything else as
// KindUnavailable, never a client's kind.
func auditFailure(err error) error {
	if k := KindOf(err); k == KindUnavailable || k == KindInternal {
		return err
	}
	return ErrUnavailable(err, "audit trail unavailable")
}

// truncate makes s valid UTF-8 and cuts it to at most n bytes on a character
// boundary. Audit records hash their strings as JSON, which would turn an
// invalid byte into U+FFFD on the way into a store: a record must hold exactly
// the text it was hashed over.
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Health checks every dependency.
func (s *Service) Health(ctx context.Context) error {
	for name, ping := range map[string]func(context.Context) error{
		"store": s.store.Ping, "blobs": s.blobs.Ping, "keys": s.keys.Ping,
	} {
		if err := ping(ctx); err != nil {
			return ErrUnavailable(err, "%s unavailable", name)
		}
	}
	return nil
}

// notFoundAs replaces a store's not-found error with the service's own message,
// which names no id: what a caller learns from a 404 is fixed here, not by an
// adapter's wording.
func notFoundAs(err error, what string) error {
	if IsKind(err, KindNotFound) {
		return ErrNotFound("%s not found", what)
	}
	return err
}

// NewSortableID returns an id whose text sorts by creation time: 48 bits of
// Unix milliseconds, a 16-bit sequence that keeps ids of one process in
// order within a millisecond (and across a clock that steps back), then 64
// random bits; the same alphabet and length as NewID.
func NewSortableID(prefix string, now time.Time) string {
	ms := uint64(now.UnixMilli())
	sortable.Lock()
	if ms <= sortable.ms {
		ms = sortable.ms
		sortable.seq++
		if sortable.seq == 0 { // 65,536 ids in one millisecond: borrow the next
			ms++
		}
	} else {
		sortable.seq = 0
	}
	sortable.ms = ms
	seq := sortable.seq
	sortable.Unlock()
	var b [16]byte
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	b[6], b[7] = byte(seq>>8), byte(seq)
	_, _ = rand.Read(b[8:])
	return prefix + "_" + sortableEncoding.EncodeToString(b[:])
}

var sortable struct {
	sync.Mutex
	ms  uint64
	seq uint16
}
