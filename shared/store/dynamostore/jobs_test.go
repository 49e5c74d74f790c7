package dynamostore

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/store/storeitem"
	"github.com/medshare/medshare/shared/store/storekeys"
)

// Unit tests of the JobStore methods against the fake of fake_test.go: the
// requests they make (how many, which keys, which conditions) and how they
// read DynamoDB's answers.

// TestBucketShapes pins the IndexTime partition keys: one prefix per due
// kind, its name and "#", then the UTC hour; audit buckets apart from all
// of them.
func TestBucketShapes(t *testing.T) {
	at := time.Date(2026, 3, 14, 15, 59, 59, 999999999, time.FixedZone("x", -2*3600))
	for kind, want := range map[core.DueKind]string{
		core.DueUpload:       "upload#2026-03-14-17",
		core.DueShare:        "share#2026-03-14-17",
		core.DueKey:          "key#2026-03-14-17",
		core.DueNotification: "notification#2026-03-14-17",
	} {
		if got := DueBucket(kind, at); got != want {
			t.Errorf("DueBucket(%s) = %q, want %q", kind, got, want)
		}
	}
	if got, want := AuditBucket(at, "share.create|success|patient", 5), "audit#2026-03-14#share.create|success|patient#5"; got != want {
		t.Errorf("AuditBucket = %q, want %q", got, want)
	}
	// No prefix starts another, so no bucket of one kind is a bucket of
	// another.
	prefixes := []string{AuditBucketPrefix}
	for _, k := range core.DueKinds {
		prefixes = append(prefixes, DueBucketPrefix(k))
	}
	for i, a := range prefixes {
		for j, b := range prefixes {
			if i != j && strings.HasPrefix(a, b) {
				t.Errorf("bucket prefix %q starts with %q", a, b)
			}
		}
	}
	// A key holding "#" and a digit still makes a bucket of its own.
	day := time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
	if AuditBucket(day, "a#1", 2) == AuditBucket(day, "a", 12) || AuditBucket(day, "a#1", 2) == AuditBucket(day, "a", 1) {
		t.Error("two audit counters share a bucket")
	}
}

// TestAuditShards checks that the shard is a function of the patient in
// [0, AuditShards) and that patients spread over every shard.
func TestAuditShards(t *testing.T) {
	seen := map[int]int{}
	for i := range 800 {
		p := fmt.Sprintf("pat-%d", i)
		s := AuditShard(p)
		if s < 0 || s >= AuditShards || s != AuditShard(p) {
			t.Fatalf("AuditShard(%s) = %d, want a stable shard in [0, %d)", p, s, AuditShards)
		}
		seen[s]++
	}
	for s := range AuditShards {
		if seen[s] < 50 {
			t.Errorf("shard %d has %d of 800 patients, want about 100", s, seen[s])
		}
	}
}

// TestAuditCounterItem pins the audit counter of a record: its UTC day
// whatever the zone of At, its StatKey and patient's shard, At rounded down
// (a record at 23:59:59.9 stays in its day).
func TestAuditCounterItem(t *testing.T) {
	at := time.Date(2026, 3, 15, 5, 29, 59, 900000000, elsewhereZone) // 2026-03-14T23:59:59.9Z
	rec := core.Link(core.AuditRecord{PatientID: "pat-1", ActorID: "dr-a", ActorRole: core.RoleProfessional,
		Action: core.AuditKeyIssue, Outcome: core.OutcomeSuccess, At: at}, core.ChainHead{})
	it, err := marshal(auditItemOf(rec))
	if err != nil {
		t.Fatal(err)
	}
	wantS(t, it, AttrTimeBucket, fmt.Sprintf("audit#2026-03-14#key.issue|success|professional#%d", AuditShard("pat-1")))
	wantN(t, it, AttrTimeAt, at.Unix())
	// At the epoch itself the sort key is 0, and still stored.
	epoch, err := marshal(auditItemOf(core.AuditRecord{PatientID: "pat-1", Seq: 1, At: time.Unix(0, 0)}))
	if err != nil {
		t.Fatal(err)
	}
	wantN(t, epoch, AttrTimeAt, 0)
}

