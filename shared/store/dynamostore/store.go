// Package dynamostore is the DynamoDB core.Store: one
// table (TableInput) holding the same items, under the same keys (package
// storekeys), as the embedded store (boltstore), with a by-actor index of
// the audit trail that also lists shares by patient, an index of shares by
// grantee, and a sparse index by time bucket of the items due for cleanup
// and of the audit records' daily counters.
//
// Every port method is one DynamoDB request: a conditional PutItem,
// UpdateItem or DeleteItem, a GetItem, a Query, or one TransactWriteItems.
// Reads of the table are strongly consistent. A failed condition returns the
// item as it was (ReturnValuesOnConditionCheckFailure ALL_OLD), which tells
// the method's answer (not found, conflict, the chain's current head)
// without another read. Two things may repeat the one request: a write that
// DynamoDB rejected because of a concurrent transaction, which wrote nothing
// (see retryConflicts), and a list whose page DynamoDB cut at 1 MB before it
// was full, which goes on from where it was cut.
package dynamostore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/store/storeitem"
	"github.com/medshare/medshare/shared/store/storekeys"
)

// API is the part of the DynamoDB client that the store calls;
// *dynamodb.Client satisfies it.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

// Store is the DynamoDB implementation of core.Store, every one of its
// interfaces. It is safe for concurrent use.
type Store struct {
	client          API
	table           *string
	conflictBackoff time.Duration
}

var _ core.Store = (*Store)(nil)

// New returns the store of table, which must exist as TableInput defines it
// (see EnsureTable), reached through client. It makes no request.
func New(client API, table string) *Store {
	return &Store{client: client, table: aws.String(table), conflictBackoff: conflictBackoff}
}

// pingKey is an item key that no entity uses (every partition of an entity
// has a '#'): Ping reads it.
var pingKey = storekeys.Key{PK: "PING", SK: "PING"}

// Ping checks that the table answers a read, with a GetItem of a key that
// holds nothing: a data-plane request that needs only the permissions the
// store needs anyway (unlike DescribeTable, whose control-plane quota a
// frequent health check could exhaust).
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:                s.table,
		Key:                      keyItem(pingKey),
		ProjectionExpression:     aws.String("#pk"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK},
	})
	if err != nil {
		return translate(err, "ping table %s", *s.table)
	}
	return nil
}

// get reads the item at k, strongly consistent; nil when there is none.
func (s *Store) get(ctx context.Context, k storekeys.Key) (item, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      s.table,
		Key:            keyItem(k),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, err
	}
	return out.Item, nil
}

// CreatePhoto stores a new photo with one PutItem conditional on
// attribute_not_exists(pk); KindConflict when (owner, id) exists. A PENDING
// photo carries its expiry bucket and TTL.
func (s *Store) CreatePhoto(ctx context.Context, p core.Photo) error {
	if err := storekeys.CheckIDs(p.OwnerID, p.ID); err != nil {
		return fmt.Errorf("create photo %q of %q: %w", p.ID, p.OwnerID, err)
	}
	if err := s.create(ctx, photoItemOf(p)); err != nil {
		if _, failed := conditionFailure(err); failed {
			return fmt.Errorf("create photo %s of %s: %w", p.ID, p.OwnerID, core.ErrConflict("photo %s exists", p.ID))
		}
		return translate(err, "create photo %s of %s", p.ID, p.OwnerID)
	}
	return nil
}

// create puts v as a new item, conditional on no item at its key.
func (s *Store) create(ctx context.Context, v any) error {
	it, err := marshal(v)
	if err != nil {
		return err
	}
	return s.retryConflicts(ctx, func() error {
		_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                s.table,
			Item:                     it,
			ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": AttrPK},
		})
		return err
	})
}

