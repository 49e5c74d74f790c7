package dynamostore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/store/storeitem"
	"github.com/medshare/medshare/shared/store/storekeys"
)

// The scheduled jobs: core.JobStore on the same table. The due items and
// the audit counters are read from IndexTime (see its doc in schema.go);
// every other method is one request on one item.

// maxDueQueries bounds the Query requests of one ListDue page, so that a
// page over days of empty hours is still a bounded call: a day of hours.
const maxDueQueries = 24

// dueRange is the part of IndexTime that ListDue reads for [from, until]:
// the time_at bounds lo..hi (inclusive) and the hour buckets first..last.
type dueRange struct {
	lo, hi      int64
	first, last time.Time
}

// dueRangeOf is the dueRange of [from, until], compared in whole seconds,
// truncated: an item is due in it when from.Unix() <= Due.Unix() <=
// until.Unix() (DueItem.Due is whole seconds). An item due at t is in the
// bucket of t's hour with time_at = ceil(t), so t > time_at-1: its bucket is
// at the earliest the hour of lo-1, at the latest the hour of hi.
func dueRangeOf(from, until time.Time) dueRange {
	lo, hi := from.Unix(), until.Unix()
	return dueRange{
		lo:    lo,
		hi:    hi,
		first: time.Unix(lo-1, 0).UTC().Truncate(time.Hour),
		last:  time.Unix(hi, 0).UTC().Truncate(time.Hour),
	}
}

func (r dueRange) empty() bool { return r.lo > r.hi }

// dueCursor is what a ListDue cursor holds: the kind listed, the hour
// bucket to read next and, within it, the index entry to go on after (none:
// from its start).
type dueCursor struct {
	Kind string `json:"k"`
	Hour string `json:"h"`
	PK   string `json:"pk,omitempty"`
	SK   string `json:"sk,omitempty"`
	At   *int64 `json:"t,omitempty"`
}

