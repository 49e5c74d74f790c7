package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/store/storeitem"
	"github.com/medshare/medshare/shared/store/storekeys"
)

// Tests of the ShareStore methods against DynamoDB Local: what each answer
// is, that it is one request, and that a failed write writes nothing.

// st0 is the tests' "now", with nanoseconds so that precision loss shows.
// It follows the wall clock because these tests run on tables with TTL on,
// and DynamoDB Local deletes an item whose TTL has passed when a write
// touches it: a share of a fixed date in the past would vanish under the
// writes that count its views.
var st0 = time.Now().UTC().Truncate(time.Second).Add(535897932)

var shareCmp = cmp.Options{cmpopts.EquateEmpty()}

// countingAPI counts the requests that reach DynamoDB.
type countingAPI struct {
	API
	n atomic.Int64
}

func (c *countingAPI) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.n.Add(1)
	return c.API.GetItem(ctx, in, o...)
}

func (c *countingAPI) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.n.Add(1)
	return c.API.PutItem(ctx, in, o...)
}

func (c *countingAPI) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	c.n.Add(1)
	return c.API.DeleteItem(ctx, in, o...)
}

func (c *countingAPI) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.n.Add(1)
	return c.API.UpdateItem(ctx, in, o...)
}

func (c *countingAPI) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.n.Add(1)
	return c.API.Query(ctx, in, o...)
}

func (c *countingAPI) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	c.n.Add(1)
	return c.API.TransactWriteItems(ctx, in, o...)
}

// shareEnv is a store on a fresh table, the requests it made, and the
// chain heads of its patients as the test linked them.
type shareEnv struct {
	t      *testing.T
	s      *Store
	client *dynamodb.Client
	calls  *countingAPI
	mu     sync.Mutex
	heads  map[string]core.ChainHead
}

func newShareEnv(t *testing.T) *shareEnv {
	t.Helper()
	client := emulatorClient(t)
	calls := &countingAPI{API: client}
	return &shareEnv{t: t, s: New(calls, newTable(t, client)), client: client, calls: calls, heads: map[string]core.ChainHead{}}
}

// requests runs op and returns how many requests it made.
func (e *shareEnv) requests(op func() error) (int64, error) {
	before := e.calls.n.Load()
	err := op()
	return e.calls.n.Load() - before, err
}

// once runs op and checks that it made exactly one request.
func (e *shareEnv) once(what string, op func() error) error {
	e.t.Helper()
	n, err := e.requests(op)
	if n != 1 {
		e.t.Errorf("%s made %d requests, want 1", what, n)
	}
	return err
}

// rec is an audit record of patient's chain linked to the head the test
// knows; commit moves that head when the write succeeded.
func (e *shareEnv) rec(patient, actor string, action core.AuditAction) core.AuditRecord {
	e.mu.Lock()
	defer e.mu.Unlock()
	return core.Link(core.AuditRecord{PatientID: patient, At: st0, ActorID: actor, Action: action, Outcome: core.OutcomeSuccess}, e.heads[patient])
}

func (e *shareEnv) commit(rec core.AuditRecord, err error) {
	if err == nil {
		e.mu.Lock()
		e.heads[rec.PatientID] = core.ChainHead{Seq: rec.Seq, Hash: rec.Hash}
		e.mu.Unlock()
	}
}

// chained runs write with records linked to the current head until the head
// stops moving, as core's auditor does.
func (e *shareEnv) chained(patient, actor string, action core.AuditAction, write func(core.AuditRecord) error) error {
	rec := e.rec(patient, actor, action)
	for range 200 {
		err := write(rec)
		var moved *core.HeadMismatchError
		if !errors.As(err, &moved) {
			e.commit(rec, err)
			return err
		}
		rec = core.Link(core.AuditRecord{PatientID: patient, At: st0, ActorID: actor, Action: action, Outcome: core.OutcomeSuccess}, moved.Current)
	}
	return fmt.Errorf("chain of %s too contended", patient)
}

