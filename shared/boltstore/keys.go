package boltstore

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/medshare/medshare/shared/core"
)

// The item keys of the single table (DESIGN §5). The DynamoDB adapter stores
// the same shapes in its PK and SK attributes (and GSI1PK, GSI1SK for the
// by-actor index); this adapter stores PK + "\x00" + SK as the key of one bbolt
// bucket. Ids are never allowed to hold "\x00", so a key cannot escape its
// partition.
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
	return fmt.Sprintf("%s%0*d", AuditSeqSKPrefix, seqWidth, seq)
}

// ActorIndexKey is the by-actor index key of record seq of patient's chain,
// written by actor at the given time. Its sort key is
// <at as ActorTimeLayout in UTC>#<patient>#<seq, 20 digits>: index entries sort
// by time, and the sort key alone names the record (see ParseActorSK).
func ActorIndexKey(actor string, at time.Time, patient string, seq uint64) Key {
	sk := at.UTC().Format(ActorTimeLayout) + "#" + patient + "#" + fmt.Sprintf("%0*d", seqWidth, seq)
	return Key{PK: ActorPKPrefix + actor, SK: sk}
}

// ParseActorSK splits a by-actor index sort key into the record's time,
// patient and sequence number. It fails on anything ActorIndexKey did not make.
func ParseActorSK(sk string) (at time.Time, patient string, seq uint64, err error) {
	tlen := len(ActorTimeLayout) - len("Z07:00") + len("Z")
	if len(sk) < tlen+1+1+1+seqWidth || sk[tlen] != '#' || sk[len(sk)-seqWidth-1] != '#' {
		return time.Time{}, "", 0, fmt.Errorf("actor index sort key %q is malformed", sk)
	}
	at, err = time.Parse(ActorTimeLayout, sk[:tlen])
	if err != nil || at.Format(ActorTimeLayout) != sk[:tlen] {
		return time.Time{}, "", 0, fmt.Errorf("actor index sort key %q has a malformed time", sk)
	}
	digits := sk[len(sk)-seqWidth:]
	seq, err = strconv.ParseUint(digits, 10, 64)
	if err != nil || strings.ContainsAny(digits, "+-") {
		return time.Time{}, "", 0, fmt.Errorf("actor index sort key %q has a malformed sequence", sk)
	}
	patient = sk[tlen+1 : len(sk)-seqWidth-1]
	return at.UTC(), patient, seq, nil
}

// boltKey is the key of an item in the items bucket.
func (k Key) boltKey() []byte { return []byte(k.PK + "\x00" + k.SK) }

// partitionPrefix is the prefix of every bbolt key of partition pk whose sort
// key starts with skPrefix.
func partitionPrefix(pk, skPrefix string) []byte { return []byte(pk + "\x00" + skPrefix) }

// EncodeCursor makes the opaque cursor of a page that ended at sort key sk:
// base64url without padding of the sort key only. The partition comes from the
// request, never from the cursor, so a cursor cannot open another partition.
func EncodeCursor(sk string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(sk))
}

// DecodeCursor returns the sort key in cursor, which must start with
// skPrefix. A cursor that does not decode or has another prefix is
// KindInvalid. The empty cursor decodes to "" (start at the beginning).
func DecodeCursor(cursor, skPrefix string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	sk := string(b)
	if err != nil || !strings.HasPrefix(sk, skPrefix) || len(sk) == len(skPrefix) || strings.Contains(sk, "\x00") {
		return "", core.ErrInvalid("cursor is malformed")
	}
	return sk, nil
}

// checkIDs rejects ids that are empty or hold the key separator, which could
// make a key escape its prefix.
func checkIDs(ids ...string) error {
	for _, id := range ids {
		if id == "" {
			return core.ErrInvalid("id must not be empty")
		}
		if strings.Contains(id, "\x00") {
			return core.ErrInvalid("id must not contain NUL")
		}
	}
	return nil
}