// encodeDueCursor makes the opaque cursor of the page that goes on at hour,
// after the index entry start (DynamoDB's LastEvaluatedKey; nil when the
// hour is read from its start): base64url of a JSON dueCursor.
func encodeDueCursor(kind core.DueKind, hour time.Time, start item) (string, error) {
	c := dueCursor{Kind: string(kind), Hour: hour.UTC().Format(TimeBucketLayout)}
	if len(start) > 0 {
		pk, okPK := start[AttrPK].(*types.AttributeValueMemberS)
		sk, okSK := start[AttrSK].(*types.AttributeValueMemberS)
		at, err := numberAttr(start, AttrTimeAt)
		if !okPK || !okSK || err != nil {
			return "", core.ErrInternal(err, "index %s returned a last key without the table and index keys", IndexTime)
		}
		c.PK, c.SK, c.At = pk.Value, sk.Value, &at
	}
	b, err := json.Marshal(c)
	if err != nil { // strings and a number: cannot fail
		return "", core.ErrInternal(err, "encode cursor")
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// decodeDueCursor returns the hour and start key of a ListDue cursor of kind
// over r: the first hour from its start for "". A cursor that does not
// decode, of another kind, whose hour is not one of r's, or whose start key
// is not an entry of kind due in r, is KindInvalid.
func decodeDueCursor(cursor string, kind core.DueKind, r dueRange) (time.Time, item, error) {
	if cursor == "" {
		return r.first, nil, nil
	}
	malformed := core.ErrInvalid("cursor is malformed")
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return time.Time{}, nil, malformed
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c dueCursor
	if err := dec.Decode(&c); err != nil || dec.More() || c.Kind != string(kind) {
		return time.Time{}, nil, malformed
	}
	hour, err := time.Parse(TimeBucketLayout, c.Hour)
	if err != nil || hour.Format(TimeBucketLayout) != c.Hour || hour.Before(r.first) || hour.After(r.last) {
		return time.Time{}, nil, malformed
	}
	if c.PK == "" && c.SK == "" && c.At == nil {
		return hour, nil, nil
	}
	if c.At == nil || *c.At < r.lo || *c.At > r.hi {
		return time.Time{}, nil, malformed
	}
	if _, _, err := storekeys.ParseDueItemKey(kind, storekeys.Key{PK: c.PK, SK: c.SK}); err != nil {
		return time.Time{}, nil, malformed
	}
	start := keyItem(storekeys.Key{PK: c.PK, SK: c.SK})
	start[AttrTimeBucket] = avS(DueBucket(kind, hour))
	start[AttrTimeAt] = avN(strconv.FormatInt(*c.At, 10))
	return hour, start, nil
}

// ListDue returns one page of the items of kind due in [from, until] with
// Queries of IndexTime: one per hour bucket from the hour of from to the
// hour of until (KeyConditionExpression time_bucket = :bucket AND time_at
// BETWEEN :lo AND :hi), each going on from where the last stopped, until
// the page holds page.Limit items, the hours are done, or it has made
// maxDueQueries requests. The cursor holds the hour and DynamoDB's last
// key within it. Index reads are eventually consistent, so an item may be
// listed just after it stopped being due: whoever acts on it does so with a
// conditional write.
func (s *Store) ListDue(ctx context.Context, kind core.DueKind, from, until time.Time, page core.Page) ([]core.DueItem, string, error) {
	if err := storekeys.CheckDueKind(kind); err != nil {
		return nil, "", fmt.Errorf("list due %s: %w", kind, err)
	}
	r := dueRangeOf(from, until)
	if r.empty() {
		if page.Cursor != "" {
			return nil, "", fmt.Errorf("list due %s: %w", kind, core.ErrInvalid("cursor is malformed"))
		}
		return nil, "", nil
	}
	hour, start, err := decodeDueCursor(page.Cursor, kind, r)
	if err != nil {
		return nil, "", fmt.Errorf("list due %s: %w", kind, err)
	}
	limit := pageLimit(page)
	due := make([]core.DueItem, 0, min(limit, 64))
	for queries := 1; ; queries++ {
		out, err := s.client.Query(ctx, &dynamodb.QueryInput{
			TableName:                s.table,
			IndexName:                aws.String(IndexTime),
			KeyConditionExpression:   aws.String("#bucket = :bucket AND #at BETWEEN :lo AND :hi"),
			ExpressionAttributeNames: map[string]string{"#bucket": AttrTimeBucket, "#at": AttrTimeAt},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":bucket": avS(DueBucket(kind, hour)),
				":lo":     avN(strconv.FormatInt(r.lo, 10)),
				":hi":     avN(strconv.FormatInt(r.hi, 10)),
			},
			ExclusiveStartKey: start,
			Limit:             aws.Int32(int32(limit - len(due))),
		})
		if err != nil {
			return nil, "", translate(err, "list due %s", kind)
		}
		for _, it := range out.Items {
			d, err := decodeDue(kind, it)
			if err != nil {
				return nil, "", fmt.Errorf("list due %s: %w", kind, err)
			}
			due = append(due, d)
		}
		start = out.LastEvaluatedKey
		if len(start) == 0 {
			if hour = hour.Add(time.Hour); hour.After(r.last) {
				return due, "", nil
			}
		}
		if len(due) >= limit || queries == maxDueQueries {
			next, err := encodeDueCursor(kind, hour, start)
			if err != nil {
				return nil, "", fmt.Errorf("list due %s: %w", kind, err)
			}
			return due, next, nil
		}
	}
}

// decodeDue makes the DueItem of kind from an IndexTime entry (KEYS_ONLY:
// the table key and the index key).
func decodeDue(kind core.DueKind, it item) (core.DueItem, error) {
	pk, okPK := it[AttrPK].(*types.AttributeValueMemberS)
	sk, okSK := it[AttrSK].(*types.AttributeValueMemberS)
	at, err := numberAttr(it, AttrTimeAt)
	if !okPK || !okSK || err != nil {
		return core.DueItem{}, corrupt(it, err)
	}
	id, owner, err := storekeys.ParseDueItemKey(kind, storekeys.Key{PK: pk.Value, SK: sk.Value})
	if err != nil {
		return core.DueItem{}, corrupt(it, err)
	}
	return core.DueItem{Kind: kind, Due: time.Unix(at, 0).UTC(), ID: id, Owner: owner}, nil
}

// numberAttr returns the integer N attribute name of it.
func numberAttr(it item, name string) (int64, error) {
	n, ok := it[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, fmt.Errorf("attribute %s is not a number", name)
	}
	return strconv.ParseInt(n.Value, 10, 64)
}

// AbandonUpload deletes a PENDING upload whose window has ended with one
// DeleteItem conditional on
//
//	attribute_not_exists(pk) OR (status = pending AND upload_expires_at <= now)
//
// (an absent item is deleted idempotently) that returns the item as it was
// when the condition fails: READY, or PENDING in its window, is
// KindConflict.
func (s *Store) AbandonUpload(ctx context.Context, it core.DueItem, now time.Time) error {
	what, k := "chat image", storekeys.ChatImageKey(it.ID)
	ids := []string{it.ID}
	if it.Owner != "" {
		what, k = "photo", storekeys.PhotoKey(it.Owner, it.ID)
		ids = append(ids, it.Owner)
	}
	if err := storekeys.CheckIDs(ids...); err != nil {
		return fmt.Errorf("abandon %s %q: %w", what, it.ID, err)
	}
	err := s.retryConflicts(ctx, func() error {
		_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName:           s.table,
			Key:                 keyItem(k),
			ConditionExpression: aws.String("attribute_not_exists(#pk) OR (#status = :pending AND #window <= :now)"),
			ExpressionAttributeNames: map[string]string{
				"#pk": AttrPK, "#status": attrStatus, "#window": attrUploadExpiresAt,
			},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pending": avS(string(core.StatusPending)), ":now": avTime(now),
			},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		return err
	})
	if old, failed := conditionFailure(err); failed {
		return fmt.Errorf("abandon %s %s: %w", what, it.ID, abandonAnswer(what, it.ID, old, now))
	}
	if err != nil {
		return translate(err, "abandon %s %s", what, it.ID)
	}
	return nil
}