// TestStateChangesCarryTheAuditCounter checks that every transaction that
// writes an audit record writes it with its counter: AppendAudit and each
// ShareStore and JobStore change go through auditWrites.
func TestStateChangesCarryTheAuditCounter(t *testing.T) {
	var writes []*dynamodb.TransactWriteItemsInput
	f := &fakeAPI{transact: func(in *dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
		writes = append(writes, in)
		return &dynamodb.TransactWriteItemsOutput{}, nil
	}}
	s := fakeStore(f)
	ctx := t.Context()
	n := core.Notification{ID: "nt_1", RecipientID: "dr-a"}
	rec := fakeRec
	rec.Action, rec.Outcome, rec.ActorRole = "x", "y", core.RolePatient
	calls := map[string]error{
		"AppendAudit":  s.AppendAudit(ctx, rec),
		"CreateShare":  s.CreateShare(ctx, fakeShare(), rec, n),
		"RevokeShare":  errOf2(s.RevokeShare(ctx, "sh_1", "pat-1", ft0, "r", rec, n)),
		"OpenAccess":   s.OpenAccess(ctx, core.Access{ID: "ac_1", ShareID: "sh_1", DeviceFingerprint: "fp"}, ft0, rec, n),
		"IssueKey":     s.IssueKey(ctx, fakeKey(), ft0, rec, n),
		"ClaimKey":     errOf2(s.ClaimKey(ctx, fakeKey(), "dr-a", ft0, rec)),
		"AddSuspicion": s.AddSuspicion(ctx, "ac_1", 0, 1, "", rec),
		"ExpireShare":  errOf2(s.ExpireShare(ctx, "sh_1", ft0, rec, []core.Notification{n}...)),
	}
	for name, err := range calls {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if len(writes) != len(calls) {
		t.Fatalf("got %d transactions, want %d", len(writes), len(calls))
	}
	want := fmt.Sprintf("audit#2026-03-14#x|y|patient#%d", AuditShard("pat-1"))
	for i, in := range writes {
		recPut := in.TransactItems[len(in.TransactItems)-2].Put
		if recPut == nil {
			t.Errorf("transaction %d: the next to last write is not the record's Put", i)
			continue
		}
		wantS(t, recPut.Item, AttrTimeBucket, want)
		wantN(t, recPut.Item, AttrTimeAt, ft0.Unix())
	}
}

// dueEntry is an IndexTime entry as a KEYS_ONLY query returns it.
func dueEntry(kind core.DueKind, k storekeys.Key, due time.Time) item {
	it := keyItem(k)
	it[AttrTimeBucket] = avS(DueBucket(kind, due))
	it[AttrTimeAt] = avN(strconv.FormatInt(epochCeil(due), 10))
	return it
}

// queryCall is what ListDue asked of one Query.
type queryCall struct {
	bucket, lo, hi string
	limit          int32
	start          item
}

func recordQuery(t *testing.T, in *dynamodb.QueryInput) queryCall {
	t.Helper()
	if aws.ToString(in.IndexName) != IndexTime || aws.ToBool(in.ConsistentRead) {
		t.Errorf("Query: index %q, consistent %v; want %s, eventually consistent", aws.ToString(in.IndexName), aws.ToBool(in.ConsistentRead), IndexTime)
	}
	if got, want := aws.ToString(in.KeyConditionExpression), "#bucket = :bucket AND #at BETWEEN :lo AND :hi"; got != want {
		t.Errorf("KeyConditionExpression: got %q, want %q", got, want)
	}
	v := in.ExpressionAttributeValues
	return queryCall{
		bucket: v[":bucket"].(*types.AttributeValueMemberS).Value,
		lo:     v[":lo"].(*types.AttributeValueMemberN).Value,
		hi:     v[":hi"].(*types.AttributeValueMemberN).Value,
		limit:  aws.ToInt32(in.Limit),
		start:  in.ExclusiveStartKey,
	}
}

// TestListDueReadsEachHourOnce checks the walk over a range of empty hours:
// each hour's bucket is read once, in order, with the range's bounds, at
// most maxDueQueries per page, and the pages end with "".
func TestListDueReadsEachHourOnce(t *testing.T) {
	from := time.Date(2026, 3, 14, 15, 0, 0, 500000000, time.UTC)
	until := from.Add(50 * time.Hour) // 2026-03-16T17:00:00.5
	var calls []queryCall
	f := &fakeAPI{query: func(in *dynamodb.QueryInput) (*dynamodb.QueryOutput, error) {
		calls = append(calls, recordQuery(t, in))
		return &dynamodb.QueryOutput{}, nil
	}}
	s := fakeStore(f)
	var perPage []int
	page := core.Page{Limit: 10}
	for range 10 {
		before := len(calls)
		items, next, err := s.ListDue(t.Context(), core.DueKey, from, until, page)
		if err != nil || len(items) != 0 {
			t.Fatalf("ListDue: got %d items, %v; want none", len(items), err)
		}
		perPage = append(perPage, len(calls)-before)
		if next == "" {
			break
		}
		page.Cursor = next
	}
	// 15:00 on the 14th (from's second is due from 14:59:59.x on, which is
	// the hour of lo-1 = 15:00:00 minus a second: 14h) ... 17h on the 16th.
	first := time.Date(2026, 3, 14, 14, 0, 0, 0, time.UTC)
	var want []string
	for h := first; !h.After(time.Date(2026, 3, 16, 17, 0, 0, 0, time.UTC)); h = h.Add(time.Hour) {
		want = append(want, "key#"+h.Format("2006-01-02-15"))
	}
	var got []string
	for _, c := range calls {
		got = append(got, c.bucket)
		if c.lo != strconv.FormatInt(from.Unix(), 10) || c.hi != strconv.FormatInt(until.Unix(), 10) || c.start != nil {
			t.Errorf("Query of %s: lo %s, hi %s, start %v; want %d, %d, none", c.bucket, c.lo, c.hi, c.start, from.Unix(), until.Unix())
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("buckets read mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{24, 24, 4}, perPage); diff != "" {
		t.Errorf("Queries per page mismatch (-want +got):\n%s", diff)
	}
}

// TestListDuePages checks that a page ends at its limit, inside a bucket
// (the cursor holds DynamoDB's last key, and the next page starts after it)
// or at a bucket's end (the next page starts at the next hour), and that
// entries map back to DueItems.
func TestListDuePages(t *testing.T) {
	h15 := time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)
	photo := dueEntry(core.DueUpload, storekeys.PhotoKey("pat-1", "ph_1"), h15.Add(10*time.Minute+time.Nanosecond))
	chat := dueEntry(core.DueUpload, storekeys.ChatImageKey("ci_1"), h15.Add(20*time.Minute))
	photo2 := dueEntry(core.DueUpload, storekeys.PhotoKey("pat#2", "ph_2"), h15.Add(time.Hour+time.Minute))
	var calls []queryCall
	f := &fakeAPI{query: func(in *dynamodb.QueryInput) (*dynamodb.QueryOutput, error) {
		c := recordQuery(t, in)
		calls = append(calls, c)
		switch {
		case c.bucket == "upload#2026-03-14-15" && c.start == nil:
			return &dynamodb.QueryOutput{Items: []item{photo}, LastEvaluatedKey: photo}, nil
		case c.bucket == "upload#2026-03-14-15":
			return &dynamodb.QueryOutput{Items: []item{chat}}, nil
		case c.bucket == "upload#2026-03-14-16":
			return &dynamodb.QueryOutput{Items: []item{photo2}}, nil
		}
		return &dynamodb.QueryOutput{}, nil
	}}
	s := fakeStore(f)
	from, until := h15, h15.Add(2*time.Hour-time.Second)
	list := func(cursor string, limit int) ([]core.DueItem, string) {
		t.Helper()
		items, next, err := s.ListDue(t.Context(), core.DueUpload, from, until, core.Page{Cursor: cursor, Limit: limit})
		if err != nil {
			t.Fatalf("ListDue: %v", err)
		}
		return items, next
	}

	items, next := list("", 1)
	wantItems := []core.DueItem{{Kind: core.DueUpload, Due: h15.Add(10*time.Minute + time.Second), ID: "ph_1", Owner: "pat-1"}}
	if diff := cmp.Diff(wantItems, items); diff != "" || next == "" {
		t.Fatalf("page 1 mismatch (-want +got):\n%s\ncursor %q", diff, next)
	}
	// The last read was the 14:00 bucket (lo-1 is 14:59:59), then 15:00 cut
	// at the limit.
	if diff := cmp.Diff([]string{"upload#2026-03-14-14", "upload#2026-03-14-15"}, []string{calls[0].bucket, calls[1].bucket}); diff != "" || len(calls) != 2 {
		t.Errorf("page 1 buckets mismatch (-want +got):\n%s (%d calls)", diff, len(calls))
	}

	calls = nil
	items, next = list(next, 1)
	wantItems = []core.DueItem{{Kind: core.DueUpload, Due: h15.Add(20 * time.Minute), ID: "ci_1"}}
	if diff := cmp.Diff(wantItems, items); diff != "" || next == "" {
		t.Fatalf("page 2 mismatch (-want +got):\n%s\ncursor %q", diff, next)
	}
	if len(calls) != 1 || calls[0].bucket != "upload#2026-03-14-15" ||
		!cmp.Equal(calls[0].start, photo, cmp.Comparer(func(a, b types.AttributeValue) bool { return fmt.Sprint(a) == fmt.Sprint(b) })) {
		t.Errorf("page 2: got calls %+v, want one of the 15:00 bucket from the first page's last key", calls)
	}

	calls = nil
	items, next = list(next, 1)
	wantItems = []core.DueItem{{Kind: core.DueUpload, Due: h15.Add(time.Hour + time.Minute), ID: "ph_2", Owner: "pat#2"}}
	if diff := cmp.Diff(wantItems, items); diff != "" {
		t.Errorf("page 3 mismatch (-want +got):\n%s", diff)
	}
	if len(calls) != 1 || calls[0].bucket != "upload#2026-03-14-16" || calls[0].start != nil {
		t.Errorf("page 3: got calls %+v, want one of the 16:00 bucket from its start", calls)
	}
	if next != "" {
		t.Errorf("page 3: got cursor %q, want the end: 16:00 is the last hour", next)
	}

	// A corrupt entry (the key of another kind) is KindInternal.
	f.query = func(*dynamodb.QueryInput) (*dynamodb.QueryOutput, error) {
		return &dynamodb.QueryOutput{Items: []item{dueEntry(core.DueUpload, storekeys.ShareKey("sh_1"), h15)}}, nil
	}
	if _, _, err := s.ListDue(t.Context(), core.DueUpload, from, until, core.Page{Limit: 5}); core.KindOf(err) != core.KindInternal {
		t.Errorf("ListDue of a corrupt entry: got %v, want kind internal", err)
	}
}

// TestDueItemKeys checks that each kind's key maps to its DueItem and back.
func TestDueItemKeys(t *testing.T) {
	for _, it := range []core.DueItem{
		{Kind: core.DueUpload, ID: "ph_1", Owner: "pat-1"},
		{Kind: core.DueUpload, ID: "ci_1"},
		{Kind: core.DueShare, ID: "sh_1"},
		{Kind: core.DueKey, ID: "ek_1"},
		{Kind: core.DueNotification, ID: "nt_1", Owner: "dr#a"},
	} {
		k, err := storekeys.DueItemKey(it)
		if err != nil {
			t.Fatalf("DueItemKey(%+v): %v", it, err)
		}
		got, err := decodeDue(it.Kind, dueEntry(it.Kind, k, ft0))
		it.Due = time.Unix(epochCeil(ft0), 0).UTC()
		if err != nil || !cmp.Equal(it, got) {
			t.Errorf("decodeDue(%s %+v) = %+v, %v; want %+v", it.Kind, k, got, err, it)
		}
	}
}

// TestListDueRefusesMalformedCursors checks that a cursor ListDue did not
// make for this kind and range is KindInvalid, before any request.
func TestListDueRefusesMalformedCursors(t *testing.T) {
	from := time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)
	until := from.Add(3 * time.Hour)
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	at := func(d time.Duration) string { return strconv.FormatInt(from.Add(d).Unix(), 10) }
	ok := enc(`{"k":"upload","h":"2026-03-14-16","pk":"USER#pat-1","sk":"PHOTO#ph_1","t":` + at(time.Hour) + `}`)
	f := &fakeAPI{query: func(*dynamodb.QueryInput) (*dynamodb.QueryOutput, error) { return &dynamodb.QueryOutput{}, nil }}
	s := fakeStore(f)
	if _, _, err := s.ListDue(t.Context(), core.DueUpload, from, until, core.Page{Cursor: ok, Limit: 5}); err != nil {
		t.Fatalf("ListDue with a good cursor: %v", err)
	}
	f.calls = nil
	for name, cursor := range map[string]string{
		"not base64":               "%%%",
		"not JSON":                 enc("USER#pat-1"),
		"trailing data":            enc(`{"k":"upload","h":"2026-03-14-16"} {}`),
		"unknown field":            enc(`{"k":"upload","h":"2026-03-14-16","x":1}`),
		"another kind":             enc(`{"k":"share","h":"2026-03-14-16"}`),
		"no kind":                  enc(`{"h":"2026-03-14-16"}`),
		"hour malformed":           enc(`{"k":"upload","h":"2026-3-14-16"}`),
		"hour before the range":    enc(`{"k":"upload","h":"2026-03-14-13"}`),
		"hour after the range":     enc(`{"k":"upload","h":"2026-03-14-19"}`),
		"start key of a share":     enc(`{"k":"upload","h":"2026-03-14-16","pk":"SHARE#sh_1","sk":"SHARE","t":` + at(time.Hour) + `}`),
		"start key without a time": enc(`{"k":"upload","h":"2026-03-14-16","pk":"USER#pat-1","sk":"PHOTO#ph_1"}`),
		"time without a key":       enc(`{"k":"upload","h":"2026-03-14-16","t":` + at(time.Hour) + `}`),
		"time after the range":     enc(`{"k":"upload","h":"2026-03-14-16","pk":"USER#pat-1","sk":"PHOTO#ph_1","t":` + at(4*time.Hour) + `}`),
		"empty photo id":           enc(`{"k":"upload","h":"2026-03-14-16","pk":"USER#pat-1","sk":"PHOTO#","t":` + at(time.Hour) + `}`),
	} {
		_, _, err := s.ListDue(t.Context(), core.DueUpload, from, until, core.Page{Cursor: cursor, Limit: 5})
		if core.KindOf(err) != core.KindInvalid {
			t.Errorf("%s: got %v, want kind invalid", name, err)
		}
	}
	_, _, err := s.ListDue(t.Context(), core.DueKind("photo"), from, until, core.Page{Limit: 5})
	if core.KindOf(err) != core.KindInvalid {
		t.Errorf("unknown kind: got %v, want kind invalid", err)
	}
	// An empty range needs no request.
	if items, next, err := s.ListDue(t.Context(), core.DueUpload, until, from, core.Page{Limit: 5}); err != nil || len(items) != 0 || next != "" {
		t.Errorf("ListDue(until, from): got %v, %q, %v; want nothing", items, next, err)
	}
	if calls := f.ops(); len(calls) != 0 {
		t.Errorf("calls made: %v, want none", calls)
	}
}

// TestAbandonUploadAnswers checks the delete of each kind of upload and how
// a failed condition is read from the item it returns.
func TestAbandonUploadAnswers(t *testing.T) {
	window := ft0.Add(15 * time.Minute)
	pending := core.Photo{ID: "ph_1", OwnerID: "pat-1", Status: core.StatusPending, UploadExpiresAt: window}
	ready := pending
	ready.Status = core.StatusReady
	readyImg := core.ChatImage{ID: "ci_1", Status: core.StatusReady, UploadExpiresAt: window}
	photoAV := func(p core.Photo) item {
		it, err := marshal(photoItemOf(p))
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	imgAV, err := marshal(chatImageItemOf(readyImg))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		it      core.DueItem
		old     item // nil: the delete succeeds
		now     time.Time
		wantKey storekeys.Key
		want    string
	}{
		{"photo deleted", core.DueItem{ID: "ph_1", Owner: "pat-1"}, nil, window, storekeys.PhotoKey("pat-1", "ph_1"), "nil"},
		{"chat image deleted", core.DueItem{ID: "ci_1"}, nil, window, storekeys.ChatImageKey("ci_1"), "nil"},
		{"photo ready", core.DueItem{ID: "ph_1", Owner: "pat-1"}, photoAV(ready), window.Add(time.Hour), storekeys.PhotoKey("pat-1", "ph_1"), "conflict"},
		{"chat image ready", core.DueItem{ID: "ci_1"}, imgAV, window, storekeys.ChatImageKey("ci_1"), "conflict"},
		{"pending in its window", core.DueItem{ID: "ph_1", Owner: "pat-1"}, photoAV(pending), window.Add(-time.Nanosecond), storekeys.PhotoKey("pat-1", "ph_1"), "conflict"},
		{"pending past its window", core.DueItem{ID: "ph_1", Owner: "pat-1"}, photoAV(pending), window, storekeys.PhotoKey("pat-1", "ph_1"), "internal"},
		{"no item", core.DueItem{ID: "ph_1", Owner: "pat-1"}, item{}, window, storekeys.PhotoKey("pat-1", "ph_1"), "internal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := deleteFake(t, tc.wantKey, tc.old, func(in *dynamodb.DeleteItemInput) {
				if got, want := aws.ToString(in.ConditionExpression), "attribute_not_exists(#pk) OR (#status = :pending AND #window <= :now)"; got != want {
					t.Errorf("condition: got %q, want %q", got, want)
				}
				if in.ExpressionAttributeNames["#window"] != attrUploadExpiresAt || in.ExpressionAttributeValues[":now"].(*types.AttributeValueMemberS).Value != storeitem.FormatTime(tc.now) {
					t.Errorf("condition compares %v with %v, want upload_expires_at with now", in.ExpressionAttributeNames, in.ExpressionAttributeValues)
				}
			})
			wantOneDelete(t, f, "AbandonUpload", fakeStore(f).AbandonUpload(t.Context(), tc.it, tc.now), tc.want)
		})
	}
}

