package dynamostore

import (
	"context"
	"errors"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/medshare/medshare/shared/core"
)

// The attribute and index names of the single table. TableInput is the one
// definition of the table; `medshare bootstrap` (through EnsureTable) and the
// CDK app build the table from it and from these names.
const (
	// AttrPK and AttrSK are the table's partition and sort keys (S).
	AttrPK = "pk"
	AttrSK = "sk"

	// IndexByActor is the audit-by-actor index: partition AttrGSI1PK
	// (ACTOR#<actor>), sort AttrGSI1SK (<time>#<patient>#<seq>), both S,
	// projecting ALL so that a page of it is a page of whole records. It is
	// overloaded: the same index, under other partitions, is
	// IndexSharesByPatient.
	IndexByActor = "gsi1"
	AttrGSI1PK   = "gsi1pk"
	AttrGSI1SK   = "gsi1sk"

	// IndexSharesByPatient is IndexByActor under the partitions
	// storekeys.SharesByPatientPK+<patient>, sorted by
	// storekeys.ShareIndexSK (<created>#<share id>). The partition prefixes
	// (ACTOR#, SHAREPAT#) keep the two uses apart, and overloading one index
	// saves a second copy of every audit record's or share's writes.
	IndexSharesByPatient = IndexByActor

	// IndexSharesByGrantee is the shares-by-grantee index: partition
	// AttrGSI2PK (storekeys.SharesByGranteePK+<professional>), sort
	// AttrGSI2SK (storekeys.ShareIndexSK), both S, projecting ALL so that a
	// page of it is a page of whole shares. It is a second index rather than
	// more of gsi1 because a share is listed under two partitions (its
	// patient's and its grantee's) and an item has one key per index.
	IndexSharesByGrantee = "gsi2"
	AttrGSI2PK           = "gsi2pk"
	AttrGSI2SK           = "gsi2sk"

	// IndexChatImagesByAppointment is IndexSharesByGrantee under the
	// partitions storekeys.ChatImagesByAppointmentPK (APPTIMG#<clinic>#
	// <appointment>), sorted by storekeys.ChatImageIndexSK (IMG#<created>#<image id>): every chat
	// image is in it from its creation, and ListChatImages keeps the READY
	// ones with a filter. Overloading gsi2 (as gsi1 is overloaded) serves
	// the appointment's images without a Scan and without a new index: the
	// table's definition, and every table made from it, stay as they were.
	IndexChatImagesByAppointment = IndexSharesByGrantee

	// IndexTime is the sparse index of items by a time bucket: partition
	// AttrTimeBucket (S), sort AttrTimeAt (N, epoch seconds). Only items
	// that carry both attributes are in it, under two kinds of bucket:
	//
	//   - Due items (DueBucket): "<core.DueKind>#<UTC hour>", e.g.
	//     "upload#2026-03-14-15", sorted by when the item is due in epoch
	//     seconds rounded up (so that time_at <= now in seconds means due).
	//     A PENDING upload (photo or chat image) is due at the end of its
	//     upload window, an ACTIVE share at its expiry, an ephemeral key
	//     (issued or used) at its expiry, an unpublished notification at its
	//     creation. The attributes are removed when the item stops being due
	//     (an upload becomes READY, a share is revoked or expired, a
	//     notification is published), which drops it from the index; a key
	//     stays until it is deleted. core.JobStore.ListDue queries one
	//     bucket per hour, so that no partition holds more than an hour of
	//     one kind.
	//   - Audit counters (AuditBucket): "audit#<yyyy-mm-dd>#<StatKey>#<shard>",
	//     on every audit record, sorted by the record's time in epoch
	//     seconds (rounded down, so that it stays in its day).
	//     core.AuditStore.CountAudit counts one day's records of one StatKey
	//     with a Select=COUNT query of each of the AuditShards partitions.
	//     The shard (AuditShard) spreads a day's busiest counter over
	//     AuditShards partitions. This costs every audit record one more
	//     index write (a KEYS_ONLY entry: the table and index keys, about
	//     200 bytes, one write unit) and its storage, which is what keeps
	//     the daily report from reading the whole trail.
	//
	// An item's own expiry, which conditions compare to the nanosecond, is
	// another attribute (S, like every stored time): time_at is typed N by
	// the index, and rounding it to seconds would let a condition accept a
	// share for up to a second after it expired. The index projects
	// KEYS_ONLY: the cleanup job needs only the table key (which names the
	// item and, through the core's key rules, its object), and then acts on
	// each item with its own conditional write, which re-checks the state
	// that matters at that moment; projecting more would pay write and
	// storage for every staged upload and audit record to save a read that
	// the conditional write makes unnecessary. Index reads are eventually
	// consistent: an item may be listed a moment after it stopped being
	// due, or missed a moment after it started.
	IndexTime      = "gsi_time"
	AttrTimeBucket = "time_bucket"
	AttrTimeAt     = "time_at"

	// AttrTTL is the table's TTL attribute (N, epoch seconds), set on every
	// item that expires. DynamoDB deletes such items some time (often days)
	// after it; the store checks expiry itself at read time and never relies
	// on TTL (ARCHITECTURE §2.2).
	AttrTTL = "ttl"
)

