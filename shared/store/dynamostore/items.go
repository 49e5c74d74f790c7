package dynamostore

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/store/storeitem"
	"github.com/medshare/medshare/shared/store/storekeys"
)

// The items. Each entity's attributes are its one stored shape
// (storeitem), which the embedded store keeps too; an item adds only what
// is DynamoDB's own: the keys (storekeys), the index keys, the TTL, and the
// participants key that a condition compares. Times are storeitem's
// fixed-width strings, which conditions compare to the nanosecond as
// strings: share_expires_at on a share (and on the accesses and keys that
// snapshot it), access_expires_at, key_expires_at, claim_expires_at,
// upload_expires_at. The attribute time_at is IndexTime's sort key (N,
// seconds) and is set only for that index. The whole layout of every item
// is pinned by TestItemShapes (testdata/items.golden).

// timeIndexed holds an item's IndexTime keys: its AttrTimeBucket and
// AttrTimeAt. They are absent (omitted) on items that are not in the index.
// TimeAt is a pointer so that a time at the epoch itself, 0, is stored.
type timeIndexed struct {
	TimeBucket string `dynamodbav:"time_bucket,omitempty"`
	TimeAt     *int64 `dynamodbav:"time_at,omitempty"`
}

func indexedAt(bucket string, at int64) timeIndexed {
	return timeIndexed{TimeBucket: bucket, TimeAt: &at}
}

// dueAt is the IndexTime keys of an item of kind that is due at due.
func dueAt(kind core.DueKind, due time.Time) timeIndexed {
	return indexedAt(DueBucket(kind, due), epochCeil(due))
}

// expiring holds the attributes of an item that expires: IndexTime's keys
// (while the item is due for cleanup) and the TTL. They are absent (omitted)
// on items that do not expire.
type expiring struct {
	timeIndexed
	TTL int64 `dynamodbav:"ttl,omitempty"`
}

// uploadExpiry is the expiring attributes of an upload in status whose window
// ends at expiresAt: set while PENDING, none once READY.
func uploadExpiry(status core.UploadStatus, expiresAt time.Time) expiring {
	if status != core.StatusPending {
		return expiring{}
	}
	return expiring{
		timeIndexed: dueAt(core.DueUpload, expiresAt),
		TTL:         epochCeil(expiresAt.Add(UploadTTLGrace)),
	}
}

// shareExpiry is the expiring attributes of a share: in IndexTime (due at
// its expiry) while ACTIVE, TTL ShareTTLGrace after its expiry whatever its
// status (RevokeShare and ExpireShare remove the index attributes and keep
// the TTL).
func shareExpiry(status core.ShareStatus, expiresAt time.Time) expiring {
	e := expiring{TTL: epochCeil(expiresAt.Add(ShareTTLGrace))}
	if status == core.ShareActive {
		e.timeIndexed = dueAt(core.DueShare, expiresAt)
	}
	return e
}

// keyed is an item's table keys.
type keyed struct {
	PK string `dynamodbav:"pk"`
	SK string `dynamodbav:"sk"`
}

func keysOf(k storekeys.Key) keyed { return keyed{PK: k.PK, SK: k.SK} }

type photoItem struct {
	keyed
	storeitem.Photo
	expiring
}

func photoItemOf(p core.Photo) photoItem {
	return photoItem{keysOf(storekeys.PhotoKey(p.OwnerID, p.ID)), storeitem.PhotoOf(p), uploadExpiry(p.Status, p.UploadExpiresAt)}
}

type appointmentItem struct {
	keyed
	storeitem.Appointment
	// ParticipantsKey is the canonical form of the participant set, so that
	// a condition can compare sets: see participantsKey.
	ParticipantsKey string `dynamodbav:"participants_key"`
}

func appointmentItemOf(a core.Appointment) appointmentItem {
	return appointmentItem{keysOf(storekeys.AppointmentKey(a.ClinicID, a.ID)), storeitem.AppointmentOf(a), participantsKey(a.PatientID, a.ProfessionalIDs)}
}

