// Package storekeys is the key design of the single table (DESIGN §5) that
// every core.Store adapter shares: the partition and sort keys of each item,
// the by-actor index key, the opaque page cursor, and the rules an id must
// meet before it goes into a key.
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
	AppointmentSK       = "APPT"     // the appointment's only sort key
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

// AppointmentKey is the key of appointment id.
func AppointmentKey(id string) Key {
	return Key{PK: AppointmentPKPrefix + id, SK: AppointmentSK}
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

// EncodeCursor makes the opaque cursor of a page that ended at sort key sk:
// base64url without padding of the sort key only. The partition comes from the
// request, never from the cursor, so a cursor cannot open another partition.
func EncodeCursor(sk string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(sk))
}

// DecodeCursor returns the sort key in cursor. The empty cursor decodes to ""
// (start at the beginning). Any other cursor must decode to a sort key that
// starts with skPrefix and has more after it, holds no "\x00" and is UTF-8
// (no key can hold anything else, see CheckIDs); otherwise it is
// KindInvalid.
func DecodeCursor(cursor, skPrefix string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	sk := string(b)
	if err != nil || !strings.HasPrefix(sk, skPrefix) || len(sk) == len(skPrefix) ||
		strings.Contains(sk, "\x00") || !utf8.ValidString(sk) {
		return "", core.ErrInvalid("cursor is malformed")
	}
	return sk, nil
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

// ChatImagesByAppointmentPK starts the partition of an appointment's chat
// images in the by-appointment index (gsi2 in DynamoDB, under its own
// partition prefix; an index bucket in bbolt): APPTIMG#<appointment id>.
const ChatImagesByAppointmentPK = "APPTIMG#"

// ChatImageIndexSKPrefix starts every sort key of the by-appointment index,
// so that a cursor of another list (whose sort keys start otherwise) is
// refused by DecodeCursor.
const ChatImageIndexSKPrefix = "IMG#"

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
// index of appointment appt.
func ChatImagesByAppointmentKey(appt string, created time.Time, id string) Key {
	return Key{PK: ChatImagesByAppointmentPK + appt, SK: ChatImageIndexSK(created, id)}
}