// keyOf is the storekeys.Key of a key item.
func keyOf(it item) storekeys.Key {
	return storekeys.Key{PK: it[AttrPK].(*types.AttributeValueMemberS).Value, SK: it[AttrSK].(*types.AttributeValueMemberS).Value}
}

// deleteFake is a fake whose DeleteItem checks that it deletes the item at
// want, with check for the rest of the request, and that it returns the
// item as it was (ALL_OLD) when its condition fails; which it does on old,
// and succeeds when old is nil.
func deleteFake(t *testing.T, want storekeys.Key, old item, check func(*dynamodb.DeleteItemInput)) *fakeAPI {
	return &fakeAPI{deleteItem: func(in *dynamodb.DeleteItemInput) (*dynamodb.DeleteItemOutput, error) {
		if diff := cmp.Diff(want, keyOf(in.Key)); diff != "" {
			t.Errorf("key mismatch (-want +got):\n%s", diff)
		}
		check(in)
		if in.ReturnValuesOnConditionCheckFailure != types.ReturnValuesOnConditionCheckFailureAllOld {
			t.Error("the delete does not return the item as it was on failure")
		}
		if old != nil {
			return nil, opErr("DeleteItem", &types.ConditionalCheckFailedException{Item: old})
		}
		return &dynamodb.DeleteItemOutput{}, nil
	}}
}

