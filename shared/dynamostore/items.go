package dynamostore

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/storekeys"
)

// The item shapes, one per entity. Attribute names are those of the embedded
// store's records (boltstore/records.go) plus the key, index and TTL
// attributes. Times are fixed-width RFC 3339 strings in UTC with nine
// fractional digits: they round-trip to the nanosecond (zero time included)
// and sort as strings in time order, which the upload-window condition
// relies on.

// timeLayout formats every stored time.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// timeField is a stored time and the field it decodes into.
type timeField struct {
	stored string
	dst    *time.Time
}

// parseTimes decodes stored times into their fields, stopping at the first
// that does not parse.
func parseTimes(fields ...timeField) error {
	for _, f := range fields {
		t, err := parseTime(f.stored)
		if err != nil {
			return err
		}
		*f.dst = t
	}
	return nil
}

// nonNil makes a nil byte slice empty, so that it is stored as an empty B
// (which a condition can compare) rather than NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

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

type photoItem struct {
	PK              string `dynamodbav:"pk"`
	SK              string `dynamodbav:"sk"`
	OwnerID         string `dynamodbav:"owner_id"`
	ID              string `dynamodbav:"photo_id"`
	Angle           string `dynamodbav:"angle"`
	ContentType     string `dynamodbav:"content_type"`
	Size            int64  `dynamodbav:"size"`
	SHA256          []byte `dynamodbav:"sha256"`
	WrappedKeyID    string `dynamodbav:"wrapped_key_id"`
	WrappedKey      []byte `dynamodbav:"wrapped_key,omitempty"`
	Metadata        []byte `dynamodbav:"metadata,omitempty"`
	Status          string `dynamodbav:"status"`
	CreatedAt       string `dynamodbav:"created_at"`
	UploadExpiresAt string `dynamodbav:"upload_expires_at"`
	UpdatedAt       string `dynamodbav:"updated_at"`
	expiring
}

func photoItemOf(p core.Photo) photoItem {
	k := storekeys.PhotoKey(p.OwnerID, p.ID)
	return photoItem{
		PK:              k.PK,
		SK:              k.SK,
		OwnerID:         p.OwnerID,
		ID:              p.ID,
		Angle:           string(p.Angle),
		ContentType:     p.ContentType,
		Size:            p.Size,
		SHA256:          nonNil(p.SHA256),
		WrappedKeyID:    p.WrappedKey.KeyID,
		WrappedKey:      p.WrappedKey.Ciphertext,
		Metadata:        p.Metadata,
		Status:          string(p.Status),
		CreatedAt:       formatTime(p.CreatedAt),
		UploadExpiresAt: formatTime(p.UploadExpiresAt),
		UpdatedAt:       formatTime(p.UpdatedAt),
		expiring:        uploadExpiry(p.Status, p.UploadExpiresAt),
	}
}

func (r photoItem) photo() (core.Photo, error) {
	p := core.Photo{
		ID:          r.ID,
		OwnerID:     r.OwnerID,
		Angle:       core.Angle(r.Angle),
		ContentType: r.ContentType,
		Size:        r.Size,
		SHA256:      r.SHA256,
		WrappedKey:  core.WrappedKey{KeyID: r.WrappedKeyID, Ciphertext: r.WrappedKey},
		Metadata:    r.Metadata,
		Status:      core.UploadStatus(r.Status),
	}
	err := parseTimes(timeField{r.CreatedAt, &p.CreatedAt}, timeField{r.UploadExpiresAt, &p.UploadExpiresAt}, timeField{r.UpdatedAt, &p.UpdatedAt})
	return p, err
}

type appointmentItem struct {
	PK              string   `dynamodbav:"pk"`
	SK              string   `dynamodbav:"sk"`
	ID              string   `dynamodbav:"appointment_id"`
	ClinicID        string   `dynamodbav:"clinic_id"`
	PatientID       string   `dynamodbav:"patient_id"`
	ProfessionalIDs []string `dynamodbav:"professional_ids"`
	StartsAt        string   `dynamodbav:"starts_at"`
	EndsAt          string   `dynamodbav:"ends_at"`
	ImageCount      int      `dynamodbav:"image_count"`
	CreatedAt       string   `dynamodbav:"created_at"`
	UpdatedAt       string   `dynamodbav:"updated_at"`
	// ParticipantsKey is the canonical form of the participant set, so that
	// a condition can compare sets: see participantsKey.
	ParticipantsKey string `dynamodbav:"participants_key"`
}

func appointmentItemOf(a core.Appointment) appointmentItem {
	k := storekeys.AppointmentKey(a.ClinicID, a.ID)
	return appointmentItem{
		PK:              k.PK,
		SK:              k.SK,
		ID:              a.ID,
		ClinicID:        a.ClinicID,
		PatientID:       a.PatientID,
		ProfessionalIDs: a.ProfessionalIDs,
		StartsAt:        formatTime(a.StartsAt),
		EndsAt:          formatTime(a.EndsAt),
		ImageCount:      a.ImageCount,
		CreatedAt:       formatTime(a.CreatedAt),
		UpdatedAt:       formatTime(a.UpdatedAt),
		ParticipantsKey: participantsKey(a.PatientID, a.ProfessionalIDs),
	}
}