// participantsKey is the canonical string of a participant set, as
// core.Appointment.SameParticipants compares them: the patient, then the
// professionals sorted (duplicates kept), as a JSON array. Two appointments
// have the same participants exactly when their keys are equal.
func participantsKey(patient string, professionals []string) string {
	ids := append([]string{patient}, professionals...)
	slices.Sort(ids[1:])
	b, err := json.Marshal(ids)
	if err != nil { // strings only: cannot fail
		panic(fmt.Sprintf("dynamostore: participants key: %v", err))
	}
	return string(b)
}

// imageParticipantsKey is the participants key that a chat image's
// participant list stands for: the first is the patient. An empty list
// stands for no appointment's participants.
func imageParticipantsKey(participants []string) string {
	if len(participants) == 0 {
		return "[]"
	}
	return participantsKey(participants[0], participants[1:])
}

type chatImageItem struct {
	keyed
	storeitem.ChatImage
	// GSI2PK and GSI2SK put the image in IndexChatImagesByAppointment
	// (storekeys.ChatImagesByAppointmentKey: its clinic's appointment),
	// from its creation on.
	GSI2PK string `dynamodbav:"gsi2pk"`
	GSI2SK string `dynamodbav:"gsi2sk"`
	expiring
}

func chatImageItemOf(c core.ChatImage) chatImageItem {
	ik := storekeys.ChatImagesByAppointmentKey(c.ClinicID, c.AppointmentID, c.CreatedAt, c.ID)
	return chatImageItem{keysOf(storekeys.ChatImageKey(c.ID)), storeitem.ChatImageOf(c), ik.PK, ik.SK, uploadExpiry(c.Status, c.UploadExpiresAt)}
}

type auditItem struct {
	keyed
	storeitem.AuditRecord
	// GSI1PK and GSI1SK put the record in IndexByActor when its actor's
	// history lists it (core.AuditRecord.InActorHistory); a record without
	// an actor is not indexed (index keys cannot be empty).
	GSI1PK string `dynamodbav:"gsi1pk,omitempty"`
	GSI1SK string `dynamodbav:"gsi1sk,omitempty"`
	// Every record is in IndexTime under its audit counter (auditCounter),
	// which CountAudit counts.
	timeIndexed
}

// auditCounter is the IndexTime keys of record a: the bucket of its UTC
// day, StatKey and patient's shard, and its time in epoch seconds rounded
// down (rounding up could carry 23:59:59.5 into the next day).
func auditCounter(a core.AuditRecord) timeIndexed {
	return indexedAt(AuditBucket(a.At, a.StatKey(), AuditShard(a.PatientID)), a.At.Unix())
}

func auditItemOf(a core.AuditRecord) auditItem {
	it := auditItem{keyed: keysOf(storekeys.AuditRecordKey(a.PatientID, a.Seq)), AuditRecord: storeitem.AuditRecordOf(a), timeIndexed: auditCounter(a)}
	if a.InActorHistory() {
		ak := storekeys.ActorIndexKey(a.ActorID, a.At, a.PatientID, a.Seq)
		it.GSI1PK, it.GSI1SK = ak.PK, ak.SK
	}
	return it
}

// headItem is the head item of an audit partition: the last link.
type headItem struct {
	keyed
	storeitem.ChainHead
}

type shareItem struct {
	keyed
	storeitem.Share
	// The share's entries in IndexSharesByPatient (gsi1) and
	// IndexSharesByGrantee (gsi2).
	GSI1PK string `dynamodbav:"gsi1pk"`
	GSI1SK string `dynamodbav:"gsi1sk"`
	GSI2PK string `dynamodbav:"gsi2pk"`
	GSI2SK string `dynamodbav:"gsi2sk"`
	expiring
}

func shareItemOf(s core.Share) shareItem {
	byPatient := storekeys.SharesByPatientKey(s.PatientID, s.CreatedAt, s.ID)
	byGrantee := storekeys.SharesByGranteeKey(s.ProfessionalID, s.CreatedAt, s.ID)
	return shareItem{keysOf(storekeys.ShareKey(s.ID)), storeitem.ShareOf(s),
		byPatient.PK, byPatient.SK, byGrantee.PK, byGrantee.SK, shareExpiry(s.Status, s.ExpiresAt)}
}