// readyUpdate is the one UpdateItem that moves an upload (photo or chat image)
// at k from PENDING to READY: the condition holds only for a PENDING item in
// its window whose size and SHA-256 match the observed object, and the update
// drops the item's expiry attributes (it leaves IndexTime and TTL). When
// the condition fails the item as it was comes back, for readyAnswer.
func (s *Store) readyUpdate(k storekeys.Key, observed core.BlobInfo, now time.Time) *dynamodb.UpdateItemInput {
	return &dynamodb.UpdateItemInput{
		TableName:        s.table,
		Key:              keyItem(k),
		UpdateExpression: aws.String("SET #status = :ready, #updated = :now REMOVE #bucket, #timeat, #ttl"),
		ConditionExpression: aws.String("attribute_exists(#pk) AND #status = :pending AND #window > :now" +
			" AND #size = :size AND #sha = :sha"),
		ExpressionAttributeNames: map[string]string{
			"#pk": AttrPK, "#status": attrStatus, "#updated": attrUpdatedAt, "#window": attrUploadExpiresAt,
			"#size": attrSize, "#sha": attrSHA256, "#bucket": AttrTimeBucket, "#timeat": AttrTimeAt, "#ttl": AttrTTL,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":ready":   avS(string(core.StatusReady)),
			":pending": avS(string(core.StatusPending)),
			":now":     avTime(now),
			":size":    avN(strconv.FormatInt(observed.Size, 10)),
			":sha":     avB(observed.SHA256),
		},
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
}

// upload is what readyAnswer needs to know of a photo or chat image.
type upload struct {
	status    core.UploadStatus
	size      int64
	sha256    []byte
	expiresAt time.Time
}

// readyAnswer tells what a failed readyUpdate means, from the item as it was
// (exists is false when there was none), in the order of the contract: a
// READY upload whose object matches is the idempotent success (ok); a READY
// one that does not is KindConflict; a PENDING one past its window is
// KindNotFound whatever was observed; a mismatch in the window is
// KindConflict.
func readyAnswer(what, id string, exists bool, u upload, observed core.BlobInfo, now time.Time) (ok bool, err error) {
	matches := observed.Matches(u.size, u.sha256)
	switch {
	case !exists:
		return false, core.ErrNotFound("%s %s not found", what, id)
	case u.status == core.StatusReady && matches:
		return true, nil
	case u.status == core.StatusReady:
		return false, core.ErrConflict("the object does not match ready %s %s", what, id)
	case u.status == core.StatusImported:
		return false, core.ErrConflict("%s %s is imported from the legacy chat: only its migration completes it", what, id)
	case u.status != core.StatusPending:
		return false, core.ErrInternal(nil, "%s %s has status %q", what, id, u.status)
	case !now.Before(u.expiresAt):
		return false, core.ErrNotFound("%s %s not found", what, id)
	case !matches:
		return false, core.ErrConflict("the object does not match %s %s", what, id)
	}
	return false, core.ErrInternal(nil, "%s %s: the ready condition failed on a matching pending upload in its window", what, id)
}

// MarkPhotoReady moves a PENDING photo whose object matches to READY with one
// conditional UpdateItem; see core.PhotoStore.
func (s *Store) MarkPhotoReady(ctx context.Context, owner, id string, observed core.BlobInfo, now time.Time) (core.Photo, error) {
	return markReady(ctx, s, "photo", id, storekeys.PhotoKey(owner, id), observed, now, decodePhoto,
		func(p core.Photo) upload { return upload{p.Status, p.Size, p.SHA256, p.UploadExpiresAt} }, owner)
}

// markReady is MarkPhotoReady and MarkChatImageReady: the readyUpdate of
// the upload at k, entity what id, and readyAnswer when its condition
// fails. decode reads the upload's item, and up tells readyAnswer about
// it. It checks id and the other ids k holds (storekeys.CheckIDs) first.
func markReady[T any](ctx context.Context, s *Store, what, id string, k storekeys.Key, observed core.BlobInfo, now time.Time,
	decode func(item) (T, error), up func(T) upload, others ...string) (T, error) {
	var zero T
	if err := storekeys.CheckIDs(append(others, id)...); err != nil {
		return zero, fmt.Errorf("mark %s %q ready: %w", what, id, err)
	}
	in := s.readyUpdate(k, observed, now)
	var out *dynamodb.UpdateItemOutput
	err := s.retryConflicts(ctx, func() (err error) {
		out, err = s.client.UpdateItem(ctx, in)
		return err
	})
	if old, failed := conditionFailure(err); failed {
		var v T
		if len(old) > 0 {
			if v, err = decode(old); err != nil {
				return zero, fmt.Errorf("mark %s %s ready: %w", what, id, err)
			}
		}
		ok, err := readyAnswer(what, id, len(old) > 0, up(v), observed, now)
		if err != nil {
			return zero, fmt.Errorf("mark %s %s ready: %w", what, id, err)
		}
		if ok {
			return v, nil
		}
	}
	if err != nil {
		return zero, translate(err, "mark %s %s ready", what, id)
	}
	v, err := decode(out.Attributes)
	if err != nil {
		return zero, fmt.Errorf("mark %s %s ready: %w", what, id, err)
	}
	return v, nil
}

// GetPhoto returns the photo (owner, id) or KindNotFound, with one strongly
// consistent GetItem.
func (s *Store) GetPhoto(ctx context.Context, owner, id string) (core.Photo, error) {
	return getOne(ctx, s, "photo", id, storekeys.PhotoKey(owner, id), decodePhoto, owner)
}

// ListPhotos returns one page of owner's photos ordered by id, with a Query
// of owner's partition.
func (s *Store) ListPhotos(ctx context.Context, owner string, page core.Page) ([]core.Photo, string, error) {
	list := storekeys.List{PK: storekeys.PhotoPKPrefix + owner, SKPrefix: storekeys.PhotoSKPrefix}
	return listPartition(ctx, s, list, page, "list photos of", owner, decodePhoto)
}

// listPartition is queryList after page's cursor of list, whose owner it
// checks first; op and owner name the listing (storekeys.List.Start).
func listPartition[T any](ctx context.Context, s *Store, list storekeys.List, page core.Page, op, owner string, decode func(item) (T, error)) ([]T, string, error) {
	after, err := list.Start(op, owner, page.Cursor)
	if err != nil {
		return nil, "", err
	}
	return queryList(ctx, s, list, after, page, op+" "+owner, decode)
}

// queryList reads one page of list, a partition of the table, after
// position after, with a strongly consistent Query, and decodes its items;
// and returns the next page's cursor ("" after the last page). what names
// the listing in errors.
func queryList[T any](ctx context.Context, s *Store, list storekeys.List, after string, page core.Page, what string, decode func(item) (T, error)) ([]T, string, error) {
	q := s.partitionQuery(list.PK, list.SKPrefix, !list.Desc)
	if after != "" {
		q.ExclusiveStartKey = keyItem(storekeys.Key{PK: list.PK, SK: after})
	}
	return queryDecoded(ctx, s, q, AttrSK, list, page, what, decode)
}

// queryDecoded runs q for one page (queryPage) and decodes its items; and
// returns the cursor of list after the page, from the sort attribute
// cursorAttr of its last item. what names the listing in errors.
func queryDecoded[T any](ctx context.Context, s *Store, q *dynamodb.QueryInput, cursorAttr string, list storekeys.List, page core.Page,
	what string, decode func(item) (T, error)) ([]T, string, error) {
	items, next, err := s.queryPage(ctx, q, pageLimit(page), cursorAttr)
	if err != nil {
		return nil, "", translate(err, "%s", what)
	}
	out, err := decodeAll(items, decode)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", what, err)
	}
	return out, list.Next(next), nil
}