func (e *shareEnv) wantHead(patient string) {
	e.t.Helper()
	got, err := e.s.AuditHead(e.t.Context(), patient)
	if err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	want := e.heads[patient]
	e.mu.Unlock()
	if diff := cmp.Diff(want, got, shareCmp); diff != "" {
		e.t.Errorf("head of %s mismatch (-want +got):\n%s", patient, diff)
	}
}

var noteSeq atomic.Int64

func note(recipient, typ, shareID string, at time.Time) core.Notification {
	// Sortable ids from distinct milliseconds, so that the inbox order is
	// the order of creation.
	at = at.Add(time.Duration(noteSeq.Add(1)) * time.Millisecond)
	return core.Notification{ID: core.NewSortableID("nt", at), RecipientID: recipient, Type: typ, ShareID: shareID, CreatedAt: at,
		Data: map[string]string{"k": "v"}}
}

func testShare(patient, pro string, created time.Time, maxViews, maxDevices int) core.Share {
	return core.Share{
		ID: core.NewID("sh"), PatientID: patient, ProfessionalID: pro,
		Photos: []core.SharedPhoto{
			{PhotoID: "ph_2", Angle: "CROWN", ContentType: "image/jpeg", Size: 10, SHA256: []byte("s2")},
			{PhotoID: "ph_1", Angle: "FRONT", ContentType: "image/png", Size: 20, SHA256: []byte("s1")},
		},
		Purpose: "second opinion", ScreenshotPolicy: core.ScreenshotWarn, MaxViews: maxViews,
		AccessWindow: 15*time.Minute + time.Nanosecond, MaxDevices: maxDevices, Status: core.ShareActive,
		CreatedAt: created, ExpiresAt: created.Add(time.Hour),
	}
}

func (e *shareEnv) create(sh core.Share) core.Share {
	e.t.Helper()
	err := e.chained(sh.PatientID, sh.PatientID, core.AuditShareCreate, func(rec core.AuditRecord) error {
		return e.s.CreateShare(e.t.Context(), sh, rec, note(sh.ProfessionalID, core.NoteSessionCreated, sh.ID, sh.CreatedAt))
	})
	if err != nil {
		e.t.Fatalf("CreateShare %s: %v", sh.ID, err)
	}
	return sh
}

// storePhotos stores sh's photos READY, owned by its patient: IssueKey
// releases the key of a photo only while it exists.
func (e *shareEnv) storePhotos(sh core.Share) {
	e.t.Helper()
	for _, sp := range sh.Photos {
		p := core.Photo{ID: sp.PhotoID, OwnerID: sh.PatientID, Angle: sp.Angle, ContentType: sp.ContentType, Size: sp.Size,
			SHA256: sp.SHA256, WrappedKey: core.WrappedKey{KeyID: "k", Ciphertext: []byte("w " + sp.PhotoID)}, Status: core.StatusPending, CreatedAt: st0, UploadExpiresAt: st0.Add(15 * time.Minute)}
		if err := e.s.CreatePhoto(e.t.Context(), p); err != nil {
			e.t.Fatalf("CreatePhoto %s: %v", p.ID, err)
		}
		if _, err := e.s.MarkPhotoReady(e.t.Context(), p.OwnerID, p.ID, core.BlobInfo{Size: p.Size, SHA256: p.SHA256}, st0); err != nil {
			e.t.Fatalf("MarkPhotoReady %s: %v", p.ID, err)
		}
	}
}

func (e *shareEnv) getShare(id string) core.Share {
	e.t.Helper()
	sh, err := e.s.GetShare(e.t.Context(), id)
	if err != nil {
		e.t.Fatalf("GetShare %s: %v", id, err)
	}
	return sh
}

func access(sh core.Share, pro, fp string, now time.Time) core.Access {
	return core.Access{
		ID: core.NewID("ac"), ShareID: sh.ID, PatientID: sh.PatientID, ProfessionalID: pro, KEM: 32,
		DevicePublicKey: []byte("pub"), DeviceFingerprint: fp, SourceIP: "203.0.113.7", UserAgent: "test",
		CreatedAt: now, ExpiresAt: now.Add(sh.AccessWindow), ShareExpiresAt: sh.ExpiresAt, Photos: sh.Photos,
	}
}