// TimeBucketLayout is the UTC hour that follows the kind in a due item's
// AttrTimeBucket.
const TimeBucketLayout = "2006-01-02-15"

// DueBucket is the AttrTimeBucket of an item of kind that is due at due:
// the kind, "#", and the UTC hour of due. Its AttrTimeAt is epochCeil(due).
func DueBucket(kind core.DueKind, due time.Time) string {
	return DueBucketPrefix(kind) + due.UTC().Format(TimeBucketLayout)
}

// DueBucketPrefix starts the AttrTimeBucket of every item of kind: one
// prefix per kind, its name and "#".
func DueBucketPrefix(kind core.DueKind) string { return string(kind) + "#" }

// AuditBucketPrefix starts the AttrTimeBucket of every audit record. It is
// the prefix of no due kind (TestBucketPrefixes).
const AuditBucketPrefix = "audit#"

// AuditDayLayout is the UTC day in an audit record's AttrTimeBucket.
const AuditDayLayout = "2006-01-02"

// AuditShards is the number of partitions of IndexTime that one day's
// records of one StatKey are spread over.
const AuditShards = 8

// AuditBucket is the AttrTimeBucket of the audit records of shard
// (AuditShard of their patient) with StatKey key and a time on the UTC day
// of day: "audit#<yyyy-mm-dd>#<key>#<shard>". The day is fixed width and
// the shard, a digit, follows the last "#", so one bucket names one (day,
// key, shard) even if a key held "#" (a StatKey is
// action|outcome|role, which holds no id).
func AuditBucket(day time.Time, key string, shard int) string {
	return AuditBucketPrefix + day.UTC().Format(AuditDayLayout) + "#" + key + "#" + strconv.Itoa(shard)
}

// AuditShard is the shard of a patient's records: FNV-1a of the patient id
// modulo AuditShards. One patient's records share a shard; the patients'
// spread over all of them.
func AuditShard(patientID string) int {
	h := fnv.New32a()
	h.Write([]byte(patientID))
	return int(h.Sum32() % AuditShards)
}

// How long an item of the sharing sessions is kept after it expires, before
// DynamoDB TTL may delete it. Until then the store answers precisely about
// it (410 session_expired, key_expired, ...), and after it with 404: the
// audit chain, not these items, is the lasting record of what happened.
const (
	// ShareTTLGrace keeps an ended session (expired or revoked) in its
	// patient's and grantee's lists, with its views used and devices, for a
	// quarter after its expiry, which is as far back as reviewing one's
	// sessions is expected to go; a share expires at most
	// core.MaxShareExpiry after its creation.
	ShareTTLGrace = 90 * 24 * time.Hour
	// GrantTTLGrace keeps accesses and ephemeral keys for a week after they
	// expire: late requests (a claim retried offline, an activity report
	// sent when the app comes back) still get the precise answer, and a
	// table does not keep an item per view for longer than that. Neither
	// holds a secret: a key item names the object, the sealed key is never
	// stored.
	GrantTTLGrace = 7 * 24 * time.Hour
)

// UploadTTLGrace is how long after its upload window a PENDING upload's item
// is kept before DynamoDB TTL may delete it. The cleanup job, which deletes
// the abandoned object and then the item, finds them through IndexTime;
// the grace gives it days of runs before TTL removes the item that names the
// object, which would leave the object orphaned.
const UploadTTLGrace = 7 * 24 * time.Hour

// epochCeil returns t in epoch seconds, rounded up.
func epochCeil(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

// TableInput is the definition of the single table named name: keys AttrPK
// and AttrSK (S), the global secondary indexes IndexByActor (which is also
// IndexSharesByPatient), IndexSharesByGrantee and IndexTime, on-demand
// billing. TTL on AttrTTL is not part of CreateTable; EnsureTable
// enables it (UpdateTimeToLive), and the CDK app sets it on the table.
func TableInput(name string) *dynamodb.CreateTableInput {
	str := func(n string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(n), AttributeType: types.ScalarAttributeTypeS}
	}
	keys := func(pk, sk string) []types.KeySchemaElement {
		return []types.KeySchemaElement{
			{AttributeName: aws.String(pk), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(sk), KeyType: types.KeyTypeRange},
		}
	}
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			str(AttrPK), str(AttrSK), str(AttrGSI1PK), str(AttrGSI1SK), str(AttrGSI2PK), str(AttrGSI2SK), str(AttrTimeBucket),
			{AttributeName: aws.String(AttrTimeAt), AttributeType: types.ScalarAttributeTypeN},
		},
		KeySchema: keys(AttrPK, AttrSK),
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
			{
				IndexName:  aws.String(IndexByActor),
				KeySchema:  keys(AttrGSI1PK, AttrGSI1SK),
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
			},
			{
				IndexName:  aws.String(IndexSharesByGrantee),
				KeySchema:  keys(AttrGSI2PK, AttrGSI2SK),
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
			},
			{
				IndexName:  aws.String(IndexTime),
				KeySchema:  keys(AttrTimeBucket, AttrTimeAt),
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
			},
		},
	}
}