// DeletePhoto removes the photo (owner, id) with one DeleteItem conditional
// on its existence, and returns it as it was (ReturnValues ALL_OLD).
func (s *Store) DeletePhoto(ctx context.Context, owner, id string) (core.Photo, error) {
	if err := storekeys.CheckIDs(owner, id); err != nil {
		return core.Photo{}, fmt.Errorf("delete photo %q: %w", id, err)
	}
	var out *dynamodb.DeleteItemOutput
	err := s.retryConflicts(ctx, func() (err error) {
		out, err = s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName:                s.table,
			Key:                      keyItem(storekeys.PhotoKey(owner, id)),
			ConditionExpression:      aws.String("attribute_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": AttrPK},
			ReturnValues:             types.ReturnValueAllOld,
		})
		return err
	})
	if _, failed := conditionFailure(err); failed {
		return core.Photo{}, fmt.Errorf("delete photo %s: %w", id, core.ErrNotFound("photo %s not found", id))
	}
	if err != nil {
		return core.Photo{}, translate(err, "delete photo %s", id)
	}
	p, err := decodePhoto(out.Attributes)
	if err != nil {
		return core.Photo{}, fmt.Errorf("delete photo %s: %w", id, err)
	}
	return p, nil
}

// PutAppointment creates or replaces clinic a.ClinicID's appointment a.ID
// with one UpdateItem that sets every field but created_at and
// image_count, which it sets only when absent. Its condition is that the
// item is absent, or that it has no chat images or keeps the same
// participant set (compared through participants_key). Another clinic's
// appointment with the id is another item, which the UpdateItem never
// touches. ReturnValues ALL_OLD tells whether it created the item.
func (s *Store) PutAppointment(ctx context.Context, a core.Appointment) (bool, error) {
	if err := storekeys.CheckIDs(a.ID, a.ClinicID); err != nil {
		return false, fmt.Errorf("put appointment %q: %w", a.ID, err)
	}
	fields, err := marshal(appointmentItemOf(a))
	if err != nil {
		return false, fmt.Errorf("put appointment %s: %w", a.ID, err)
	}
	names := map[string]string{
		"#pk": AttrPK, "#count": attrImageCount, "#pkey": attrParticipantsKey, "#created": attrCreatedAt,
	}
	values := map[string]types.AttributeValue{
		":pkey": fields[attrParticipantsKey], ":created": fields[attrCreatedAt], ":zero": avN("0"),
	}
	set := []string{"#created = if_not_exists(#created, :created)", "#count = if_not_exists(#count, :zero)"}
	for i, name := range slices.Sorted(maps.Keys(fields)) {
		switch name {
		case AttrPK, AttrSK, attrCreatedAt, attrImageCount:
			continue
		}
		n, v := fmt.Sprintf("#f%d", i), fmt.Sprintf(":f%d", i)
		names[n], values[v] = name, fields[name]
		set = append(set, n+" = "+v)
	}
	in := &dynamodb.UpdateItemInput{
		TableName:                           s.table,
		Key:                                 keyItem(storekeys.AppointmentKey(a.ClinicID, a.ID)),
		UpdateExpression:                    aws.String("SET " + strings.Join(set, ", ")),
		ConditionExpression:                 aws.String("attribute_not_exists(#pk) OR #count = :zero OR #pkey = :pkey"),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValues:                        types.ReturnValueAllOld,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	var out *dynamodb.UpdateItemOutput
	err = s.retryConflicts(ctx, func() (err error) {
		out, err = s.client.UpdateItem(ctx, in)
		return err
	})
	if old, failed := conditionFailure(err); failed {
		if len(old) == 0 {
			return false, core.ErrInternal(err, "put appointment %s: the condition failed on no item", a.ID)
		}
		return false, fmt.Errorf("put appointment %s: %w", a.ID,
			core.ErrConflict("appointment %s has chat images: its participants cannot change", a.ID))
	}
	if err != nil {
		return false, translate(err, "put appointment %s", a.ID)
	}
	return len(out.Attributes) == 0, nil
}

// GetAppointment returns clinicID's appointment id or KindNotFound, with one
// strongly consistent GetItem.
func (s *Store) GetAppointment(ctx context.Context, clinicID, id string) (core.Appointment, error) {
	return getOne(ctx, s, "appointment", id, storekeys.AppointmentKey(clinicID, id), decodeAppointment, clinicID)
}

// FindAppointments returns every clinic's appointment id, ordered by
// clinic, with a strongly consistent Query of the id's partition (one
// request, and one more per further 1 MB).
func (s *Store) FindAppointments(ctx context.Context, id string) ([]core.Appointment, error) {
	if err := storekeys.CheckIDs(id); err != nil {
		return nil, fmt.Errorf("find appointment %q: %w", id, err)
	}
	q := s.partitionQuery(storekeys.AppointmentPKPrefix+id, storekeys.AppointmentSKPrefix, true)
	var items []item
	for {
		out, err := s.client.Query(ctx, q)
		if err != nil {
			return nil, translate(err, "find appointment %s", id)
		}
		items = append(items, out.Items...)
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		q.ExclusiveStartKey = out.LastEvaluatedKey
	}
	out, err := decodeAll(items, decodeAppointment)
	if err != nil {
		return nil, fmt.Errorf("find appointment %s: %w", id, err)
	}
	return out, nil
}

// CreateChatImage stores a new chat image and counts it on its appointment in
// one TransactWriteItems: a Put of the image conditional on its absence, and
// an Update that adds one to the appointment's image_count, conditional on
// the appointment existing with the image's patient and participant set.
// The cancellation reasons tell the answer: the image exists (KindConflict),
// the appointment is gone (the update's ALL_OLD item is empty: KindNotFound),
// or its participants changed (KindConflict).
func (s *Store) CreateChatImage(ctx context.Context, img core.ChatImage) error {
	if err := storekeys.CheckChatImageIDs(img); err != nil {
		return fmt.Errorf("create chat image %q: %w", img.ID, err)
	}
	it, err := marshal(chatImageItemOf(img))
	if err != nil {
		return fmt.Errorf("create chat image %s: %w", img.ID, err)
	}
	items := []types.TransactWriteItem{s.putNew(it), s.countImage(img)}
	err = s.transact(ctx, items)
	if reasons, failed := cancellation(err, len(items)); failed {
		var answer error
		switch {
		case conditionFailed(reasons[0]):
			answer = core.ErrConflict("chat image %s exists", img.ID)
		default:
			answer = countRefused(img, reasons[1].Item)
		}
		return fmt.Errorf("create chat image %s in appointment %s: %w", img.ID, img.AppointmentID, answer)
	}
	if err != nil {
		return translate(err, "create chat image %s in appointment %s", img.ID, img.AppointmentID)
	}
	return nil
}

// countImage is the Update that counts img on its appointment (ADD one to
// image_count), conditional on the appointment existing with img's patient
// and participant set; ALL_OLD, for countRefused.
func (s *Store) countImage(img core.ChatImage) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName:           s.table,
		Key:                 keyItem(storekeys.AppointmentKey(img.ClinicID, img.AppointmentID)),
		UpdateExpression:    aws.String("ADD #count :one"),
		ConditionExpression: aws.String("attribute_exists(#pk) AND #pkey = :pkey AND #patient = :patient"),
		ExpressionAttributeNames: map[string]string{
			"#pk": AttrPK, "#count": attrImageCount, "#pkey": attrParticipantsKey, "#patient": attrPatientID,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one": avN("1"), ":pkey": avS(imageParticipantsKey(img.Participants)), ":patient": avS(img.PatientID),
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}
}