// idempotencyItem is a patient's claim of an idempotency key; TTL deletes
// it once it has expired (an expired claim counts as absent).
type idempotencyItem struct {
	keyed
	storeitem.IdempotencyClaim
	TTL int64 `dynamodbav:"ttl"`
}

func idempotencyItemOf(s core.Share) idempotencyItem {
	return idempotencyItem{keysOf(storekeys.IdempotencyKey(s.PatientID, s.IdempotencyKey)), storeitem.ClaimOf(s), epochCeil(storeitem.ClaimExpiry(s))}
}

// accessItem is an access with its snapshot of the share. It is not in
// IndexTime: nothing but its TTL has to happen when it expires.
type accessItem struct {
	keyed
	storeitem.Access
	TTL int64 `dynamodbav:"ttl"`
}

func accessItemOf(a core.Access) accessItem {
	return accessItem{keysOf(storekeys.AccessKey(a.ID)), storeitem.AccessOf(a), epochCeil(a.ExpiresAt.Add(GrantTTLGrace))}
}

// ephemeralKeyItem is an ephemeral key. It stays in IndexTime (due at its
// expiry), issued or used, until the cleanup job or TTL deletes it.
type ephemeralKeyItem struct {
	keyed
	storeitem.EphemeralKey
	expiring
}

func ephemeralKeyItemOf(k core.EphemeralKey) ephemeralKeyItem {
	return ephemeralKeyItem{keysOf(storekeys.EphemeralKeyKey(k.ID)), storeitem.EphemeralKeyOf(k), expiring{
		timeIndexed: dueAt(core.DueKey, k.ExpiresAt),
		TTL:         epochCeil(k.ExpiresAt.Add(GrantTTLGrace)),
	}}
}

// inboxItem is a notification in its recipient's inbox. Until the
// notification is published it is in IndexTime, due at its creation (the
// cleanup job hands it to the notifier again); MarkPublished removes it.
type inboxItem struct {
	keyed
	storeitem.InboxItem
	timeIndexed
}

// inboxItemOf is the new, unread and unpublished inbox item of n.
func inboxItemOf(n core.Notification) inboxItem {
	return inboxItem{keysOf(storekeys.InboxKey(n.RecipientID, n.ID)), storeitem.InboxItemOf(core.InboxItem{Notification: n}), dueAt(core.DueNotification, n.CreatedAt)}
}

// reportItem is the report of one UTC day.
type reportItem struct {
	keyed
	storeitem.DailyReport
}

func reportItemOf(r core.DailyReport) reportItem {
	return reportItem{keysOf(storekeys.DailyReportKey(r.Day)), storeitem.DailyReportOf(r)}
}

// Attribute names used in expressions beyond the key and index names.
const (
	attrStatus          = "status"
	attrSize            = "size"
	attrSHA256          = "sha256"
	attrUploadExpiresAt = "upload_expires_at"
	attrUpdatedAt       = "updated_at"
	attrPatientID       = "patient_id"
	attrImageCount      = "image_count"
	attrCreatedAt       = "created_at"
	attrParticipantsKey = "participants_key"
	attrSeq             = "seq"
	attrHash            = "hash"
	attrProfessionalID  = "professional_id"
	attrShareID         = "share_id"
	attrShareExpiresAt  = "share_expires_at"
	attrKeyExpiresAt    = "key_expires_at"
	attrClaimExpiresAt  = "claim_expires_at"
	attrMaxViews        = "max_views"
	attrViewsUsed       = "views_used"
	attrMaxDevices      = "max_devices"
	attrDevices         = "devices"
	attrRevokedAt       = "revoked_at"
	attrRevokedBy       = "revoked_by"
	attrRevokeReason    = "revoke_reason"
	attrUsedAt          = "used_at"
	attrRead            = "read"
	attrPublished       = "published"
	attrScore           = "score"
	attrFlags           = "flags" // string set of the signal keys AddSuspicion counted
	attrTallyCount      = "n"     // a tally's count
	attrWatermark       = "at"    // a watermark's time
	attrKind            = "kind"  // a watermark's kind
)