// abandonAnswer tells why AbandonUpload's condition failed on the upload as
// it was (old).
func abandonAnswer(what, id string, old item, now time.Time) error {
	if len(old) == 0 {
		return core.ErrInternal(nil, "the abandon condition failed on no %s", what)
	}
	var u struct {
		Status string `dynamodbav:"status"`
		Window string `dynamodbav:"upload_expires_at"`
	}
	if err := unmarshal(old, &u); err != nil {
		return err
	}
	window, err := storeitem.ParseTime(u.Window)
	switch {
	case err != nil:
		return corrupt(old, err)
	case core.UploadStatus(u.Status) == core.StatusReady:
		return core.ErrConflict("%s %s is ready", what, id)
	case core.UploadStatus(u.Status) == core.StatusPending && now.Before(window):
		return core.ErrConflict("the upload window of %s %s has not ended", what, id)
	}
	return core.ErrInternal(nil, "the abandon condition failed on %s %s in status %q", what, id, u.Status)
}

// ExpireShare moves an ACTIVE share past its expiry to EXPIRED with one
// TransactWriteItems: an Update of the share (SET status = expired, out of
// IndexTime) conditional on
//
//	status = active AND share_expires_at <= now
//
// the inbox item of each of notes, and the audit record, as RevokeShare.
// When the share's condition fails, the share as it was (ALL_OLD) tells the
// answer whatever else failed: none is KindNotFound; one that is not ACTIVE
// is (false, nil), and nothing was written; one that expires after now is
// KindConflict. See core.JobStore.
func (s *Store) ExpireShare(ctx context.Context, id string, now time.Time, rec core.AuditRecord, notes ...core.Notification) (bool, error) {
	if err := storekeys.CheckIDs(id); err != nil {
		return false, fmt.Errorf("expire share %q: %w", id, err)
	}
	update := types.TransactWriteItem{Update: &types.Update{
		TableName:           s.table,
		Key:                 keyItem(storekeys.ShareKey(id)),
		UpdateExpression:    aws.String("SET #status = :expired REMOVE #bucket, #timeat"),
		ConditionExpression: aws.String("#status = :active AND #expires <= :now"),
		ExpressionAttributeNames: map[string]string{
			"#status": attrStatus, "#expires": attrShareExpiresAt, "#bucket": AttrTimeBucket, "#timeat": AttrTimeAt,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":expired": avS(string(core.ShareExpired)), ":active": avS(string(core.ShareActive)), ":now": avTime(now),
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}
	return s.updateShare(ctx, id, update, notes, rec, func(prev core.Share) (bool, error) {
		switch {
		case prev.Status != core.ShareActive:
			return true, nil
		case now.Before(prev.ExpiresAt):
			return false, core.ErrConflict("share %s expires at %s, after now", id, storeitem.FormatTime(prev.ExpiresAt))
		}
		return false, core.ErrInternal(nil, "the expire condition failed on active share %s past its expiry", id)
	}, "expire share %s", id)
}

// DeleteExpiredKey deletes an ephemeral key past its expiry with one
// DeleteItem conditional on
//
//	attribute_not_exists(pk) OR key_expires_at <= now
//
// (an absent key is deleted idempotently); KindConflict when the key as it
// was (ALL_OLD) has not expired.
func (s *Store) DeleteExpiredKey(ctx context.Context, id string, now time.Time) error {
	if err := storekeys.CheckIDs(id); err != nil {
		return fmt.Errorf("delete expired key %q: %w", id, err)
	}
	err := s.retryConflicts(ctx, func() error {
		_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName:                           s.table,
			Key:                                 keyItem(storekeys.EphemeralKeyKey(id)),
			ConditionExpression:                 aws.String("attribute_not_exists(#pk) OR #expires <= :now"),
			ExpressionAttributeNames:            map[string]string{"#pk": AttrPK, "#expires": attrKeyExpiresAt},
			ExpressionAttributeValues:           map[string]types.AttributeValue{":now": avTime(now)},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		return err
	})
	if old, failed := conditionFailure(err); failed {
		answer := core.ErrInternal(nil, "the delete condition failed on no key")
		if len(old) > 0 {
			k, derr := decodeEphemeralKey(old)
			switch {
			case derr != nil:
				answer = derr
			case now.Before(k.ExpiresAt):
				answer = core.ErrConflict("key %s expires at %s, after now", id, storeitem.FormatTime(k.ExpiresAt))
			default:
				answer = core.ErrInternal(nil, "the delete condition failed on key %s past its expiry", id)
			}
		}
		return fmt.Errorf("delete expired key %s: %w", id, answer)
	}
	if err != nil {
		return translate(err, "delete expired key %s", id)
	}
	return nil
}

// GetNotification returns one of recipient's notifications or KindNotFound,
// with one strongly consistent GetItem.
func (s *Store) GetNotification(ctx context.Context, recipient, id string) (core.InboxItem, error) {
	if err := storekeys.CheckIDs(recipient, id); err != nil {
		return core.InboxItem{}, fmt.Errorf("get notification %q of %q: %w", id, recipient, err)
	}
	return getDecoded(ctx, s, "notification "+id+" of "+recipient, storekeys.InboxKey(recipient, id), decodeInboxItem)
}

// JobWatermark returns the watermark of kind with one strongly consistent
// GetItem; the zero time when there is none.
func (s *Store) JobWatermark(ctx context.Context, kind core.DueKind) (time.Time, error) {
	if err := storekeys.CheckDueKind(kind); err != nil {
		return time.Time{}, fmt.Errorf("watermark of %s: %w", kind, err)
	}
	it, err := s.get(ctx, storekeys.WatermarkKey(kind))
	if err != nil {
		return time.Time{}, translate(err, "watermark of %s", kind)
	}
	if len(it) == 0 {
		return time.Time{}, nil
	}
	var w storeitem.Watermark
	if err := unmarshal(it, &w); err != nil {
		return time.Time{}, fmt.Errorf("watermark of %s: %w", kind, err)
	}
	t, err := w.Time()
	if err != nil {
		return time.Time{}, fmt.Errorf("watermark of %s: %w", kind, corrupt(it, err))
	}
	return t, nil
}

// SetJobWatermark moves the watermark of kind forward to t with one
// UpdateItem conditional on
//
//	attribute_not_exists(at) OR at < t
//
// (stored times compare as strings as they compare as times). A failed
// condition is a watermark at or after t, which stays: not an error.
func (s *Store) SetJobWatermark(ctx context.Context, kind core.DueKind, t time.Time) error {
	if err := storekeys.CheckDueKind(kind); err != nil {
		return fmt.Errorf("set watermark of %s: %w", kind, err)
	}
	err := s.retryConflicts(ctx, func() error {
		_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 s.table,
			Key:                       keyItem(storekeys.WatermarkKey(kind)),
			UpdateExpression:          aws.String("SET #at = :t, #kind = :kind"),
			ConditionExpression:       aws.String("attribute_not_exists(#at) OR #at < :t"),
			ExpressionAttributeNames:  map[string]string{"#at": attrWatermark, "#kind": attrKind},
			ExpressionAttributeValues: map[string]types.AttributeValue{":t": avTime(t), ":kind": avS(string(kind))},
		})
		return err
	})
	if _, failed := conditionFailure(err); failed {
		return nil
	}
	if err != nil {
		return translate(err, "set watermark of %s", kind)
	}
	return nil
}