func (e *shareEnv) open(a core.Access, now time.Time) error {
	return e.chained(a.PatientID, a.ProfessionalID, core.AuditAccessOpen, func(rec core.AuditRecord) error {
		return e.s.OpenAccess(e.t.Context(), a, now, rec, note(a.PatientID, core.NoteSessionAccess, a.ShareID, now))
	})
}

func ephemeral(sh core.Share, pro string, now time.Time) core.EphemeralKey {
	return core.EphemeralKey{
		ID: core.NewID("ek"), AccessID: "ac_1", ShareID: sh.ID, PhotoID: "ph_1", PatientID: sh.PatientID,
		ProfessionalID: pro, ObjectKey: core.PhotoObjectKey(sh.PatientID, "ph_1"), Status: core.KeyIssued,
		CreatedAt: now, ExpiresAt: now.Add(core.MaxKeyTTL), ShareExpiresAt: sh.ExpiresAt,
	}
}

func (e *shareEnv) issue(k core.EphemeralKey, now time.Time) error {
	return e.chained(k.PatientID, k.ProfessionalID, core.AuditKeyIssue, func(rec core.AuditRecord) error {
		return e.s.IssueKey(e.t.Context(), k, now, rec, note(k.PatientID, core.NotePhotoViewed, k.ShareID, now))
	})
}

func (e *shareEnv) claim(k core.EphemeralKey, pro string, now time.Time) (core.EphemeralKey, error) {
	var got core.EphemeralKey
	err := e.chained(k.PatientID, pro, core.AuditKeyClaim, func(rec core.AuditRecord) error {
		var err error
		got, err = e.s.ClaimKey(e.t.Context(), k, pro, now, rec)
		return err
	})
	return got, err
}

func (e *shareEnv) revoke(id, patient string, at time.Time) (bool, error) {
	var got bool
	err := e.chained(patient, patient, core.AuditShareRevoke, func(rec core.AuditRecord) error {
		var err error
		got, err = e.s.RevokeShare(e.t.Context(), id, patient, at, "changed my mind", rec, note("dr-a", core.NoteSessionRevoked, id, at))
		return err
	})
	return got, err
}

// wantErr fails t unless err has kind and code.
func wantErr(t *testing.T, op string, err error, kind core.Kind, code string) {
	t.Helper()
	if err == nil || core.KindOf(err) != kind || core.CodeOf(err) != code {
		t.Errorf("%s: got %v (kind %d, code %s), want kind %d code %s", op, err, core.KindOf(err), core.CodeOf(err), kind, code)
	}
}