// wantOneDelete checks that method answered err of kind want (kindOf) with
// the one DeleteItem of f.
func wantOneDelete(t *testing.T, f *fakeAPI, method string, err error, want string) {
	t.Helper()
	if got := kindOf(err); got != want {
		t.Errorf("%s: got %v (kind %s), want %s", method, err, got, want)
	}
	if diff := cmp.Diff([]string{"DeleteItem"}, f.ops()); diff != "" {
		t.Errorf("calls mismatch (-want +got):\n%s", diff)
	}
}

func TestDeleteExpiredKeyAnswers(t *testing.T) {
	k := fakeKey()
	for _, tc := range []struct {
		name string
		old  item
		now  time.Time
		want string
	}{
		{"deleted", nil, k.ExpiresAt, "nil"},
		{"not expired", keyAV(t, nil), k.ExpiresAt.Add(-time.Nanosecond), "conflict"},
		{"used, not expired", keyAV(t, func(k *core.EphemeralKey) { k.Status = core.KeyUsed }), ft0, "conflict"},
		{"expired", keyAV(t, nil), k.ExpiresAt, "internal"},
		{"no item", item{}, k.ExpiresAt, "internal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := deleteFake(t, storekeys.EphemeralKeyKey(k.ID), tc.old, func(in *dynamodb.DeleteItemInput) {
				if got, want := aws.ToString(in.ConditionExpression), "attribute_not_exists(#pk) OR #expires <= :now"; got != want || in.ExpressionAttributeNames["#expires"] != attrKeyExpiresAt {
					t.Errorf("condition: got %q with %v, want %q on %s", got, in.ExpressionAttributeNames, want, attrKeyExpiresAt)
				}
			})
			wantOneDelete(t, f, "DeleteExpiredKey", fakeStore(f).DeleteExpiredKey(t.Context(), k.ID, tc.now), tc.want)
		})
	}
}

