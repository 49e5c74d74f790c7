// Package storekeys is the key design of the single table (ARCHITECTURE §5) that
// every core.Store adapter shares: the partition and sort keys of each item,
// the by-actor index key, the opaque page cursors bound to their list and
// caller, and the rules an id must meet before it goes into a key.
//
// The DynamoDB adapter stores these keys in its pk and sk attributes (and
// gsi1pk, gsi1sk for the by-actor index); the embedded adapter stores
// PK + "\x00" + SK as the key of one bbolt bucket. Both depend on this
// package only, so that the shapes cannot drift apart, and the package
// imports neither bbolt nor the AWS SDK, so that a Lambda function linking
// the DynamoDB adapter does not link bbolt and the embedded server does not
// link the SDK.
package storekeys

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/medshare/medshare/shared/core"
)

// The prefixes and fixed sort keys of the items. An item's key is a prefix
// followed by an id; ids never hold "\x00" (see CheckIDs), so the embedded
// store's PK + "\x00" + SK cannot escape its partition.
const (
	PhotoPKPrefix       = "USER#"    // photo partition: USER#<owner>
	PhotoSKPrefix       = "PHOTO#"   // photo sort key: PHOTO#<photo_id>
	AppointmentPKPrefix = "APPT#"    // appointment partition: APPT#<id>
	AppointmentSKPrefix = "CLINIC#"  // appointment sort key: CLINIC#<clinic>, ids are scoped to their clinic
	ChatImagePKPrefix   = "CHATIMG#" // chat image partition: CHATIMG#<id>
	ChatImageSK         = "CHATIMG"  // the chat image's only sort key
	AuditPKPrefix       = "AUDIT#"   // audit partition: AUDIT#<patient>
	AuditSeqSKPrefix    = "SEQ#"     // audit record sort key: SEQ#<seq, 20 digits>
	AuditHeadSK         = "HEAD"     // the chain head of an audit partition
	ActorPKPrefix       = "ACTOR#"   // by-actor index partition: ACTOR#<actor>
)

// ActorTimeLayout is the fixed-width UTC time at the start of a by-actor index
// sort key, so that the keys sort in time order as strings.
const ActorTimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// seqWidth is the number of decimal digits of a sequence number in a key:
// enough for every uint64, so that keys sort in sequence order as strings.
const seqWidth = 20

// MaxIDBytes bounds an id so that every key built from it stays within
// DynamoDB's key limits: 2048 bytes for a partition key and 1024 for a sort
// key, where a by-actor index sort key holds a patient id and 51 more bytes.
const MaxIDBytes = 512

// Key is the primary key of one item: a partition key and a sort key.
type Key struct {
	PK string
	SK string
}

// PhotoKey is the key of photo id owned by owner.
func PhotoKey(owner, id string) Key {
	return Key{PK: PhotoPKPrefix + owner, SK: PhotoSKPrefix + id}
}

// AppointmentKey is the key of clinic's appointment id. The partition is
// the id, so that a participant, who knows the id and not the clinic, finds
// every clinic's appointment with that id in one Query.
func AppointmentKey(clinic, id string) Key {
	return Key{PK: AppointmentPKPrefix + id, SK: AppointmentSKPrefix + clinic}
}

// ChatImageKey is the key of chat image id.
func ChatImageKey(id string) Key {
	return Key{PK: ChatImagePKPrefix + id, SK: ChatImageSK}
}

// AuditRecordKey is the key of record seq of patient's audit chain.
func AuditRecordKey(patient string, seq uint64) Key {
	return Key{PK: AuditPKPrefix + patient, SK: SeqSK(seq)}
}

// AuditHeadKey is the key of the head of patient's audit chain.
func AuditHeadKey(patient string) Key {
	return Key{PK: AuditPKPrefix + patient, SK: AuditHeadSK}
}

