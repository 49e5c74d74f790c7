package dynamostore

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
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

// Tests of the JobStore methods against DynamoDB Local: the requests each
// makes, and the items and index entries that the contract suite
// (TestJobContract) does not see.

// TestJobRequestsOnEmulator checks that every JobStore method but
// CountAudit and ListDue is one request whatever its answer, that
// CountAudit of a small day is one Query per shard, and that a ListDue page
// is bounded.
func TestJobRequestsOnEmulator(t *testing.T) {
	e := newShareEnv(t)
	ctx := t.Context()
	sh := testShare("pat-1", "dr-a", st0, 3, 1)
	e.storePhotos(sh)
	e.create(sh)
	k := ephemeral(sh, "dr-a", st0)
	if err := e.open(access(sh, "dr-a", "fp-1", st0), st0); err != nil {
		t.Fatal(err)
	}
	if err := e.issue(k, st0); err != nil {
		t.Fatal(err)
	}
	pending := core.Photo{ID: core.NewID("ph"), OwnerID: "pat-1", Size: 1, SHA256: []byte("x"), Status: core.StatusPending,
		CreatedAt: st0, UploadExpiresAt: st0.Add(15 * time.Minute)}
	if err := e.s.CreatePhoto(ctx, pending); err != nil {
		t.Fatal(err)
	}
	window := pending.UploadExpiresAt
	expiry := sh.ExpiresAt
	expireNotes := func() []core.Notification {
		return []core.Notification{note("pat-1", core.NoteSessionExpired, sh.ID, expiry), note("dr-a", core.NoteSessionExpired, sh.ID, expiry)}
	}
	expire := func(now time.Time) func() error {
		return func() error {
			rec := e.rec("pat-1", core.CleanupID, core.AuditShareExpire)
			expired, err := e.s.ExpireShare(ctx, sh.ID, now, rec, expireNotes()...)
			if expired {
				e.commit(rec, err)
			}
			return err
		}
	}

	for _, tc := range []struct {
		name string
		op   func() error
		want string
	}{
		{"AbandonUpload in the window", func() error {
			return e.s.AbandonUpload(ctx, core.DueItem{Kind: core.DueUpload, ID: pending.ID, Owner: "pat-1"}, window.Add(-time.Nanosecond))
		}, "conflict"},
		{"AbandonUpload", func() error {
			return e.s.AbandonUpload(ctx, core.DueItem{Kind: core.DueUpload, ID: pending.ID, Owner: "pat-1"}, window)
		}, "nil"},
		{"AbandonUpload of an absent upload", func() error {
			return e.s.AbandonUpload(ctx, core.DueItem{Kind: core.DueUpload, ID: pending.ID, Owner: "pat-1"}, window)
		}, "nil"},
		{"ExpireShare before the expiry", expire(expiry.Add(-time.Nanosecond)), "conflict"},
		{"ExpireShare of no share", func() error {
			_, err := e.s.ExpireShare(ctx, "sh_none", expiry, e.rec("pat-1", core.CleanupID, core.AuditShareExpire), expireNotes()...)
			return err
		}, "not found"},
		{"ExpireShare with a stale head", func() error {
			_, err := e.s.ExpireShare(ctx, sh.ID, expiry, core.Link(core.AuditRecord{PatientID: "pat-1", At: expiry}, core.ChainHead{}), expireNotes()...)
			var moved *core.HeadMismatchError
			if errors.As(err, &moved) {
				return nil
			}
			return fmt.Errorf("got %v, want a head mismatch", err)
		}, "nil"},
		{"ExpireShare", expire(expiry), "nil"},
		{"ExpireShare of an expired share", expire(expiry), "nil"},
		{"DeleteExpiredKey before the expiry", func() error { return e.s.DeleteExpiredKey(ctx, k.ID, k.ExpiresAt.Add(-time.Nanosecond)) }, "conflict"},
		{"DeleteExpiredKey", func() error { return e.s.DeleteExpiredKey(ctx, k.ID, k.ExpiresAt) }, "nil"},
		{"DeleteExpiredKey of an absent key", func() error { return e.s.DeleteExpiredKey(ctx, k.ID, k.ExpiresAt) }, "nil"},
		{"GetNotification of none", func() error { return errOf2(e.s.GetNotification(ctx, "dr-a", "nt_none")) }, "not found"},
		{"JobWatermark", func() error { return errOf2(e.s.JobWatermark(ctx, core.DueKey)) }, "nil"},
		{"SetJobWatermark", func() error { return e.s.SetJobWatermark(ctx, core.DueKey, st0) }, "nil"},
		{"SetJobWatermark back", func() error { return e.s.SetJobWatermark(ctx, core.DueKey, st0.Add(-time.Hour)) }, "nil"},
		{"PutDailyReport", func() error { return e.s.PutDailyReport(ctx, core.DailyReport{Day: st0, GeneratedAt: st0}) }, "nil"},
		{"GetDailyReport", func() error { return errOf2(e.s.GetDailyReport(ctx, st0)) }, "nil"},
		{"GetDailyReport of none", func() error { return errOf2(e.s.GetDailyReport(ctx, st0.AddDate(0, 0, 1))) }, "not found"},
		{"Tally", func() error { return errOf2(e.s.Tally(ctx, "burst:ac_1:1", st0.Add(time.Hour))) }, "nil"},
	} {
		n, err := e.requests(tc.op)
		if got := kindOf(err); got != tc.want {
			t.Errorf("%s: got %v (kind %s), want %s", tc.name, err, got, tc.want)
		}
		if n != 1 {
			t.Errorf("%s made %d requests, want 1", tc.name, n)
		}
	}
	items, _, err := e.s.ListInbox(ctx, "dr-a", core.Page{Limit: 1})
	if err != nil || len(items) != 1 {
		t.Fatalf("ListInbox: %d items, %v", len(items), err)
	}
	if n, err := e.requests(func() error { return errOf2(e.s.GetNotification(ctx, "dr-a", items[0].ID)) }); err != nil || n != 1 {
		t.Errorf("GetNotification: %v after %d requests, want one", err, n)
	}

	n, err := e.requests(func() error {
		got, err := e.s.CountAudit(ctx, st0, core.AuditRecord{Action: core.AuditShareCreate}.StatKey())
		if err == nil && got != 0 { // e.rec's records have no role
			err = fmt.Errorf("counted %d, want 0", got)
		}
		return err
	})
	if err != nil || n != AuditShards {
		t.Errorf("CountAudit: %v after %d requests, want %d", err, n, AuditShards)
	}

	// A page over three days of empty hours stops at maxDueQueries.
	n, err = e.requests(func() error {
		_, next, err := e.s.ListDue(ctx, core.DueShare, st0.Add(24*time.Hour), st0.Add(96*time.Hour), core.Page{Limit: 10})
		if err == nil && next == "" {
			err = errors.New("no cursor after a page of 24 hours of 72")
		}
		return err
	})
	if err != nil || n != maxDueQueries {
		t.Errorf("ListDue over empty hours: %v after %d requests, want %d", err, n, maxDueQueries)
	}
}