// TableAPI is the part of the DynamoDB client that EnsureTable uses;
// *dynamodb.Client satisfies it.
type TableAPI interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	DescribeTimeToLive(ctx context.Context, in *dynamodb.DescribeTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTimeToLiveOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

// ensurePoll is how often EnsureTable asks whether the table is ACTIVE.
const ensurePoll = 500 * time.Millisecond

// EnsureTable makes the table name exist as TableInput defines it: it creates
// it when absent (so that it needs no CreateTable permission when the table
// exists), waits (as long as ctx allows) until the table and its
// indexes are ACTIVE, checks that an existing table has the keys and indexes
// of TableInput, and enables TTL on AttrTTL. It is idempotent, and safe to
// run concurrently with itself. A table with another key schema, missing
// indexes or TTL on another attribute is an error (KindInternal): it is never
// changed.
func EnsureTable(ctx context.Context, client TableAPI, name string) error {
	want := TableInput(name)
	var desc *types.TableDescription
	out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	var missing *types.ResourceNotFoundException
	switch {
	case errors.As(err, &missing):
		_, err = client.CreateTable(ctx, want)
		var inUse *types.ResourceInUseException // created meanwhile by another run
		if err != nil && !errors.As(err, &inUse) {
			return translate(err, "create table %s", name)
		}
	case err != nil:
		return translate(err, "describe table %s", name)
	default:
		desc = out.Table
	}
	if desc == nil || !active(desc) {
		if desc, err = waitActive(ctx, client, name); err != nil {
			return err
		}
	}
	if err := checkSchema(desc, want); err != nil {
		return err
	}
	return ensureTTL(ctx, client, name)
}

// waitActive polls until the table and all of its global secondary indexes
// are ACTIVE.
func waitActive(ctx context.Context, client TableAPI, name string) (*types.TableDescription, error) {
	for {
		out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		var missing *types.ResourceNotFoundException
		if err != nil && !errors.As(err, &missing) {
			return nil, translate(err, "describe table %s", name)
		}
		if err == nil && out.Table != nil && active(out.Table) {
			return out.Table, nil
		}
		select {
		case <-ctx.Done():
			return nil, core.ErrUnavailable(ctx.Err(), "table %s is not active", name)
		case <-time.After(ensurePoll):
		}
	}
}

func active(t *types.TableDescription) bool {
	if t.TableStatus != types.TableStatusActive {
		return false
	}
	for _, g := range t.GlobalSecondaryIndexes {
		if g.IndexStatus != types.IndexStatusActive {
			return false
		}
	}
	return true
}

// checkSchema reports how an existing table differs from want in what the
// store relies on: the key schema and the indexes' key schemas and
// projections.
func checkSchema(got *types.TableDescription, want *dynamodb.CreateTableInput) error {
	name := aws.ToString(want.TableName)
	if !sameKeys(got.KeySchema, want.KeySchema) {
		return core.ErrInternal(nil, "table %s has another key schema than %s/%s", name, AttrPK, AttrSK)
	}
	for _, w := range want.GlobalSecondaryIndexes {
		var found *types.GlobalSecondaryIndexDescription
		for i := range got.GlobalSecondaryIndexes {
			if aws.ToString(got.GlobalSecondaryIndexes[i].IndexName) == aws.ToString(w.IndexName) {
				found = &got.GlobalSecondaryIndexes[i]
			}
		}
		switch {
		case found == nil:
			return core.ErrInternal(nil, "table %s has no index %s", name, aws.ToString(w.IndexName))
		case !sameKeys(found.KeySchema, w.KeySchema):
			return core.ErrInternal(nil, "index %s of table %s has another key schema", aws.ToString(w.IndexName), name)
		case found.Projection == nil || found.Projection.ProjectionType != w.Projection.ProjectionType:
			return core.ErrInternal(nil, "index %s of table %s has another projection than %s", aws.ToString(w.IndexName), name, w.Projection.ProjectionType)
		}
	}
	return nil
}

func sameKeys(a, b []types.KeySchemaElement) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if aws.ToString(a[i].AttributeName) != aws.ToString(b[i].AttributeName) || a[i].KeyType != b[i].KeyType {
			return false
		}
	}
	return true
}

// ensureTTL enables TTL on AttrTTL unless it is enabled (or being enabled)
// already: UpdateTimeToLive fails on a table whose TTL is already on.
func ensureTTL(ctx context.Context, client TableAPI, name string) error {
	out, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)})
	if err != nil {
		return translate(err, "describe ttl of table %s", name)
	}
	if d := out.TimeToLiveDescription; d != nil {
		switch d.TimeToLiveStatus {
		case types.TimeToLiveStatusEnabled, types.TimeToLiveStatusEnabling:
			if attr := aws.ToString(d.AttributeName); attr != AttrTTL {
				return core.ErrInternal(nil, "table %s has ttl on %q, want %q", name, attr, AttrTTL)
			}
			return nil
		}
	}
	_, err = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(name),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(AttrTTL),
			Enabled:       aws.Bool(true),
		},
	})
	if err != nil {
		return translate(err, "enable ttl on table %s", name)
	}
	return nil
}