// countRefused tells why countImage's condition failed, from the
// appointment as it was (old): it is gone (KindNotFound), or its
// participants changed (KindConflict).
func countRefused(img core.ChatImage, old item) error {
	if len(old) == 0 {
		return core.ErrNotFound("appointment %s not found", img.AppointmentID)
	}
	return core.ErrConflict("the participants of appointment %s changed", img.AppointmentID)
}

// transact runs one TransactWriteItems of items, repeated on transaction
// conflicts. Each attempt is a fresh input: the SDK fills in the
// ClientRequestToken (so that its own retries of one attempt are idempotent)
// on the input it is given.
func (s *Store) transact(ctx context.Context, items []types.TransactWriteItem) error {
	return s.retryConflicts(ctx, func() error {
		_, err := s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		return err
	})
}

// GetChatImage returns the chat image or KindNotFound, with one strongly
// consistent GetItem.
func (s *Store) GetChatImage(ctx context.Context, id string) (core.ChatImage, error) {
	return getOne(ctx, s, "chat image", id, storekeys.ChatImageKey(id), decodeChatImage)
}

// MarkChatImageReady is MarkPhotoReady for chat images: one conditional
// UpdateItem.
func (s *Store) MarkChatImageReady(ctx context.Context, id string, observed core.BlobInfo, now time.Time) (core.ChatImage, error) {
	return markReady(ctx, s, "chat image", id, storekeys.ChatImageKey(id), observed, now, decodeChatImage,
		func(c core.ChatImage) upload { return upload{c.Status, c.Size, c.SHA256, c.UploadExpiresAt} })
}