// SeqSK is the sort key of an audit record: SEQ# and the sequence number as a
// 20-digit zero-padded decimal.
func SeqSK(seq uint64) string {
	return AuditSeqSKPrefix + seqDigits(seq)
}

// ParseSeqSK returns the sequence number of an audit record sort key. It
// fails on anything SeqSK did not make.
func ParseSeqSK(sk string) (uint64, error) {
	digits, ok := strings.CutPrefix(sk, AuditSeqSKPrefix)
	if !ok {
		return 0, fmt.Errorf("audit sort key %q is malformed", sk)
	}
	seq, err := parseSeqDigits(digits)
	if err != nil {
		return 0, fmt.Errorf("audit sort key %q has a malformed sequence", sk)
	}
	return seq, nil
}

// ActorIndexKey is the by-actor index key of record seq of patient's chain,
// written by actor at the given time. Its sort key is
// <at as ActorTimeLayout in UTC>#<patient>#<seq, 20 digits>: index entries
// sort by time, and the sort key alone names the record (see ParseActorSK),
// which is how a cursor of the index rebuilds the record's key.
func ActorIndexKey(actor string, at time.Time, patient string, seq uint64) Key {
	sk := at.UTC().Format(ActorTimeLayout) + "#" + patient + "#" + seqDigits(seq)
	return Key{PK: ActorPKPrefix + actor, SK: sk}
}

// ParseActorSK splits a by-actor index sort key into the record's time (in
// UTC), patient and sequence number. It fails on anything ActorIndexKey did
// not make.
func ParseActorSK(sk string) (at time.Time, patient string, seq uint64, err error) {
	tlen := len(ActorTimeLayout) - len("Z07:00") + len("Z")
	if len(sk) < tlen+1+1+1+seqWidth || sk[tlen] != '#' || sk[len(sk)-seqWidth-1] != '#' {
		return time.Time{}, "", 0, fmt.Errorf("actor index sort key %q is malformed", sk)
	}
	at, err = time.Parse(ActorTimeLayout, sk[:tlen])
	if err != nil || at.Format(ActorTimeLayout) != sk[:tlen] {
		return time.Time{}, "", 0, fmt.Errorf("actor index sort key %q has a malformed time", sk)
	}
	seq, err = parseSeqDigits(sk[len(sk)-seqWidth:])
	if err != nil {
		return time.Time{}, "", 0, fmt.Errorf("actor index sort key %q has a malformed sequence", sk)
	}
	return at.UTC(), sk[tlen+1 : len(sk)-seqWidth-1], seq, nil
}

func seqDigits(seq uint64) string { return fmt.Sprintf("%0*d", seqWidth, seq) }

// parseSeqDigits parses the fixed-width digits of a sequence number in a key.
// strconv accepts a sign, which seqDigits never writes.
func parseSeqDigits(digits string) (uint64, error) {
	if len(digits) != seqWidth || strings.ContainsAny(digits, "+-") {
		return 0, fmt.Errorf("sequence %q is malformed", digits)
	}
	return strconv.ParseUint(digits, 10, 64)
}

// List names one list of one caller, which a page cursor is bound to: the
// partition it reads (whose key holds the caller's id), the prefix of the
// sort keys it lists, and its direction.
type List struct {
	PK       string
	SKPrefix string
	Desc     bool
	// Reader is the caller when the partition's key does not hold their
	// id: a list that several callers read (an appointment's chat images,
	// ChatImagesList). It binds the cursor to the caller as well. "" for
	// every list whose partition is the caller's own.
	Reader string
}

// cursorVersion is the first byte of every cursor.
const cursorVersion = 1

// cursorTagSize is the size of a cursor's tag.
const cursorTagSize = 16