// rawItem reads the item at k as stored.
func (e *shareEnv) rawItem(k storekeys.Key) item {
	e.t.Helper()
	it, err := e.s.get(e.t.Context(), k)
	if err != nil {
		e.t.Fatal(err)
	}
	return it
}

// TestJobItemsOnEmulator checks the stored shapes: the audit counter on
// every record however it was written, and the index entries it counts;
// an expired share out of the index with its TTL kept; the items of
// watermarks, reports and tallies.
func TestJobItemsOnEmulator(t *testing.T) {
	e := newShareEnv(t)
	ctx := t.Context()
	day := st0.Truncate(24 * time.Hour)

	t.Run("audit counters", func(t *testing.T) {
		// Records of patients in several shards, by AppendAudit and by a
		// share's transactions; all of one StatKey on one day.
		key := core.AuditRecord{Action: "photo.list", Outcome: core.OutcomeSuccess, ActorRole: core.RoleProfessional}.StatKey()
		shards := map[int]int64{}
		var total int64
		for i := range 12 {
			patient := fmt.Sprintf("pat-count-%d", i)
			var head core.ChainHead
			for range i%3 + 1 {
				rec := core.Link(core.AuditRecord{PatientID: patient, ActorID: "dr-a", ActorRole: core.RoleProfessional,
					Action: "photo.list", Outcome: core.OutcomeSuccess, At: day.Add(time.Duration(i) * time.Hour)}, head)
				if err := e.s.AppendAudit(ctx, rec); err != nil {
					t.Fatal(err)
				}
				head = core.ChainHead{Seq: rec.Seq, Hash: rec.Hash}
				shards[AuditShard(patient)]++
				total++
			}
		}
		if len(shards) < 3 {
			t.Fatalf("the records fell in %d shards, want several: pick other patients", len(shards))
		}
		if got, err := e.s.CountAudit(ctx, day, key); err != nil || got != total {
			t.Errorf("CountAudit: got %d, %v; want %d", got, err, total)
		}
		for shard, want := range shards {
			out, err := e.client.Query(ctx, &dynamodb.QueryInput{
				TableName: e.s.table, IndexName: aws.String(IndexTime),
				KeyConditionExpression:    aws.String("#b = :b"),
				ExpressionAttributeNames:  map[string]string{"#b": AttrTimeBucket},
				ExpressionAttributeValues: map[string]types.AttributeValue{":b": avS(AuditBucket(day, key, shard))},
				Select:                    types.SelectCount,
			})
			if err != nil || int64(out.Count) != want {
				t.Errorf("bucket of shard %d: %d entries, %v; want %d", shard, out.Count, err, want)
			}
		}
		// A record written by a share's transaction carries its counter.
		sh := testShare("pat-count-0", "dr-a", st0, 1, 1)
		e.storePhotos(sh)
		e.create(sh)
		head, err := e.s.AuditHead(ctx, sh.PatientID)
		if err != nil {
			t.Fatal(err)
		}
		it := e.rawItem(storekeys.AuditRecordKey(sh.PatientID, head.Seq))
		wantS(t, it, AttrTimeBucket, AuditBucket(st0, "share.create|success|", AuditShard(sh.PatientID)))
		wantN(t, it, AttrTimeAt, st0.Unix())
	})

	t.Run("expired share", func(t *testing.T) {
		sh := testShare("pat-1", "dr-a", st0, 1, 1)
		e.storePhotos(sh)
		e.create(sh)
		var expired bool
		notes := []core.Notification{note("pat-1", core.NoteSessionExpired, sh.ID, sh.ExpiresAt), note("dr-a", core.NoteSessionExpired, sh.ID, sh.ExpiresAt)}
		err := e.chained("pat-1", core.CleanupID, core.AuditShareExpire, func(rec core.AuditRecord) (err error) {
			expired, err = e.s.ExpireShare(ctx, sh.ID, sh.ExpiresAt, rec, notes...)
			return err
		})
		if err != nil || !expired {
			t.Fatalf("ExpireShare: got (%v, %v), want (true, nil)", expired, err)
		}
		it := e.rawItem(storekeys.ShareKey(sh.ID))
		wantS(t, it, attrStatus, "expired")
		if it[AttrTimeBucket] != nil || it[AttrTimeAt] != nil {
			t.Errorf("expired share is still in %s", IndexTime)
		}
		wantN(t, it, AttrTTL, epochCeil(sh.ExpiresAt.Add(ShareTTLGrace)))
		if got := dueIn(t, e, DueBucket(core.DueShare, sh.ExpiresAt), sh.ExpiresAt); slices.Contains(got, storekeys.SharePKPrefix+sh.ID) {
			t.Errorf("shares due after ExpireShare: got %v, want it gone", got)
		}
		for _, n := range notes {
			got, err := e.s.GetNotification(ctx, n.RecipientID, n.ID)
			if err != nil || got.Type != core.NoteSessionExpired || got.Published {
				t.Errorf("GetNotification(%s): got %+v, %v; want the unpublished expiry", n.RecipientID, got, err)
			}
			wantS(t, e.rawItem(storekeys.InboxKey(n.RecipientID, n.ID)), AttrTimeBucket, DueBucket(core.DueNotification, n.CreatedAt))
		}
	})

	t.Run("watermark", func(t *testing.T) {
		at := st0.In(elsewhereZone)
		if err := e.s.SetJobWatermark(ctx, core.DueUpload, at); err != nil {
			t.Fatal(err)
		}
		it := e.rawItem(storekeys.WatermarkKey(core.DueUpload))
		want := map[string]string{AttrPK: "JOB#upload", AttrSK: "WATERMARK", "kind": "upload", "at": storeitem.FormatTime(st0)}
		if diff := cmp.Diff(want, stringAttrs(it)); diff != "" {
			t.Errorf("watermark item mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("report", func(t *testing.T) {
		r := core.DailyReport{Day: day.Add(5 * time.Hour), GeneratedAt: st0, ReportCounts: core.ReportCounts{SharesCreated: 1 << 40, ChatImageFetches: 7}}
		if err := e.s.PutDailyReport(ctx, r); err != nil {
			t.Fatal(err)
		}
		it := e.rawItem(storekeys.DailyReportKey(day))
		wantS(t, it, AttrPK, "REPORT#"+day.Format("2006-01-02"))
		wantS(t, it, "day", storeitem.FormatTime(day))
		wantN(t, it, "sessions_created", 1<<40)
		wantN(t, it, "chat_image_fetches", 7)
		if it[AttrTTL] != nil || it[AttrTimeBucket] != nil {
			t.Errorf("report has a TTL or an index entry: %v", it)
		}
	})

	t.Run("tally", func(t *testing.T) {
		until := st0.Add(90 * time.Second)
		for want := int64(1); want <= 3; want++ {
			if got, err := e.s.Tally(ctx, "burst:ac_x:7", until); err != nil || got != want {
				t.Errorf("Tally: got %d, %v; want %d", got, err, want)
			}
		}
		it := e.rawItem(storekeys.TallyKey("burst:ac_x:7"))
		wantN(t, it, attrTallyCount, 3)
		wantN(t, it, AttrTTL, epochCeil(until))
		if it[AttrTimeBucket] != nil {
			t.Errorf("tally is in %s", IndexTime)
		}
	})
}

// stringAttrs is the S attributes of it.
func stringAttrs(it item) map[string]string {
	out := map[string]string{}
	for k, v := range it {
		if s, ok := v.(*types.AttributeValueMemberS); ok {
			out[k] = s.Value
		}
	}
	return out
}

// TestListDueOnEmulator reads a bucket fuller than a page from the index
// itself: pages of the limit, cut inside the bucket, no item twice.
func TestListDueOnEmulator(t *testing.T) {
	e := newShareEnv(t)
	ctx := t.Context()
	hour := st0.Add(2 * time.Hour).Truncate(time.Hour)
	var want []string
	for i := range 7 {
		p := core.Photo{ID: core.NewID("ph"), OwnerID: "pat-" + strconv.Itoa(i%2), Size: 1, SHA256: []byte("x"),
			Status: core.StatusPending, CreatedAt: st0, UploadExpiresAt: hour.Add(time.Duration(i) * time.Minute)}
		if err := e.s.CreatePhoto(ctx, p); err != nil {
			t.Fatal(err)
		}
		want = append(want, p.OwnerID+"/"+p.ID)
	}
	var got []string
	var sizes []int
	page := core.Page{Limit: 3}
	for range 10 {
		items, next, err := e.s.ListDue(ctx, core.DueUpload, hour, hour.Add(time.Hour-time.Second), page)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(items))
		for _, it := range items {
			got = append(got, it.Owner+"/"+it.ID)
		}
		if next == "" {
			break
		}
		page.Cursor = next
	}
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("items listed mismatch (-want +got):\n%s", diff)
	}
	// The hour before (lo-1) is empty, the hour itself has 7: 3, 3, 1.
	if diff := cmp.Diff([]int{3, 3, 1}, sizes); diff != "" {
		t.Errorf("page sizes mismatch (-want +got):\n%s", diff)
	}
}