// TestShareRequestsOnEmulator checks that every ShareStore method is one
// DynamoDB request, whatever its answer: success, a refusal read from the
// cancellation, an idempotent replay. What the answers are is the contract
// suite's (TestShareContract).
func TestShareRequestsOnEmulator(t *testing.T) {
	e := newShareEnv(t)
	ctx := t.Context()
	now := st0.Add(time.Minute)
	sh := testShare("pat-1", "dr-a", st0, 1, 1)
	sh.IdempotencyKey, sh.RequestHash = "idem-1", []byte("hash-1")
	e.storePhotos(sh)
	n := note("dr-a", core.NoteSessionCreated, sh.ID, st0)
	rec := e.rec("pat-1", "pat-1", core.AuditShareCreate)
	err := e.once("CreateShare", func() error { return e.s.CreateShare(ctx, sh, rec, n) })
	e.commit(rec, err)
	if err != nil {
		t.Fatalf("CreateShare: %v", err)
	}
	again := testShare("pat-1", "dr-a", st0, 1, 1)
	again.IdempotencyKey = sh.IdempotencyKey
	var replay *core.IdempotencyReplayError
	if err := e.once("CreateShare replayed", func() error {
		return e.s.CreateShare(ctx, again, e.rec("pat-1", "pat-1", core.AuditShareCreate), note("dr-a", "x", again.ID, st0))
	}); !errors.As(err, &replay) {
		t.Errorf("CreateShare with a used key: got %v, want *core.IdempotencyReplayError", err)
	}
	stale := core.Link(core.AuditRecord{PatientID: "pat-1", At: st0}, core.ChainHead{})
	var moved *core.HeadMismatchError
	if err := e.once("CreateShare with a stale head", func() error {
		return e.s.CreateShare(ctx, testShare("pat-1", "dr-a", st0, 1, 1), stale, note("dr-a", "x", "sh_x", st0))
	}); !errors.As(err, &moved) {
		t.Errorf("CreateShare with a stale head: got %v, want *core.HeadMismatchError", err)
	}
	e.once("GetShare", func() error { _, err := e.s.GetShare(ctx, sh.ID); return err })
	e.once("ListShares", func() error {
		_, _, err := e.s.ListShares(ctx, "dr-a", core.RoleProfessional, core.Page{Limit: 5})
		return err
	})

	a := access(sh, "dr-a", "fp-1", now)
	if err := e.once("OpenAccess", func() error { return e.open(a, now) }); err != nil {
		t.Fatalf("OpenAccess: %v", err)
	}
	wantErr(t, "OpenAccess on another device", e.once("OpenAccess refused", func() error {
		return e.open(access(sh, "dr-a", "fp-2", now), now)
	}), core.KindForbidden, core.CodeDeviceMismatch)
	e.once("GetAccess", func() error { _, err := e.s.GetAccess(ctx, a.ID); return err })
	flagged := func(what string, id string, prev, next int, flag string, n *core.Notification) error {
		rec := e.rec("pat-1", "dr-a", "access.suspicion")
		err := e.once(what, func() error { return e.s.AddSuspicion(ctx, id, prev, next, flag, rec, notesOf(n)...) })
		e.commit(rec, err)
		return err
	}
	suspect := func(what string, id string, prev, next int, n *core.Notification) error {
		return flagged(what, id, prev, next, "", n)
	}
	if err := suspect("AddSuspicion", a.ID, 0, 2, nil); err != nil {
		t.Fatalf("AddSuspicion 0 → 2: %v", err)
	}
	suspicious := note("pat-1", "x", sh.ID, now)
	if err := suspect("AddSuspicion with a notification", a.ID, 2, 5, &suspicious); err != nil {
		t.Fatalf("AddSuspicion 2 → 5: %v", err)
	}
	var scoreMoved *core.ScoreMovedError
	if err := suspect("AddSuspicion refused", a.ID, 2, 9, nil); !errors.As(err, &scoreMoved) || scoreMoved.Current != 5 {
		t.Errorf("AddSuspicion from a stale score: got %v, want *core.ScoreMovedError at 5", err)
	}
	wantErr(t, "AddSuspicion to no access", suspect("AddSuspicion to no access", "ac_none", 0, 1, nil), core.KindNotFound, core.CodeNotFound)
	if got, err := e.s.GetAccess(ctx, a.ID); err != nil || got.Score != 5 {
		t.Errorf("GetAccess after AddSuspicion: got score %d, %v; want 5", got.Score, err)
	}
	// An access stored before there were scores has none: it reads 0 and
	// moves from 0.
	if _, err := e.s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: e.s.table, Key: keyItem(storekeys.AccessKey(a.ID)),
		UpdateExpression: aws.String("REMOVE #score"), ExpressionAttributeNames: map[string]string{"#score": attrScore},
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.s.GetAccess(ctx, a.ID); err != nil || got.Score != 0 {
		t.Errorf("GetAccess without a score: got %d, %v; want 0", got.Score, err)
	}
	if err := suspect("AddSuspicion refused without a score", a.ID, 5, 6, nil); !errors.As(err, &scoreMoved) || scoreMoved.Current != 0 {
		t.Errorf("AddSuspicion from 5 without a score: got %v, want *core.ScoreMovedError at 0", err)
	}
	if err := suspect("AddSuspicion without a score", a.ID, 0, 1, nil); err != nil {
		t.Errorf("AddSuspicion 0 → 1 without a score: %v", err)
	}
	// A flag counts once (an access without flags has none); another flag
	// counts; the flag is checked before the score.
	if err := flagged("AddSuspicion with a flag", a.ID, 1, 31, "ip:10.0.0.2", nil); err != nil {
		t.Errorf("AddSuspicion 1 → 31 with a flag: %v", err)
	}
	for _, prev := range []int{31, 0} {
		if err := flagged("AddSuspicion flagged before", a.ID, prev, prev+30, "ip:10.0.0.2", &suspicious); !errors.Is(err, core.ErrAlreadyFlagged) {
			t.Errorf("AddSuspicion %d → %d with the flag again: got %v, want core.ErrAlreadyFlagged", prev, prev+30, err)
		}
	}
	if err := flagged("AddSuspicion with another flag", a.ID, 31, 61, "ip:10.0.0.3", nil); err != nil {
		t.Errorf("AddSuspicion 31 → 61 with another flag: %v", err)
	}
	if err := flagged("AddSuspicion with a flag refused", a.ID, 31, 61, "ip:10.0.0.4", nil); !errors.As(err, &scoreMoved) || scoreMoved.Current != 61 {
		t.Errorf("AddSuspicion from a stale score with a new flag: got %v, want *core.ScoreMovedError at 61", err)
	}
	wantErr(t, "AddSuspicion with a flag to no access", flagged("AddSuspicion with a flag to no access", "ac_none", 0, 1, "ip:10.0.0.2", nil), core.KindNotFound, core.CodeNotFound)
	if got, err := e.s.GetAccess(ctx, a.ID); err != nil || got.Score != 61 {
		t.Errorf("GetAccess after flagged AddSuspicion: got score %d, %v; want 61", got.Score, err)
	}

	k := ephemeral(sh, "dr-a", now)
	if err := e.once("IssueKey", func() error { return e.issue(k, now) }); err != nil {
		t.Fatalf("IssueKey: %v", err)
	}
	wantErr(t, "IssueKey past max_views", e.once("IssueKey refused", func() error {
		return e.issue(ephemeral(sh, "dr-a", now), now)
	}), core.KindGone, core.CodeViewsExhausted)
	e.once("GetKey", func() error { _, err := e.s.GetKey(ctx, k.ID); return err })
	if err := e.once("ClaimKey", func() error { _, err := e.claim(k, "dr-a", now); return err }); err != nil {
		t.Fatalf("ClaimKey: %v", err)
	}
	wantErr(t, "ClaimKey again", e.once("ClaimKey refused", func() error { _, err := e.claim(k, "dr-a", now); return err }),
		core.KindGone, core.CodeKeyUsed)

	var revoked bool
	if err := e.once("RevokeShare", func() (err error) { revoked, err = e.revoke(sh.ID, "pat-1", now); return err }); err != nil || !revoked {
		t.Fatalf("RevokeShare: got (%v, %v), want (true, nil)", revoked, err)
	}
	if err := e.once("RevokeShare again", func() (err error) {
		revoked, err = e.s.RevokeShare(ctx, sh.ID, "pat-1", now, "again", stale, note("dr-a", "x", sh.ID, now))
		return err
	}); err != nil || revoked {
		t.Errorf("RevokeShare again: got (%v, %v), want (false, nil)", revoked, err)
	}
	if got, err := e.s.GetShare(ctx, sh.ID); err != nil || got.ViewsUsed != 1 || got.Status != core.ShareRevoked || got.RevokeReason != "changed my mind" {
		t.Errorf("GetShare after RevokeShare again: got %+v, %v; want the first revocation, with its view", got, err)
	}

	var items []core.InboxItem
	e.once("ListInbox", func() (err error) { items, _, err = e.s.ListInbox(ctx, "dr-a", core.Page{Limit: 5}); return err })
	if len(items) != 2 {
		t.Fatalf("ListInbox(dr-a): got %d items, want 2", len(items))
	}
	e.once("MarkRead", func() error { _, err := e.s.MarkRead(ctx, "dr-a", items[0].ID); return err })
	e.once("MarkPublished", func() error { return e.s.MarkPublished(ctx, "dr-a", items[0].ID) })
	e.wantHead("pat-1")
}