// item is one DynamoDB item.
type item = map[string]types.AttributeValue

// marshal encodes v (one of the item shapes) as an item.
func marshal(v any) (item, error) {
	m, err := attributevalue.MarshalMap(v)
	if err != nil {
		return nil, core.ErrInternal(err, "encode item")
	}
	return m, nil
}

// unmarshal decodes an item into v, and reports a corrupt item as
// KindInternal naming its key.
func unmarshal(it item, v any) error {
	if err := attributevalue.UnmarshalMap(it, v); err != nil {
		return core.ErrInternal(err, "item %s is corrupt", describeKey(it))
	}
	return nil
}

// corrupt reports an item whose attributes decoded but did not make a value.
func corrupt(it item, err error) error {
	return core.ErrInternal(err, "item %s is corrupt", describeKey(it))
}

func describeKey(it item) string {
	var pk, sk string
	if v, ok := it[AttrPK].(*types.AttributeValueMemberS); ok {
		pk = v.Value
	}
	if v, ok := it[AttrSK].(*types.AttributeValueMemberS); ok {
		sk = v.Value
	}
	return fmt.Sprintf("%q %q", pk, sk)
}

// shape is one of storeitem's stored shapes, which makes entity E.
type shape[E any] interface{ Entity() (E, error) }

// decode reads an item as its stored shape S (the attributes that are not
// the shape's, keys and indexes, are left) and makes its entity.
func decode[S shape[E], E any](it item) (E, error) {
	var s S
	if err := unmarshal(it, &s); err != nil {
		var zero E
		return zero, err
	}
	e, err := s.Entity()
	if err != nil {
		return e, corrupt(it, err)
	}
	return e, nil
}

func decodePhoto(it item) (core.Photo, error) { return decode[storeitem.Photo](it) }
func decodeAppointment(it item) (core.Appointment, error) {
	return decode[storeitem.Appointment](it)
}
func decodeChatImage(it item) (core.ChatImage, error) { return decode[storeitem.ChatImage](it) }
func decodeAudit(it item) (core.AuditRecord, error)   { return decode[storeitem.AuditRecord](it) }
func decodeShare(it item) (core.Share, error)         { return decode[storeitem.Share](it) }
func decodeAccess(it item) (core.Access, error)       { return decode[storeitem.Access](it) }
func decodeInboxItem(it item) (core.InboxItem, error) { return decode[storeitem.InboxItem](it) }
func decodeReport(it item) (core.DailyReport, error)  { return decode[storeitem.DailyReport](it) }
func decodeEphemeralKey(it item) (core.EphemeralKey, error) {
	return decode[storeitem.EphemeralKey](it)
}

// decodeHead decodes a head item; no item is the zero head of an empty
// chain.
func decodeHead(it item) (core.ChainHead, error) {
	if len(it) == 0 {
		return core.ChainHead{}, nil
	}
	return decode[storeitem.ChainHead](it)
}

func decodeIdempotency(it item) (storeitem.IdempotencyClaim, error) {
	var r storeitem.IdempotencyClaim
	err := unmarshal(it, &r)
	return r, err
}

// Attribute value constructors for expressions.
func avS(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func avB(b []byte) types.AttributeValue {
	if b == nil {
		b = []byte{}
	}
	return &types.AttributeValueMemberB{Value: b}
}
func avN(n string) types.AttributeValue { return &types.AttributeValueMemberN{Value: n} }

// avTime is a time as stored (storeitem.FormatTime), for conditions.
func avTime(t time.Time) types.AttributeValue { return avS(storeitem.FormatTime(t)) }

// keyItem is the key attributes of k.
func keyItem(k storekeys.Key) item { return item{AttrPK: avS(k.PK), AttrSK: avS(k.SK)} }