// CountAudit counts the records of one UTC day (the one that contains day)
// and StatKey with a
// Select=COUNT Query of each of the AuditShards buckets of IndexTime
// (AuditBucket), each followed to its end: AuditShards requests, more for
// a bucket whose count DynamoDB returns in pages (one per 1 MB of index
// entries read, some 4,000 records). Index reads are eventually
// consistent: a record appended a moment ago may not be counted yet.
func (s *Store) CountAudit(ctx context.Context, day time.Time, key string) (int64, error) {
	day = storeitem.DayOf(day)
	if err := storekeys.CheckIDs(key); err != nil {
		return 0, fmt.Errorf("count audit %q: %w", key, err)
	}
	var total int64
	for shard := range AuditShards {
		q := &dynamodb.QueryInput{
			TableName:                 s.table,
			IndexName:                 aws.String(IndexTime),
			KeyConditionExpression:    aws.String("#bucket = :bucket"),
			ExpressionAttributeNames:  map[string]string{"#bucket": AttrTimeBucket},
			ExpressionAttributeValues: map[string]types.AttributeValue{":bucket": avS(AuditBucket(day, key, shard))},
			Select:                    types.SelectCount,
		}
		for {
			out, err := s.client.Query(ctx, q)
			if err != nil {
				return 0, translate(err, "count audit %s on %s", key, day.UTC().Format(AuditDayLayout))
			}
			total += int64(out.Count)
			if len(out.LastEvaluatedKey) == 0 {
				break
			}
			q.ExclusiveStartKey = out.LastEvaluatedKey
		}
	}
	return total, nil
}