// TestShareItemsOnEmulator checks what the contract does not see: the time
// index and TTL attributes of shares, keys and unpublished notifications,
// and devices whose fingerprints look like document paths.
func TestShareItemsOnEmulator(t *testing.T) {
	e := newShareEnv(t)
	ctx := t.Context()
	sh := testShare("pat-1", "dr-a", st0, 3, 2)
	e.storePhotos(sh)
	e.create(sh)
	now := st0.Add(time.Minute)
	a := access(sh, "dr-a", "a.b[0]", now)
	k := ephemeral(sh, "dr-a", now)
	if err := e.open(a, now); err != nil {
		t.Fatal(err)
	}
	if err := e.issue(k, now); err != nil {
		t.Fatal(err)
	}

	t.Run("time index and ttl", func(t *testing.T) {
		share, _ := e.s.get(ctx, storekeys.ShareKey(sh.ID))
		wantS(t, share, AttrTimeBucket, "share#"+sh.ExpiresAt.UTC().Format("2006-01-02-15"))
		wantN(t, share, AttrTimeAt, epochCeil(sh.ExpiresAt))
		wantN(t, share, AttrTTL, epochCeil(sh.ExpiresAt.Add(ShareTTLGrace)))
		key, _ := e.s.get(ctx, storekeys.EphemeralKeyKey(k.ID))
		wantS(t, key, AttrTimeBucket, "key#"+k.ExpiresAt.UTC().Format("2006-01-02-15"))
		wantN(t, key, AttrTimeAt, epochCeil(k.ExpiresAt))
		wantN(t, key, AttrTTL, epochCeil(k.ExpiresAt.Add(GrantTTLGrace)))
		acc, _ := e.s.get(ctx, storekeys.AccessKey(a.ID))
		wantN(t, acc, AttrTTL, epochCeil(a.ExpiresAt.Add(GrantTTLGrace)))
		if acc[AttrTimeBucket] != nil || acc[AttrTimeAt] != nil {
			t.Errorf("access has %s or %s, want neither", AttrTimeBucket, AttrTimeAt)
		}
		idem, _ := e.s.get(ctx, storekeys.IdempotencyKey("pat-1", "none"))
		if len(idem) != 0 {
			t.Errorf("a share without an idempotency key claimed one")
		}
		if got := dueIn(t, e, DueBucket(core.DueShare, sh.ExpiresAt), sh.ExpiresAt); !cmp.Equal(got, []string{storekeys.SharePKPrefix + sh.ID}) {
			t.Errorf("shares due: got %v, want [%s]", got, sh.ID)
		}
		if got := dueIn(t, e, DueBucket(core.DueKey, k.ExpiresAt), k.ExpiresAt); !cmp.Equal(got, []string{storekeys.EphemeralKeyPKPrefix + k.ID}) {
			t.Errorf("keys due: got %v, want [%s]", got, k.ID)
		}
	})

	t.Run("idempotency ttl", func(t *testing.T) {
		withKey := testShare("pat-1", "dr-a", st0.Add(time.Second), 3, 1)
		withKey.IdempotencyKey = "idem-1"
		e.create(withKey)
		idem, _ := e.s.get(ctx, storekeys.IdempotencyKey("pat-1", "idem-1"))
		wantN(t, idem, AttrTTL, epochCeil(withKey.CreatedAt.Add(core.IdempotencyTTL)))
		wantS(t, idem, attrClaimExpiresAt, storeitem.FormatTime(withKey.CreatedAt.Add(core.IdempotencyTTL)))
	})

	t.Run("devices", func(t *testing.T) {
		for i, fp := range []string{"#x", "a.b[0]", "#x"} {
			at := now.Add(time.Duration(i+1) * time.Second)
			if err := e.open(access(sh, "dr-a", fp, at), at); err != nil {
				t.Errorf("OpenAccess on %q: %v", fp, err)
			}
		}
		if got := e.getShare(sh.ID).Devices; !cmp.Equal(got, []string{"a.b[0]", "#x"}) {
			t.Errorf("devices: got %q, want [a.b[0] #x], in the order they were bound", got)
		}
		wantErr(t, "OpenAccess on a third device", e.open(access(sh, "dr-a", "d", now), now), core.KindForbidden, core.CodeDeviceMismatch)
	})

	t.Run("unpublished notification", func(t *testing.T) {
		items, _, err := e.s.ListInbox(ctx, "pat-1", core.Page{Limit: 10})
		if err != nil || len(items) == 0 {
			t.Fatalf("ListInbox(pat-1): %d items, %v", len(items), err)
		}
		n := items[0]
		key := storekeys.InboxKey("pat-1", n.ID)
		it, _ := e.s.get(ctx, key)
		wantS(t, it, AttrTimeBucket, "notification#"+n.CreatedAt.UTC().Format("2006-01-02-15"))
		wantN(t, it, AttrTimeAt, epochCeil(n.CreatedAt))
		if it[AttrTTL] != nil {
			t.Errorf("notification has %s, want none", AttrTTL)
		}
		if got := dueIn(t, e, DueBucket(core.DueNotification, n.CreatedAt), n.CreatedAt); !slices.Contains(got, storekeys.InboxPKPrefix+"pat-1") {
			t.Errorf("notifications due: got %v, want one in %s's inbox", got, "pat-1")
		}
		if err := e.s.MarkPublished(ctx, "pat-1", n.ID); err != nil {
			t.Fatal(err)
		}
		it, _ = e.s.get(ctx, key)
		if it[AttrTimeBucket] != nil || it[AttrTimeAt] != nil {
			t.Errorf("published notification still has %s or %s", AttrTimeBucket, AttrTimeAt)
		}
		if v, ok := it[attrPublished].(*types.AttributeValueMemberBOOL); !ok || !v.Value {
			t.Errorf("published: got %v, want true", it[attrPublished])
		}
	})

	t.Run("revoke leaves the time index", func(t *testing.T) {
		if revoked, err := e.revoke(sh.ID, "pat-1", now); err != nil || !revoked {
			t.Fatalf("RevokeShare: got (%v, %v), want (true, nil)", revoked, err)
		}
		share, _ := e.s.get(ctx, storekeys.ShareKey(sh.ID))
		if share[AttrTimeBucket] != nil || share[AttrTimeAt] != nil {
			t.Errorf("revoked share is still in %s", IndexTime)
		}
		wantN(t, share, AttrTTL, epochCeil(sh.ExpiresAt.Add(ShareTTLGrace)))
		if got := dueIn(t, e, DueBucket(core.DueShare, sh.ExpiresAt), sh.ExpiresAt); len(got) != 0 {
			t.Errorf("shares due after revoke: got %v, want none", got)
		}
	})
}