// AuditHead returns the head of patient's chain with one strongly consistent
// GetItem; the zero ChainHead when the chain is empty.
func (s *Store) AuditHead(ctx context.Context, patientID string) (core.ChainHead, error) {
	if err := storekeys.CheckIDs(patientID); err != nil {
		return core.ChainHead{}, fmt.Errorf("audit head of %q: %w", patientID, err)
	}
	it, err := s.get(ctx, storekeys.AuditHeadKey(patientID))
	if err != nil {
		return core.ChainHead{}, translate(err, "audit head of %s", patientID)
	}
	head, err := decodeHead(it)
	if err != nil {
		return core.ChainHead{}, fmt.Errorf("audit head of %s: %w", patientID, err)
	}
	return head, nil
}

// AppendAudit appends rec with one TransactWriteItems: the inbox item of
// each of notes, conditional on its absence, then the two writes of
// auditWrites. When the head's condition fails its ALL_OLD item is the
// current head, returned in *core.HeadMismatchError without another read;
// an existing notification id is KindConflict; nothing is written.
func (s *Store) AppendAudit(ctx context.Context, rec core.AuditRecord, notes ...core.Notification) error {
	return s.stateChange(ctx, nil, notes, rec,
		func([]types.CancellationReason) error { return nil },
		"append audit %d to %s", rec.Seq, rec.PatientID)
}

