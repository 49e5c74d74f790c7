package dynamostore

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/medshare/medshare/shared/core"
)

// The item keys of the single table (DESIGN §5), the same shapes as the
// embedded store's (boltstore/keys.go); keys_test.go checks that they agree.
// They are written here rather than imported because importing boltstore
// would link bbolt into every Lambda function that uses this store.
const (
	photoPKPrefix       = "USER#"
	photoSKPrefix       = "PHOTO#"
	appointmentPKPrefix = "APPT#"
	appointmentSK       = "APPT"
	chatImagePKPrefix   = "CHATIMG#"
	chatImageSK         = "CHATIMG"
	auditPKPrefix       = "AUDIT#"
	auditSeqSKPrefix    = "SEQ#"
	auditHeadSK         = "HEAD"
	actorPKPrefix       = "ACTOR#"
)

// actorTimeLayout is the fixed-width UTC time at the start of a by-actor
// index sort key.
const actorTimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// seqWidth is the number of digits of a sequence number in a key.
const seqWidth = 20

// key is the primary key of one item.
type key struct {
	PK string
	SK string
}

func photoKey(owner, id string) key { return key{photoPKPrefix + owner, photoSKPrefix + id} }

func appointmentKey(id string) key { return key{appointmentPKPrefix + id, appointmentSK} }

func chatImageKey(id string) key { return key{chatImagePKPrefix + id, chatImageSK} }

func auditRecordKey(patient string, seq uint64) key {
	return key{auditPKPrefix + patient, seqSK(seq)}
}

func auditHeadKey(patient string) key { return key{auditPKPrefix + patient, auditHeadSK} }

func seqSK(seq uint64) string { return fmt.Sprintf("%s%0*d", auditSeqSKPrefix, seqWidth, seq) }

// actorIndexKey is the IndexByActor key of record seq of patient's chain,
// written by actor at the given time: the sort key alone names the record
// (see parseActorSK), which is how a cursor of that index rebuilds the full
// ExclusiveStartKey.
func actorIndexKey(actor string, at time.Time, patient string, seq uint64) key {
	sk := at.UTC().Format(actorTimeLayout) + "#" + patient + "#" + fmt.Sprintf("%0*d", seqWidth, seq)
	return key{actorPKPrefix + actor, sk}
}

// parseActorSK splits an IndexByActor sort key into the record's time,
// patient and sequence number.
func parseActorSK(sk string) (at time.Time, patient string, seq uint64, err error) {
	tlen := len(actorTimeLayout) - len("Z07:00") + len("Z")
	if len(sk) < tlen+1+1+1+seqWidth || sk[tlen] != '#' || sk[len(sk)-seqWidth-1] != '#' {
		return time.Time{}, "", 0, fmt.Errorf("actor index sort key %q is malformed", sk)
	}
	at, err = time.Parse(actorTimeLayout, sk[:tlen])
	if err != nil || at.Format(actorTimeLayout) != sk[:tlen] {
		return time.Time{}, "", 0, fmt.Errorf("actor index sort key %q has a malformed time", sk)
	}
	seq, err = parseSeqDigits(sk[len(sk)-seqWidth:])
	if err != nil {
		return time.Time{}, "", 0, fmt.Errorf("actor index sort key %q has a malformed sequence", sk)
	}
	return at.UTC(), sk[tlen+1 : len(sk)-seqWidth-1], seq, nil
}

// parseSeqDigits parses the 20 digits of a sequence number in a key.
func parseSeqDigits(digits string) (uint64, error) {
	if len(digits) != seqWidth || strings.ContainsAny(digits, "+-") {
		return 0, fmt.Errorf("sequence %q is malformed", digits)
	}
	return strconv.ParseUint(digits, 10, 64)
}

// encodeCursor makes the opaque cursor of a page that ended at sort key sk:
// base64url without padding of the sort key only. The partition comes from
// the request, never from the cursor, so a cursor cannot open another
// partition.
func encodeCursor(sk string) string { return base64.RawURLEncoding.EncodeToString([]byte(sk)) }

// decodeCursor returns the sort key in cursor, which must start with skPrefix
// and have more after it; "" decodes to "" (the first page). Anything else is
// KindInvalid.
func decodeCursor(cursor, skPrefix string) (string, error) {
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

// maxIDBytes bounds an id so that every key built from it stays within
// DynamoDB's key limits (2048 bytes for a partition key, 1024 for a sort
// key, and an IndexByActor sort key holds a patient id and 51 more bytes).
const maxIDBytes = 512

// checkIDs rejects ids that could not make a key, or could make one that
// escapes its prefix: empty, holding NUL, not UTF-8 (the SDK would replace
// invalid bytes and two ids could share a key), or too long for a key.
func checkIDs(ids ...string) error {
	for _, id := range ids {
		switch {
		case id == "":
			return core.ErrInvalid("id must not be empty")
		case strings.Contains(id, "\x00"):
			return core.ErrInvalid("id must not contain NUL")
		case !utf8.ValidString(id):
			return core.ErrInvalid("id must be UTF-8")
		case len(id) > maxIDBytes:
			return core.ErrInvalid("id must be at most %d bytes", maxIDBytes)
		}
	}
	return nil
}