func (r appointmentItem) appointment() (core.Appointment, error) {
	a := core.Appointment{
		ID:              r.ID,
		ClinicID:        r.ClinicID,
		PatientID:       r.PatientID,
		ProfessionalIDs: r.ProfessionalIDs,
		ImageCount:      r.ImageCount,
	}
	err := parseTimes(timeField{r.StartsAt, &a.StartsAt}, timeField{r.EndsAt, &a.EndsAt}, timeField{r.CreatedAt, &a.CreatedAt}, timeField{r.UpdatedAt, &a.UpdatedAt})
	return a, err
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
	PK              string   `dynamodbav:"pk"`
	SK              string   `dynamodbav:"sk"`
	ID              string   `dynamodbav:"image_id"`
	AppointmentID   string   `dynamodbav:"appointment_id"`
	ClinicID        string   `dynamodbav:"clinic_id"`
	PatientID       string   `dynamodbav:"patient_id"`
	UploaderID      string   `dynamodbav:"uploader_id"`
	Participants    []string `dynamodbav:"participants"`
	ContentType     string   `dynamodbav:"content_type"`
	Size            int64    `dynamodbav:"size"`
	SHA256          []byte   `dynamodbav:"sha256"`
	Status          string   `dynamodbav:"status"`
	CreatedAt       string   `dynamodbav:"created_at"`
	UploadExpiresAt string   `dynamodbav:"upload_expires_at"`
	UpdatedAt       string   `dynamodbav:"updated_at"`
	// GSI2PK and GSI2SK put the image in IndexChatImagesByAppointment
	// (storekeys.ChatImagesByAppointmentKey: its clinic's appointment),
	// from its creation on.
	GSI2PK string `dynamodbav:"gsi2pk"`
	GSI2SK string `dynamodbav:"gsi2sk"`
	expiring
}

func chatImageItemOf(c core.ChatImage) chatImageItem {
	k := storekeys.ChatImageKey(c.ID)
	ik := storekeys.ChatImagesByAppointmentKey(c.ClinicID, c.AppointmentID, c.CreatedAt, c.ID)
	return chatImageItem{
		GSI2PK:          ik.PK,
		GSI2SK:          ik.SK,
		PK:              k.PK,
		SK:              k.SK,
		ID:              c.ID,
		AppointmentID:   c.AppointmentID,
		ClinicID:        c.ClinicID,
		PatientID:       c.PatientID,
		UploaderID:      c.UploaderID,
		Participants:    c.Participants,
		ContentType:     c.ContentType,
		Size:            c.Size,
		SHA256:          nonNil(c.SHA256),
		Status:          string(c.Status),
		CreatedAt:       formatTime(c.CreatedAt),
		UploadExpiresAt: formatTime(c.UploadExpiresAt),
		UpdatedAt:       formatTime(c.UpdatedAt),
		expiring:        uploadExpiry(c.Status, c.UploadExpiresAt),
	}
}

func (r chatImageItem) chatImage() (core.ChatImage, error) {
	c := core.ChatImage{
		ID:            r.ID,
		AppointmentID: r.AppointmentID,
		ClinicID:      r.ClinicID,
		PatientID:     r.PatientID,
		UploaderID:    r.UploaderID,
		Participants:  r.Participants,
		ContentType:   r.ContentType,
		Size:          r.Size,
		SHA256:        r.SHA256,
		Status:        core.UploadStatus(r.Status),
	}
	err := parseTimes(timeField{r.CreatedAt, &c.CreatedAt}, timeField{r.UploadExpiresAt, &c.UploadExpiresAt}, timeField{r.UpdatedAt, &c.UpdatedAt})
	return c, err
}