// tag binds a cursor to its list: the first bytes of a SHA-256 of the list.
// It is not a secret: a caller who forges a cursor of their own list can
// only resume that list where they like, since the partition comes from the
// request, never from the cursor. It makes another caller's cursor, or
// another list's, a 400 rather than a page of the wrong list.
func (l List) tag() []byte {
	dir := "asc"
	if l.Desc {
		dir = "desc"
	}
	in := "medshare/v1/cursor\x00" + l.PK + "\x00" + l.SKPrefix + "\x00" + dir
	if l.Reader != "" {
		// Only then: the tags of the other lists stay as they were.
		in += "\x00reader\x00" + l.Reader
	}
	sum := sha256.Sum256([]byte(in))
	return sum[:cursorTagSize]
}

// EncodeCursor makes the opaque cursor of a page of list l that ended at
// position pos (the sort key of its last item, or for the by-actor index an
// ActorPos): base64url without padding of a version byte, the list's tag and
// pos. The partition is not in it, and pos holds only what the caller may
// see: their own ids, a sequence number, or a time and a count.
func EncodeCursor(l List, pos string) string {
	b := make([]byte, 0, 1+cursorTagSize+len(pos))
	b = append(b, cursorVersion)
	b = append(b, l.tag()...)
	b = append(b, pos...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor returns the position in a cursor of list l. The empty cursor
// decodes to "" (start at the beginning). Any other cursor must be one that
// EncodeCursor made for this very list (the same partition, prefix and
// direction: another caller's cursor, or another list's, is refused), and
// its position must start with l.SKPrefix and have more after it, hold no
// "\x00" and be UTF-8 (no key can hold anything else, see CheckIDs);
// otherwise it is KindInvalid.
func DecodeCursor(cursor string, l List) (string, error) {
	if cursor == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(b) < 1+cursorTagSize || b[0] != cursorVersion ||
		subtle.ConstantTimeCompare(b[1:1+cursorTagSize], l.tag()) != 1 {
		return "", core.ErrInvalid("cursor is malformed or belongs to another list")
	}
	pos := string(b[1+cursorTagSize:])
	if !strings.HasPrefix(pos, l.SKPrefix) || len(pos) == len(l.SKPrefix) ||
		strings.Contains(pos, "\x00") || !utf8.ValidString(pos) {
		return "", core.ErrInvalid("cursor is malformed")
	}
	return pos, nil
}

// Start checks owner, the id whose list l is (CheckIDs), and returns the
// position in cursor where a page of l starts (DecodeCursor). Its errors
// name the listing: op, as "list photos of", and owner.
func (l List) Start(op, owner, cursor string) (string, error) {
	if err := CheckIDs(owner); err != nil {
		return "", fmt.Errorf("%s %q: %w", op, owner, err)
	}
	after, err := DecodeCursor(cursor, l)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", op, owner, err)
	}
	return after, nil
}

// Next is the cursor of l after a page that ended at position pos, and ""
// when pos is "": the list ended with that page.
func (l List) Next(pos string) string {
	if pos == "" {
		return ""
	}
	return EncodeCursor(l, pos)
}

// ActorPos is where a page of the by-actor index ended, told without the
// index sort key of its last record, which holds that record's patient id
// (ActorIndexKey): the time of the last record listed, and how many records
// of the actor with exactly that time the list has given so far. Records
// follow in descending sort key order, so the next page is the records
// whose sort key is below ActorPos.Bound, less the first N of those at At.
type ActorPos struct {
	At time.Time
	N  int
}

// MaxActorPosN bounds ActorPos.N: a page never skips more records than this.
const MaxActorPosN = 1 << 20

// String is the position as a cursor holds it: <At as ActorTimeLayout>#<N>.
func (p ActorPos) String() string {
	return p.At.UTC().Format(ActorTimeLayout) + "#" + strconv.Itoa(p.N)
}

// Bound is the exclusive upper bound of the index sort keys of the next
// page: above every sort key at At ("$" follows "#").
func (p ActorPos) Bound() string { return p.At.UTC().Format(ActorTimeLayout) + "$" }

// AtTime reports whether index sort key sk is of a record at time At.
func (p ActorPos) AtTime(sk string) bool {
	return strings.HasPrefix(sk, p.At.UTC().Format(ActorTimeLayout)+"#")
}

// ParseActorPos parses what ActorPos.String made; N must be 1 to
// MaxActorPosN. Anything else is KindInvalid.
func ParseActorPos(s string) (ActorPos, error) {
	bad := core.ErrInvalid("cursor is malformed")
	tlen := len(ActorTimeLayout) - len("Z07:00") + len("Z")
	if len(s) < tlen+2 || s[tlen] != '#' {
		return ActorPos{}, bad
	}
	at, err := time.Parse(ActorTimeLayout, s[:tlen])
	if err != nil || at.Format(ActorTimeLayout) != s[:tlen] {
		return ActorPos{}, bad
	}
	n, err := strconv.Atoi(s[tlen+1:])
	if err != nil || n < 1 || n > MaxActorPosN || strconv.Itoa(n) != s[tlen+1:] {
		return ActorPos{}, bad
	}
	return ActorPos{At: at.UTC(), N: n}, nil
}

// DecodeActorCursor returns the position in a cursor of the by-actor list
// l, or nil for the empty cursor (the first page). Anything that is not a
// cursor of l holding an ActorPos is KindInvalid.
func DecodeActorCursor(cursor string, l List) (*ActorPos, error) {
	raw, err := DecodeCursor(cursor, l)
	if err != nil || raw == "" {
		return nil, err
	}
	p, err := ParseActorPos(raw)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// NextActorPos is the position after a page whose index sort keys, in the
// order listed, are sks (not empty), when the page started at prev (nil for
// the first page): the time of the last one, and how many of the list's
// records at that time are given, counting those of earlier pages when
// prev is at the same time.
func NextActorPos(prev *ActorPos, sks []string) (ActorPos, error) {
	at, _, _, err := ParseActorSK(sks[len(sks)-1])
	if err != nil {
		return ActorPos{}, err
	}
	next := ActorPos{At: at}
	for i := len(sks) - 1; i >= 0 && next.AtTime(sks[i]); i-- {
		next.N++
	}
	if prev != nil && prev.At.Equal(at) {
		next.N += prev.N
	}
	return next, nil
}

// CheckIDs returns a KindInvalid error for the first id that could not make a
// key, or could make one that escapes its prefix: empty, holding "\x00" (the
// embedded store's separator), not UTF-8 (the AWS SDK would replace invalid
// bytes, and two ids could share a key), or longer than MaxIDBytes.
func CheckIDs(ids ...string) error {
	for _, id := range ids {
		switch {
		case id == "":
			return core.ErrInvalid("id must not be empty")
		case strings.Contains(id, "\x00"):
			return core.ErrInvalid("id must not contain NUL")
		case !utf8.ValidString(id):
			return core.ErrInvalid("id must be UTF-8")
		case len(id) > MaxIDBytes:
			return core.ErrInvalid("id must be at most %d bytes", MaxIDBytes)
		}
	}
	return nil
}

// ChatImagesByAppointmentPKPrefix starts the partition of an appointment's
// chat images in the by-appointment index (gsi2 in DynamoDB, under its own
// partition prefix; an index bucket in bbolt):
// APPTIMG#<clinic id>#<appointment id>. Appointment ids are scoped to their
// clinic, so the partition names both: two clinics' appointments with the
// same id never share a list. A clinic id holds no "#" (CheckChatListIDs),
// so the partition names one pair only.
const ChatImagesByAppointmentPKPrefix = "APPTIMG#"

// ChatImageIndexSKPrefix starts every sort key of the by-appointment index,
// so that a cursor of another list (whose sort keys start otherwise) is
// refused by DecodeCursor.
const ChatImageIndexSKPrefix = "IMG#"

// CheckChatImageIDs checks the ids of chat image img: its own (CheckIDs),
// and its clinic's and appointment's (CheckChatListIDs).
func CheckChatImageIDs(img core.ChatImage) error {
	if err := CheckIDs(img.ID); err != nil {
		return err
	}
	return CheckChatListIDs(img.ClinicID, img.AppointmentID)
}

// CheckChatListIDs is CheckIDs for the ids of a by-appointment partition,
// and refuses (KindInvalid) a clinic id holding "#", which would make the
// partition ambiguous. The service's clinic ids never hold one
// (core.ValidExternalID).
func CheckChatListIDs(clinic, appt string) error {
	if err := CheckIDs(clinic, appt); err != nil {
		return err
	}
	if strings.Contains(clinic, "#") {
		return core.ErrInvalid("clinic id must not contain #")
	}
	return nil
}

// ChatImagesByAppointmentPK is the by-appointment partition of clinic's
// appointment appt.
func ChatImagesByAppointmentPK(clinic, appt string) string {
	return ChatImagesByAppointmentPKPrefix + clinic + "#" + appt
}

// ChatImageIndexSK is the sort key of a chat image in the by-appointment
// index: IMG#, its creation time, fixed width, then "#" and its id, so that
// an appointment's images sort by creation time.
func ChatImageIndexSK(created time.Time, id string) string {
	return ChatImageIndexSKPrefix + created.UTC().Format(ActorTimeLayout) + "#" + id
}

// ParseChatImageIndexSK returns the image id of a sort key that
// ChatImageIndexSK made, and fails (KindInvalid) on anything else: a
// cursor of the by-appointment index holds one.
func ParseChatImageIndexSK(sk string) (string, error) {
	rest, ok := strings.CutPrefix(sk, ChatImageIndexSKPrefix)
	tlen := len(ActorTimeLayout) - len("Z07:00") + len("Z")
	if !ok || len(rest) < tlen+2 || rest[tlen] != '#' {
		return "", core.ErrInvalid("cursor is malformed")
	}
	at, err := time.Parse(ActorTimeLayout, rest[:tlen])
	id := rest[tlen+1:]
	if err != nil || ChatImageIndexSK(at, id) != sk || CheckIDs(id) != nil {
		return "", core.ErrInvalid("cursor is malformed")
	}
	return id, nil
}

// ChatImagesByAppointmentKey is chat image id's entry in the by-appointment
// index of clinic's appointment appt.
func ChatImagesByAppointmentKey(clinic, appt string, created time.Time, id string) Key {
	return Key{PK: ChatImagesByAppointmentPK(clinic, appt), SK: ChatImageIndexSK(created, id)}
}

// ChatImagesList is the list of clinic's appointment appt's chat images,
// newest first, as reader (a participant) pages through it. The partition
// is the appointment's, which every participant reads: Reader binds a
// cursor to the one who was given it, as every other list's partition
// does by holding the caller's id.
func ChatImagesList(clinic, appt, reader string) List {
	return List{PK: ChatImagesByAppointmentPK(clinic, appt), SKPrefix: ChatImageIndexSKPrefix, Desc: true, Reader: reader}
}

// LegacyURLPKPrefix starts the partition of the legacy URL index: the chat
// images imported from the legacy chat with one old URL
// (LEGACYURL#<hex SHA-256 of the normalized URL>), each an item of its own
// whose sort key is LegacyURLSKPrefix and the image's id. The URL is
// hashed: it may be longer than a key may be, and it holds any character.
const (
	LegacyURLPKPrefix = "LEGACYURL#"
	LegacyURLSKPrefix = "CHATIMG#"
)

// LegacyURLPK is the partition of the images imported with url.
func LegacyURLPK(url string) string {
	sum := sha256.Sum256([]byte(url))
	return LegacyURLPKPrefix + fmt.Sprintf("%x", sum)
}

// LegacyURLKey is image id's entry in the legacy URL index of url.
func LegacyURLKey(url, id string) Key {
	return Key{PK: LegacyURLPK(url), SK: LegacyURLSKPrefix + id}
}