func TestExpireShareCancellation(t *testing.T) {
	head := headAV(t, "pat-1", 9, []byte("h9"))
	now := ft0.Add(time.Hour) // fakeShare's expiry
	notes := []core.Notification{{ID: "nt_1", RecipientID: "pat-1"}, {ID: "nt_2", RecipientID: "dr-a"}}
	revoked := func(sh *core.Share) { sh.Status = core.ShareRevoked }
	expired := func(sh *core.Share) { sh.Status = core.ShareExpired }
	notYet := func(sh *core.Share) { sh.ExpiresAt = now.Add(time.Nanosecond) }
	isNil := wantAnswer{isNil: true}
	// share, two inbox items, record, head
	runCancellations(t, 5, []cancelCase{
		{"no share", reasonsOf(ccf(nil), none, none, none, none), notFound()},
		{"no share and head moved", reasonsOf(ccf(nil), none, none, none, ccf(head)), notFound()},
		{"revoked", reasonsOf(ccf(shareAV(t, revoked)), none, none, none, none), isNil},
		{"expired before", reasonsOf(ccf(shareAV(t, expired)), none, none, none, none), isNil},
		{"expired before and head moved", reasonsOf(ccf(shareAV(t, expired)), none, none, none, ccf(head)), isNil},
		{"not yet expired", reasonsOf(ccf(shareAV(t, notYet)), none, none, none, none), conflict()},
		{"not yet expired and head moved", reasonsOf(ccf(shareAV(t, notYet)), none, none, none, ccf(head)), conflict()},
		{"active past its expiry", reasonsOf(ccf(shareAV(t, nil)), none, none, none, none), internalErr()},
		{"head moved", reasonsOf(none, none, none, none, ccf(head)), headMoved()},
		{"second notification id taken", reasonsOf(none, none, ccf(nil), none, none), conflict()},
	}, func(s *Store) error {
		expired, err := s.ExpireShare(t.Context(), "sh_1", now, fakeRec, notes...)
		if expired {
			t.Errorf("ExpireShare: got expired=true with %v, want false", err)
		}
		return err
	})
}