// auditItem is an audit record as stored. Version, PhotoID, ShareID and
// Device are omitted when empty, so that a version 1 record is stored
// exactly as before versions existed.
type auditItem struct {
	PK           string `dynamodbav:"pk"`
	SK           string `dynamodbav:"sk"`
	Version      int    `dynamodbav:"v,omitempty"`
	PatientID    string `dynamodbav:"patient_id"`
	Seq          uint64 `dynamodbav:"seq"`
	At           string `dynamodbav:"at"`
	ActorID      string `dynamodbav:"actor_id"`
	ActorRole    string `dynamodbav:"actor_role"`
	Action       string `dynamodbav:"action"`
	ResourceType string `dynamodbav:"resource_type"`
	ResourceID   string `dynamodbav:"resource_id"`
	Outcome      string `dynamodbav:"outcome"`
	Reason       string `dynamodbav:"reason"`
	SourceIP     string `dynamodbav:"source_ip"`
	UserAgent    string `dynamodbav:"user_agent"`
	RequestID    string `dynamodbav:"request_id"`
	PhotoID      string `dynamodbav:"photo_id,omitempty"`
	ShareID      string `dynamodbav:"share_id,omitempty"`
	Device       string `dynamodbav:"device,omitempty"`
	PrevHash     []byte `dynamodbav:"prev_hash,omitempty"`
	Hash         []byte `dynamodbav:"hash,omitempty"`
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
	k := storekeys.AuditRecordKey(a.PatientID, a.Seq)
	it := auditItem{
		PK:           k.PK,
		SK:           k.SK,
		Version:      a.Version,
		PatientID:    a.PatientID,
		Seq:          a.Seq,
		At:           formatTime(a.At),
		ActorID:      a.ActorID,
		ActorRole:    string(a.ActorRole),
		Action:       string(a.Action),
		ResourceType: a.ResourceType,
		ResourceID:   a.ResourceID,
		Outcome:      a.Outcome,
		Reason:       a.Reason,
		SourceIP:     a.SourceIP,
		UserAgent:    a.UserAgent,
		RequestID:    a.RequestID,
		PhotoID:      a.PhotoID,
		ShareID:      a.ShareID,
		Device:       a.Device,
		PrevHash:     a.PrevHash,
		Hash:         a.Hash,
		timeIndexed:  auditCounter(a),
	}
	if a.InActorHistory() {
		ak := storekeys.ActorIndexKey(a.ActorID, a.At, a.PatientID, a.Seq)
		it.GSI1PK, it.GSI1SK = ak.PK, ak.SK
	}
	return it
}

func (r auditItem) record() (core.AuditRecord, error) {
	a := core.AuditRecord{
		Version:      r.Version,
		PatientID:    r.PatientID,
		Seq:          r.Seq,
		ActorID:      r.ActorID,
		ActorRole:    core.Role(r.ActorRole),
		Action:       core.AuditAction(r.Action),
		ResourceType: r.ResourceType,
		ResourceID:   r.ResourceID,
		Outcome:      r.Outcome,
		Reason:       r.Reason,
		SourceIP:     r.SourceIP,
		UserAgent:    r.UserAgent,
		RequestID:    r.RequestID,
		PhotoID:      r.PhotoID,
		ShareID:      r.ShareID,
		Device:       r.Device,
		PrevHash:     r.PrevHash,
		Hash:         r.Hash,
	}
	err := parseTimes(timeField{r.At, &a.At})
	return a, err
}

// headItem is the head item of an audit partition: the last link.
type headItem struct {
	PK   string `dynamodbav:"pk"`
	SK   string `dynamodbav:"sk"`
	Seq  uint64 `dynamodbav:"seq"`
	Hash []byte `dynamodbav:"hash,omitempty"`
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

func decodePhoto(it item) (core.Photo, error) {
	var r photoItem
	if err := unmarshal(it, &r); err != nil {
		return core.Photo{}, err
	}
	p, err := r.photo()
	if err != nil {
		return core.Photo{}, corrupt(it, err)
	}
	return p, nil
}

func decodeAppointment(it item) (core.Appointment, error) {
	var r appointmentItem
	if err := unmarshal(it, &r); err != nil {
		return core.Appointment{}, err
	}
	a, err := r.appointment()
	if err != nil {
		return core.Appointment{}, corrupt(it, err)
	}
	return a, nil
}

func decodeChatImage(it item) (core.ChatImage, error) {
	var r chatImageItem
	if err := unmarshal(it, &r); err != nil {
		return core.ChatImage{}, err
	}
	c, err := r.chatImage()
	if err != nil {
		return core.ChatImage{}, corrupt(it, err)
	}
	return c, nil
}

func decodeAudit(it item) (core.AuditRecord, error) {
	var r auditItem
	if err := unmarshal(it, &r); err != nil {
		return core.AuditRecord{}, err
	}
	a, err := r.record()
	if err != nil {
		return core.AuditRecord{}, corrupt(it, err)
	}
	return a, nil
}

// decodeHead decodes a head item; no item is the zero head of an empty
// chain.
func decodeHead(it item) (core.ChainHead, error) {
	if len(it) == 0 {
		return core.ChainHead{}, nil
	}
	var h headItem
	if err := unmarshal(it, &h); err != nil {
		return core.ChainHead{}, err
	}
	return core.ChainHead{Seq: h.Seq, Hash: h.Hash}, nil
}

// Attribute value constructors for expressions.
func avS(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func avB(b []byte) types.AttributeValue { return &types.AttributeValueMemberB{Value: nonNil(b)} }
func avN(n string) types.AttributeValue { return &types.AttributeValueMemberN{Value: n} }

// keyItem is the key attributes of k.
func keyItem(k storekeys.Key) item { return item{AttrPK: avS(k.PK), AttrSK: avS(k.SK)} }