func errOf2[T any](_ T, err error) error { return err }

var elsewhereZone = time.FixedZone("UTC+05:30", 5*3600+1800)

func wantS(t *testing.T, it item, name, want string) {
	t.Helper()
	if v, ok := it[name].(*types.AttributeValueMemberS); !ok || v.Value != want {
		t.Errorf("%s: got %v, want %q", name, it[name], want)
	}
}

func wantN(t *testing.T, it item, name string, want int64) {
	t.Helper()
	if v, ok := it[name].(*types.AttributeValueMemberN); !ok || v.Value != fmt.Sprint(want) {
		t.Errorf("%s: got %v, want %d", name, it[name], want)
	}
}

// dueIn returns the table partition keys of the items of IndexTime's
// bucket that are due at now.
func dueIn(t *testing.T, e *shareEnv, bucket string, now time.Time) []string {
	t.Helper()
	out, err := e.client.Query(t.Context(), &dynamodb.QueryInput{
		TableName:                 e.s.table,
		IndexName:                 aws.String(IndexTime),
		KeyConditionExpression:    aws.String("#b = :b AND #e <= :now"),
		ExpressionAttributeNames:  map[string]string{"#b": AttrTimeBucket, "#e": AttrTimeAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":b": avS(bucket), ":now": avN(fmt.Sprint(epochCeil(now)))},
	})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, it := range out.Items {
		keys = append(keys, it[AttrPK].(*types.AttributeValueMemberS).Value)
	}
	return keys
}