// TestExpireShareWrites pins ExpireShare's one transaction: the share's
// update, the inbox items in order, the record and the head.
func TestExpireShareWrites(t *testing.T) {
	var got *dynamodb.TransactWriteItemsInput
	f := recordingTransact(&got)
	now := ft0.Add(time.Hour)
	notes := []core.Notification{{ID: "nt_1", RecipientID: "pat-1"}, {ID: "nt_2", RecipientID: "dr-a"}}
	expired, err := fakeStore(f).ExpireShare(t.Context(), "sh_1", now, fakeRec, notes...)
	if err != nil || !expired {
		t.Fatalf("ExpireShare: got (%v, %v), want (true, nil)", expired, err)
	}
	if len(got.TransactItems) != 5 {
		t.Fatalf("got %d writes, want 5", len(got.TransactItems))
	}
	u := got.TransactItems[0].Update
	if u == nil {
		t.Fatal("the first write is not an Update")
	}
	if diff := cmp.Diff(storekeys.ShareKey("sh_1"), keyOf(u.Key)); diff != "" {
		t.Errorf("update key mismatch (-want +got):\n%s", diff)
	}
	expr := aws.ToString(u.UpdateExpression) + " IF " + aws.ToString(u.ConditionExpression)
	if want := "SET #status = :expired REMOVE #bucket, #timeat IF #status = :active AND #expires <= :now"; expr != want {
		t.Errorf("got %q, want %q", expr, want)
	}
	wantNames := map[string]string{"#status": attrStatus, "#expires": attrShareExpiresAt, "#bucket": AttrTimeBucket, "#timeat": AttrTimeAt}
	if diff := cmp.Diff(wantNames, u.ExpressionAttributeNames); diff != "" {
		t.Errorf("names mismatch (-want +got):\n%s", diff)
	}
	for k, v := range map[string]string{":expired": "expired", ":active": "active", ":now": storeitem.FormatTime(now)} {
		if s, ok := u.ExpressionAttributeValues[k].(*types.AttributeValueMemberS); !ok || s.Value != v {
			t.Errorf("%s is %#v, want %q", k, u.ExpressionAttributeValues[k], v)
		}
	}
	if u.ReturnValuesOnConditionCheckFailure != types.ReturnValuesOnConditionCheckFailureAllOld {
		t.Error("the update does not return the share as it was on failure")
	}
	for i, n := range notes {
		p := got.TransactItems[1+i].Put
		if p == nil || keyOf(p.Item) != storekeys.InboxKey(n.RecipientID, n.ID) {
			t.Errorf("write %d is not the inbox item of %s", 1+i, n.ID)
			continue
		}
		wantS(t, p.Item, AttrTimeBucket, DueBucket(core.DueNotification, n.CreatedAt))
	}
	if p := got.TransactItems[3].Put; p == nil || keyOf(p.Item) != storekeys.AuditRecordKey("pat-1", fakeRec.Seq) {
		t.Error("write 3 is not the audit record")
	}
}