// PutDailyReport stores the report of r.Day's UTC day with one PutItem,
// replacing the one stored before. The stored Day is 00:00 UTC of that day.
func (s *Store) PutDailyReport(ctx context.Context, r core.DailyReport) error {
	day := r.Day.UTC().Format(storekeys.ReportDayLayout)
	it, err := marshal(reportItemOf(r))
	if err != nil {
		return fmt.Errorf("put daily report of %s: %w", day, err)
	}
	err = s.retryConflicts(ctx, func() error {
		_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: s.table, Item: it})
		return err
	})
	if err != nil {
		return translate(err, "put daily report of %s", day)
	}
	return nil
}

// GetDailyReport returns the report of the UTC day that contains day, or
// KindNotFound, with one strongly consistent GetItem.
func (s *Store) GetDailyReport(ctx context.Context, day time.Time) (core.DailyReport, error) {
	what := "daily report of " + day.UTC().Format(storekeys.ReportDayLayout)
	return getDecoded(ctx, s, what, storekeys.DailyReportKey(day), decodeReport)
}

// Tally adds one to the counter name with one UpdateItem (ADD n :one, SET
// ttl = until in epoch seconds rounded up) and returns the new count
// (UPDATED_NEW). DynamoDB TTL deletes the counter some time after until.
func (s *Store) Tally(ctx context.Context, name string, until time.Time) (int64, error) {
	if err := storekeys.CheckIDs(name); err != nil {
		return 0, fmt.Errorf("tally %q: %w", name, err)
	}
	var out *dynamodb.UpdateItemOutput
	err := s.retryConflicts(ctx, func() (err error) {
		out, err = s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                s.table,
			Key:                      keyItem(storekeys.TallyKey(name)),
			UpdateExpression:         aws.String("ADD #n :one SET #ttl = :ttl"),
			ExpressionAttributeNames: map[string]string{"#n": attrTallyCount, "#ttl": AttrTTL},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":one": avN("1"), ":ttl": avN(strconv.FormatInt(epochCeil(until), 10)),
			},
			ReturnValues: types.ReturnValueUpdatedNew,
		})
		return err
	})
	if err != nil {
		return 0, translate(err, "tally %s", name)
	}
	n, err := numberAttr(out.Attributes, attrTallyCount)
	if err != nil {
		return 0, core.ErrInternal(err, "tally %s: the update returned no count", name)
	}
	return n, nil
}