// auditWrites returns the two writes that append rec to its chain, for
// AppendAudit and for every transaction that records a change with its
// audit record (see core.ShareStore and core.JobStore): a Put of the record
// (with its IndexByActor keys and its audit counter in IndexTime, so that
// CountAudit counts every record however it was written) conditional on no
// record at its sequence, then a Put
// of the head conditional on the head being exactly (rec.Seq-1,
// rec.PrevHash) — absent when that is the zero head — which returns the
// head as it was when the condition fails (ALL_OLD). A transaction puts
// them last, in this order, so that auditAnswer finds their reasons at the
// end of the transaction's.
func (s *Store) auditWrites(rec core.AuditRecord) ([]types.TransactWriteItem, error) {
	if err := storekeys.CheckIDs(rec.PatientID); err != nil {
		return nil, fmt.Errorf("audit record: %w", err)
	}
	if rec.ActorID != "" {
		if err := storekeys.CheckIDs(rec.ActorID); err != nil {
			return nil, fmt.Errorf("audit record: actor: %w", err)
		}
	}
	recItem, err := marshal(auditItemOf(rec))
	if err != nil {
		return nil, err
	}
	hk := storekeys.AuditHeadKey(rec.PatientID)
	headItemAV, err := marshal(headItem{keysOf(hk), storeitem.HeadOf(rec)})
	if err != nil {
		return nil, err
	}
	// The head the record follows. rec.Seq 0 follows no head: prev wraps to
	// the largest sequence, which no chain reaches, so the condition fails.
	prev := rec.Seq - 1
	headPut := &types.Put{
		TableName:                           s.table,
		Item:                                headItemAV,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	if prev == 0 && len(rec.PrevHash) == 0 {
		headPut.ConditionExpression = aws.String("attribute_not_exists(#pk)")
		headPut.ExpressionAttributeNames = map[string]string{"#pk": AttrPK}
	} else {
		headPut.ConditionExpression = aws.String("#seq = :prev AND #hash = :prevhash")
		headPut.ExpressionAttributeNames = map[string]string{"#seq": attrSeq, "#hash": attrHash}
		headPut.ExpressionAttributeValues = map[string]types.AttributeValue{
			":prev": avN(strconv.FormatUint(prev, 10)), ":prevhash": avB(rec.PrevHash),
		}
	}
	return []types.TransactWriteItem{
		{Put: &types.Put{
			TableName:                s.table,
			Item:                     recItem,
			ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": AttrPK},
		}},
		{Put: headPut},
	}, nil
}

// auditAnswer tells what the reasons of a cancelled transaction that ends
// with auditWrites mean for the audit record: nil when neither of its
// writes failed; *core.HeadMismatchError with the current head (from the
// head's ALL_OLD item) when the head moved; KindInternal when only the
// record's condition failed, which means a record exists beyond the head.
// cause is the cancellation.
func auditAnswer(rec core.AuditRecord, reasons []types.CancellationReason, cause error) error {
	record, head := reasons[len(reasons)-2], reasons[len(reasons)-1]
	switch {
	case conditionFailed(head):
		current, err := decodeHead(head.Item)
		if err != nil {
			return err
		}
		return &core.HeadMismatchError{PatientID: rec.PatientID, Current: current}
	case conditionFailed(record):
		return core.ErrInternal(cause, "audit record %d of %s exists beyond the head", rec.Seq, rec.PatientID)
	}
	return nil
}

// ListAudit returns one page of patient's chain in sequence order, or newest
// first, with a Query of the patient's partition (the head, whose sort key
// is not SEQ#…, is not part of it).
func (s *Store) ListAudit(ctx context.Context, patientID string, newestFirst bool, page core.Page) ([]core.AuditRecord, string, error) {
	list := storekeys.List{PK: storekeys.AuditPKPrefix + patientID, SKPrefix: storekeys.AuditSeqSKPrefix, Desc: newestFirst}
	after, err := list.Start("list audit of", patientID, page.Cursor)
	if err != nil {
		return nil, "", err
	}
	if after != "" {
		if _, err := storekeys.ParseSeqSK(after); err != nil {
			return nil, "", fmt.Errorf("list audit of %s: %w", patientID, core.ErrInvalid("cursor is malformed"))
		}
	}
	return queryList(ctx, s, list, after, page, "list audit of "+patientID, decodeAudit)
}

// ListAuditByActor returns one page of actorID's records across all chains,
// newest first, with Queries of IndexByActor. The cursor holds a
// storekeys.ActorPos, not the index key of the page's last record, which
// would name its patient (and rebuilding an ExclusiveStartKey needs that
// record's table key, which holds the patient id too). So the next page is
// a Query of the sort keys below the position's bound, which skips the
// records at the position's time that were listed already: no extra
// request, only those few records read again. Index reads are eventually
// consistent: a record appended a moment ago may be missing from the page.
func (s *Store) ListAuditByActor(ctx context.Context, actorID string, page core.Page) ([]core.AuditRecord, string, error) {
	if err := storekeys.CheckIDs(actorID); err != nil {
		return nil, "", fmt.Errorf("list audit of actor %q: %w", actorID, err)
	}
	list := storekeys.List{PK: storekeys.ActorPKPrefix + actorID, Desc: true}
	prev, err := storekeys.DecodeActorCursor(page.Cursor, list)
	if err != nil {
		return nil, "", fmt.Errorf("list audit of actor %s: %w", actorID, err)
	}
	q := &dynamodb.QueryInput{
		TableName:                 s.table,
		IndexName:                 aws.String(IndexByActor),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": AttrGSI1PK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": avS(list.PK)},
		ScanIndexForward:          aws.Bool(false),
	}
	skip := 0
	if prev != nil {
		q.KeyConditionExpression = aws.String("#pk = :pk AND #sk < :bound")
		q.ExpressionAttributeNames["#sk"] = AttrGSI1SK
		q.ExpressionAttributeValues[":bound"] = avS(prev.Bound())
		skip = prev.N
	}
	limit := pageLimit(page)
	var items []item
	var sks []string
	more := false
	for !more {
		// Enough for the records still to skip, the page and one more, which
		// tells whether another page follows; DynamoDB may return fewer.
		q.Limit = aws.Int32(int32(min(skip+limit+1-len(items), maxPageItems)))
		out, err := s.client.Query(ctx, q)
		if err != nil {
			return nil, "", translate(err, "list audit of actor %s", actorID)
		}
		for _, it := range out.Items {
			sk, ok := it[AttrGSI1SK].(*types.AttributeValueMemberS)
			if !ok {
				return nil, "", core.ErrInternal(nil, "item %s has no %s", describeKey(it), AttrGSI1SK)
			}
			if skip > 0 && prev.AtTime(sk.Value) {
				skip--
				continue
			}
			skip = 0 // the records at the position's time are behind
			if len(items) == limit {
				more = true
				break
			}
			items, sks = append(items, it), append(sks, sk.Value)
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		q.ExclusiveStartKey = out.LastEvaluatedKey
	}
	recs, err := decodeAudits(items)
	if err != nil {
		return nil, "", fmt.Errorf("list audit of actor %s: %w", actorID, err)
	}
	if !more {
		return recs, "", nil
	}
	pos, err := storekeys.NextActorPos(prev, sks)
	if err != nil {
		return nil, "", core.ErrInternal(err, "list audit of actor %s", actorID)
	}
	return recs, storekeys.EncodeCursor(list, pos.String()), nil
}

func decodeAudits(items []item) ([]core.AuditRecord, error) { return decodeAll(items, decodeAudit) }

// decodeAll decodes the items of one query page, in order.
func decodeAll[T any](items []item, decode func(item) (T, error)) ([]T, error) {
	out := make([]T, 0, len(items))
	for _, it := range items {
		v, err := decode(it)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// partitionQuery is a strongly consistent Query of the items of partition pk
// whose sort key starts with skPrefix, ascending or not.
func (s *Store) partitionQuery(pk, skPrefix string, ascending bool) *dynamodb.QueryInput {
	return &dynamodb.QueryInput{
		TableName:                 s.table,
		KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames:  map[string]string{"#pk": AttrPK, "#sk": AttrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": avS(pk), ":prefix": avS(skPrefix)},
		ConsistentRead:            aws.Bool(true),
		ScanIndexForward:          aws.Bool(ascending),
	}
}

func pageLimit(p core.Page) int {
	if p.Limit <= 0 {
		return core.DefaultPageLimit
	}
	return min(p.Limit, maxPageItems)
}

// maxPageItems bounds one page so that limit+1 fits a Query's Limit.
const maxPageItems = 1 << 20

// queryPage runs q for exactly one page of limit items: it asks for one item
// more than the page, so that it knows without another request whether more
// follow, and the list never ends with an empty page. DynamoDB may cut a
// response at 1 MB before its Limit; then queryPage goes on from where the
// response stopped until the page is full or the partition is exhausted. The
// next position is the sort attribute cursorAttr of the page's last item,
// "" at the end; the caller makes it a cursor of its list.
func (s *Store) queryPage(ctx context.Context, q *dynamodb.QueryInput, limit int, cursorAttr string) ([]item, string, error) {
	var items []item
	for {
		q.Limit = aws.Int32(int32(limit + 1 - len(items)))
		out, err := s.client.Query(ctx, q)
		if err != nil {
			return nil, "", err
		}
		items = append(items, out.Items...)
		if len(items) > limit {
			items = items[:limit]
			last, ok := items[limit-1][cursorAttr].(*types.AttributeValueMemberS)
			if !ok {
				return nil, "", core.ErrInternal(nil, "item %s has no %s", describeKey(items[limit-1]), cursorAttr)
			}
			return items, last.Value, nil
		}
		if len(out.LastEvaluatedKey) == 0 {
			return items, "", nil
		}
		q.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