// TestWatermarkRequests pins SetJobWatermark's condition, and that a failed
// condition (a watermark at or after t) is no error.
func TestWatermarkRequests(t *testing.T) {
	tm := ft0.In(elsewhereZone)
	for _, failed := range []bool{false, true} {
		f := &fakeAPI{updateItem: func(in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
			if diff := cmp.Diff(storekeys.Key{PK: "JOB#share", SK: "WATERMARK"}, keyOf(in.Key)); diff != "" {
				t.Errorf("key mismatch (-want +got):\n%s", diff)
			}
			expr := aws.ToString(in.UpdateExpression) + " IF " + aws.ToString(in.ConditionExpression)
			if want := "SET #at = :t, #kind = :kind IF attribute_not_exists(#at) OR #at < :t"; expr != want {
				t.Errorf("got %q, want %q", expr, want)
			}
			if v := in.ExpressionAttributeValues[":t"].(*types.AttributeValueMemberS).Value; v != "2026-03-14T15:09:26.535897932Z" {
				t.Errorf(":t is %q, want the time in UTC to the nanosecond", v)
			}
			if failed {
				return nil, opErr("UpdateItem", &types.ConditionalCheckFailedException{})
			}
			return &dynamodb.UpdateItemOutput{}, nil
		}}
		if err := fakeStore(f).SetJobWatermark(t.Context(), core.DueShare, tm); err != nil {
			t.Errorf("SetJobWatermark (condition failed: %v): %v", failed, err)
		}
		if diff := cmp.Diff([]string{"UpdateItem"}, f.ops()); diff != "" {
			t.Errorf("calls mismatch (-want +got):\n%s", diff)
		}
	}
}

// TestCountAuditSumsTheShards checks that CountAudit reads each of the
// day's shards of the key, follows a shard's pages, and sums.
func TestCountAuditSumsTheShards(t *testing.T) {
	day := time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
	var buckets []string
	f := &fakeAPI{query: func(in *dynamodb.QueryInput) (*dynamodb.QueryOutput, error) {
		if aws.ToString(in.IndexName) != IndexTime || in.Select != types.SelectCount {
			t.Errorf("Query: index %q, select %q; want %s, COUNT", aws.ToString(in.IndexName), in.Select, IndexTime)
		}
		b := in.ExpressionAttributeValues[":bucket"].(*types.AttributeValueMemberS).Value
		buckets = append(buckets, b)
		shard, _ := strconv.Atoi(b[strings.LastIndex(b, "#")+1:])
		if shard == 3 && in.ExclusiveStartKey == nil { // a shard counted in two pages
			return &dynamodb.QueryOutput{Count: 1000, LastEvaluatedKey: keyItem(storekeys.AuditRecordKey("pat-9", 1))}, nil
		}
		return &dynamodb.QueryOutput{Count: int32(shard + 1)}, nil
	}}
	s := fakeStore(f)
	// Any time in the day, in any zone, names it.
	got, err := s.CountAudit(t.Context(), day.Add(23*time.Hour).In(elsewhereZone), "key.issue|success|professional")
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(1+2+3+4+5+6+7+8) + 1000; got != want {
		t.Errorf("CountAudit = %d, want %d", got, want)
	}
	var want []string
	for shard := range AuditShards {
		b := fmt.Sprintf("audit#2026-03-14#key.issue|success|professional#%d", shard)
		want = append(want, b)
		if shard == 3 {
			want = append(want, b)
		}
	}
	if diff := cmp.Diff(want, buckets); diff != "" {
		t.Errorf("buckets read mismatch (-want +got):\n%s", diff)
	}
}

// TestTallyRequest pins Tally's one UpdateItem and how it reads the count.
func TestTallyRequest(t *testing.T) {
	until := ft0.Add(time.Minute)
	f := &fakeAPI{updateItem: func(in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
		if diff := cmp.Diff(storekeys.Key{PK: "TALLY#issue:ac_1:42", SK: "TALLY"}, keyOf(in.Key)); diff != "" {
			t.Errorf("key mismatch (-want +got):\n%s", diff)
		}
		if got, want := aws.ToString(in.UpdateExpression), "ADD #n :one SET #ttl = :ttl"; got != want || in.ConditionExpression != nil {
			t.Errorf("got %q if %v, want %q unconditional", got, in.ConditionExpression, want)
		}
		if v := in.ExpressionAttributeValues[":ttl"].(*types.AttributeValueMemberN).Value; v != strconv.FormatInt(until.Unix()+1, 10) {
			t.Errorf(":ttl is %s, want until rounded up", v)
		}
		if in.ReturnValues != types.ReturnValueUpdatedNew {
			t.Errorf("ReturnValues: got %q, want UPDATED_NEW", in.ReturnValues)
		}
		return &dynamodb.UpdateItemOutput{Attributes: item{attrTallyCount: avN("7"), AttrTTL: avN("1")}}, nil
	}}
	n, err := fakeStore(f).Tally(t.Context(), "issue:ac_1:42", until)
	if err != nil || n != 7 {
		t.Errorf("Tally: got %d, %v; want 7", n, err)
	}
}

func TestJobInvalidInputMakesNoCall(t *testing.T) {
	f := &fakeAPI{}
	s := fakeStore(f)
	ctx := t.Context()
	bad := map[string]error{
		"AbandonUpload photo id":   s.AbandonUpload(ctx, core.DueItem{ID: "ph\x00", Owner: "pat-1"}, ft0),
		"AbandonUpload owner":      s.AbandonUpload(ctx, core.DueItem{ID: "ph_1", Owner: "p\xff"}, ft0),
		"AbandonUpload no id":      s.AbandonUpload(ctx, core.DueItem{}, ft0),
		"ExpireShare id":           errOf2(s.ExpireShare(ctx, "", ft0, fakeRec, nil...)),
		"ExpireShare notification": errOf2(s.ExpireShare(ctx, "sh_1", ft0, fakeRec, []core.Notification{{ID: "nt_1"}}...)),
		"DeleteExpiredKey":         s.DeleteExpiredKey(ctx, "ek\x00", ft0),
		"GetNotification":          errOf2(s.GetNotification(ctx, "", "nt_1")),
		"JobWatermark":             errOf2(s.JobWatermark(ctx, core.DueKind("x"))),
		"SetJobWatermark":          s.SetJobWatermark(ctx, core.DueKind(""), ft0),
		"CountAudit":               errOf2(s.CountAudit(ctx, ft0, "")),
		"Tally":                    errOf2(s.Tally(ctx, "", ft0)),
	}
	wantInvalidNoCall(t, f, bad)
}
