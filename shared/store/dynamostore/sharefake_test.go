package dynamostore

import (
	"errors"
	"slices"
	"strings"
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

// Unit tests of how the ShareStore methods read a cancelled transaction,
// against the fake of fake_test.go: each case scripts the reasons, one per
// write, and checks the answer, made from them alone in one call.

var ft0 = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

func fakeShare() core.Share {
	return core.Share{
		ID: "sh_1", PatientID: "pat-1", ProfessionalID: "dr-a", MaxViews: 2, MaxDevices: 1,
		Status: core.ShareActive, CreatedAt: ft0, ExpiresAt: ft0.Add(time.Hour),
	}
}

// shareAV is fakeShare as stored, with edit applied first.
func shareAV(t *testing.T, edit func(*core.Share)) item {
	return storedAV(t, fakeShare(), edit, shareItemOf)
}

// keyAV is fakeKey as stored, with edit applied first.
func keyAV(t *testing.T, edit func(*core.EphemeralKey)) item {
	return storedAV(t, fakeKey(), edit, ephemeralKeyItemOf)
}

// storedAV is e as of stores it, with edit (when not nil) applied first.
func storedAV[E, S any](t *testing.T, e E, edit func(*E), of func(E) S) item {
	t.Helper()
	if edit != nil {
		edit(&e)
	}
	it, err := marshal(of(e))
	if err != nil {
		t.Fatal(err)
	}
	return it
}

func fakeKey() core.EphemeralKey {
	return core.EphemeralKey{
		ID: "ek_1", AccessID: "ac_1", ShareID: "sh_1", PhotoID: "ph_1", PatientID: "pat-1", ProfessionalID: "dr-a",
		Status: core.KeyIssued, CreatedAt: ft0, ExpiresAt: ft0.Add(time.Minute), ShareExpiresAt: ft0.Add(time.Hour),
	}
}

var fakeRec = core.Link(core.AuditRecord{PatientID: "pat-1", ActorID: "dr-a", At: ft0}, core.ChainHead{Seq: 3, Hash: []byte("h3")})

func ccf(it item) types.CancellationReason { return reason("ConditionalCheckFailed", it) }

// wantAnswer is what a test expects of a method's error: a kind and code, or a
// head mismatch, or a replay.
type wantAnswer struct {
	kind   core.Kind
	code   string
	head   bool
	replay *core.IdempotencyReplayError
	moved  *core.ScoreMovedError
	// flagged wants core.ErrAlreadyFlagged.
	flagged bool
	isNil   bool
}

func (w wantAnswer) check(t *testing.T, op string, err error) {
	t.Helper()
	switch {
	case w.isNil:
		if err != nil {
			t.Errorf("%s: got %v, want nil", op, err)
		}
	case w.head:
		var moved *core.HeadMismatchError
		if !errors.As(err, &moved) {
			t.Errorf("%s: got %v, want *core.HeadMismatchError", op, err)
		}
	case w.replay != nil:
		var replay *core.IdempotencyReplayError
		if !errors.As(err, &replay) {
			t.Errorf("%s: got %v, want *core.IdempotencyReplayError", op, err)
		} else if diff := cmp.Diff(w.replay, replay); diff != "" {
			t.Errorf("%s: replay mismatch (-want +got):\n%s", op, diff)
		}
	case w.flagged:
		var moved *core.ScoreMovedError
		if !errors.Is(err, core.ErrAlreadyFlagged) || errors.As(err, &moved) {
			t.Errorf("%s: got %v, want core.ErrAlreadyFlagged", op, err)
		}
	case w.moved != nil:
		var moved *core.ScoreMovedError
		if !errors.As(err, &moved) {
			t.Errorf("%s: got %v, want *core.ScoreMovedError", op, err)
		} else if diff := cmp.Diff(w.moved, moved); diff != "" {
			t.Errorf("%s: score moved mismatch (-want +got):\n%s", op, diff)
		}
	default:
		if err == nil || core.KindOf(err) != w.kind || core.CodeOf(err) != w.code {
			t.Errorf("%s: got %v (kind %d, code %s), want kind %d, code %s", op, err, core.KindOf(err), core.CodeOf(err), w.kind, w.code)
		}
	}
}

func notFound() wantAnswer        { return wantAnswer{kind: core.KindNotFound, code: core.CodeNotFound} }
func gone(code string) wantAnswer { return wantAnswer{kind: core.KindGone, code: code} }
func conflict() wantAnswer        { return wantAnswer{kind: core.KindConflict, code: core.CodeConflict} }
func internalErr() wantAnswer     { return wantAnswer{kind: core.KindInternal, code: core.CodeInternal} }
func headMoved() wantAnswer       { return wantAnswer{head: true} }
func deviceMismatch() wantAnswer {
	return wantAnswer{kind: core.KindForbidden, code: core.CodeDeviceMismatch}
}
func reasonsOf(r ...types.CancellationReason) []types.CancellationReason { return r }

type cancelCase struct {
	name    string
	reasons []types.CancellationReason
	want    wantAnswer
}

// runCancellations runs call once per case with the transaction cancelled
// for the case's reasons, and checks that it made one call with n writes.
func runCancellations(t *testing.T, n int, cases []cancelCase, call func(s *Store) error) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeAPI{transact: func(in *dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
				if len(in.TransactItems) != n {
					t.Errorf("got %d writes, want %d", len(in.TransactItems), n)
				}
				return nil, cancelled(tc.reasons...)
			}}
			tc.want.check(t, tc.name, call(fakeStore(f)))
			if diff := cmp.Diff([]string{"TransactWriteItems"}, f.ops()); diff != "" {
				t.Errorf("calls mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCreateShareCancellation(t *testing.T) {
	head := headAV(t, "pat-1", 9, []byte("h9"))
	idem, err := marshal(idempotencyItem{keyed: keyed{PK: "IDEM#pat-1", SK: "KEY#k"}, IdempotencyClaim: storeitem.IdempotencyClaim{ShareID: "sh_0", RequestHash: []byte("hash-0")}})
	if err != nil {
		t.Fatal(err)
	}
	replay := wantAnswer{replay: &core.IdempotencyReplayError{ShareID: "sh_0", RequestHash: []byte("hash-0")}}
	// share, idempotency claim, inbox, record, head
	runCancellations(t, 5, []cancelCase{
		{"key claimed", reasonsOf(none, ccf(idem), none, none, none), replay},
		{"key claimed and head moved", reasonsOf(none, ccf(idem), none, none, ccf(head)), replay},
		{"key claimed and id taken", reasonsOf(ccf(nil), ccf(idem), none, none, none), replay},
		{"id taken", reasonsOf(ccf(nil), none, none, none, none), conflict()},
		{"head moved", reasonsOf(none, none, none, none, ccf(head)), headMoved()},
		{"record beyond the head", reasonsOf(none, none, none, ccf(nil), none), internalErr()},
		{"notification id taken", reasonsOf(none, none, ccf(nil), none, none), conflict()},
	}, func(s *Store) error {
		sh := fakeShare()
		sh.IdempotencyKey = "k"
		return s.CreateShare(t.Context(), sh, fakeRec, core.Notification{ID: "nt_1", RecipientID: "dr-a"})
	})
}

func TestRevokeShareCancellation(t *testing.T) {
	revoked := func(sh *core.Share) {
		sh.Status, sh.RevokedAt, sh.RevokedBy, sh.RevokeReason = core.ShareRevoked, ft0.Add(time.Minute), "pat-1", "first"
	}
	head := headAV(t, "pat-1", 9, []byte("h9"))
	// share, inbox, record, head
	cases := []cancelCase{
		{"no share", reasonsOf(ccf(nil), none, none, none), notFound()},
		{"another patient's", reasonsOf(ccf(shareAV(t, func(sh *core.Share) { sh.PatientID = "pat-2" })), none, none, none), notFound()},
		{"another patient's, revoked", reasonsOf(ccf(shareAV(t, func(sh *core.Share) { revoked(sh); sh.PatientID = "pat-2" })), none, none, none), notFound()},
		{"head moved", reasonsOf(none, none, none, ccf(head)), headMoved()},
		{"already revoked", reasonsOf(ccf(shareAV(t, revoked)), none, none, none), wantAnswer{isNil: true}},
		{"already revoked and head moved", reasonsOf(ccf(shareAV(t, revoked)), none, none, ccf(head)), wantAnswer{isNil: true}},
	}
	runCancellations(t, 4, cases, func(s *Store) error {
		_, err := s.RevokeShare(t.Context(), "sh_1", "pat-1", ft0.Add(time.Hour), "again", fakeRec, core.Notification{ID: "nt_1", RecipientID: "dr-a"})
		return err
	})

	// A revoked share is told from the cancellation alone: not revoked by
	// this call, whether or not the head moved too.
	for _, tc := range []struct {
		name    string
		reasons []types.CancellationReason
	}{
		{"already revoked", []types.CancellationReason{ccf(shareAV(t, revoked)), none, none, none}},
		{"already revoked and head moved", []types.CancellationReason{ccf(shareAV(t, revoked)), none, none, ccf(head)}},
	} {
		f := &fakeAPI{transact: func(*dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
			return nil, cancelled(tc.reasons...)
		}}
		got, err := fakeStore(f).RevokeShare(t.Context(), "sh_1", "pat-1", ft0.Add(time.Hour), "again", fakeRec, core.Notification{ID: "nt_1", RecipientID: "dr-a"})
		if err != nil || got {
			t.Errorf("RevokeShare, %s: got (%v, %v), want (false, nil)", tc.name, got, err)
		}
	}

	// A transaction that succeeds is a revocation by this call, revoked by
	// the record's actor.
	var update *types.Update
	f := &fakeAPI{transact: func(in *dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
		update = in.TransactItems[0].Update
		return &dynamodb.TransactWriteItemsOutput{}, nil
	}}
	rec := fakeRec
	rec.ActorID = "ops-1"
	got, err := fakeStore(f).RevokeShare(t.Context(), "sh_1", "pat-1", ft0.Add(time.Hour), "again", rec, core.Notification{ID: "nt_1", RecipientID: "dr-a"})
	if err != nil || !got {
		t.Fatalf("RevokeShare: got (%v, %v), want (true, nil)", got, err)
	}
	if update == nil {
		t.Fatal("RevokeShare: the first write is not an Update")
	}
	if by, ok := update.ExpressionAttributeValues[":by"].(*types.AttributeValueMemberS); !ok || by.Value != "ops-1" {
		t.Errorf("RevokeShare: revoked_by is %#v, want the record's actor ops-1", update.ExpressionAttributeValues[":by"])
	}
	if p, ok := update.ExpressionAttributeValues[":patient"].(*types.AttributeValueMemberS); !ok || p.Value != "pat-1" {
		t.Errorf("RevokeShare: the condition's patient is %#v, want pat-1", update.ExpressionAttributeValues[":patient"])
	}
}

func TestOpenAccessCancellation(t *testing.T) {
	a := core.Access{ID: "ac_1", ShareID: "sh_1", PatientID: "pat-1", ProfessionalID: "dr-a", DeviceFingerprint: "fp-2"}
	now := ft0.Add(time.Minute)
	head := headAV(t, "pat-1", 9, []byte("h9"))
	bound := func(fps ...string) func(*core.Share) { return func(sh *core.Share) { sh.Devices = fps } }
	// access, share, inbox, record, head
	runCancellations(t, 5, []cancelCase{
		{"no share", reasonsOf(none, ccf(nil), none, none, none), notFound()},
		{"another grantee's", reasonsOf(none, ccf(shareAV(t, func(sh *core.Share) { sh.ProfessionalID = "dr-b" })), none, none, none), notFound()},
		{"another grantee's, revoked", reasonsOf(none, ccf(shareAV(t, func(sh *core.Share) { sh.ProfessionalID, sh.Status = "dr-b", core.ShareRevoked })), none, none, none), notFound()},
		{"revoked", reasonsOf(none, ccf(shareAV(t, func(sh *core.Share) { sh.Status = core.ShareRevoked })), none, none, none), gone(core.CodeSessionRevoked)},
		{"revoked, expired and full", reasonsOf(none, ccf(shareAV(t, func(sh *core.Share) { sh.Status, sh.ExpiresAt, sh.Devices = core.ShareRevoked, now, []string{"fp-1"} })), none, none, none), gone(core.CodeSessionRevoked)},
		{"expired at now", reasonsOf(none, ccf(shareAV(t, func(sh *core.Share) { sh.ExpiresAt = now })), none, none, none), gone(core.CodeSessionExpired)},
		{"expired and full", reasonsOf(none, ccf(shareAV(t, func(sh *core.Share) { sh.ExpiresAt, sh.Devices = now, []string{"fp-1"} })), none, none, none), gone(core.CodeSessionExpired)},
		{"another device bound", reasonsOf(none, ccf(shareAV(t, bound("fp-1"))), none, none, none), deviceMismatch()},
		{"usable", reasonsOf(none, ccf(shareAV(t, bound("fp-2"))), none, none, none), internalErr()},
		{"access id taken", reasonsOf(ccf(nil), none, none, none, none), conflict()},
		{"head moved", reasonsOf(none, none, none, none, ccf(head)), headMoved()},
		{"head moved and device refused", reasonsOf(none, ccf(shareAV(t, bound("fp-1"))), none, none, ccf(head)), deviceMismatch()},
	}, func(s *Store) error {
		return s.OpenAccess(t.Context(), a, now, fakeRec, core.Notification{ID: "nt_1", RecipientID: "pat-1"})
	})
}

func TestIssueKeyCancellation(t *testing.T) {
	now := ft0.Add(time.Minute)
	head := headAV(t, "pat-1", 9, []byte("h9"))
	// share, photo check, key, inbox, record, head
	runCancellations(t, 6, []cancelCase{
		{"no share", reasonsOf(ccf(nil), none, none, none, none, none), notFound()},
		{"another grantee's, exhausted", reasonsOf(ccf(shareAV(t, func(sh *core.Share) { sh.ProfessionalID, sh.ViewsUsed = "dr-b", 2 })), none, none, none, none, none), notFound()},
		{"revoked and exhausted", reasonsOf(ccf(shareAV(t, func(sh *core.Share) { sh.Status, sh.ViewsUsed = core.ShareRevoked, 2 })), none, none, none, none, none), gone(core.CodeSessionRevoked)},
		{"expired and exhausted", reasonsOf(ccf(shareAV(t, func(sh *core.Share) { sh.ExpiresAt, sh.ViewsUsed = now, 2 })), none, none, none, none, none), gone(core.CodeSessionExpired)},
		{"exhausted", reasonsOf(ccf(shareAV(t, func(sh *core.Share) { sh.ViewsUsed = 2 })), none, none, none, none, none), gone(core.CodeViewsExhausted)},
		{"usable", reasonsOf(ccf(shareAV(t, nil)), none, none, none, none, none), internalErr()},
		{"photo deleted", reasonsOf(none, ccf(nil), none, none, none, none), notFound()},
		{"photo deleted and head moved", reasonsOf(none, ccf(nil), none, none, none, ccf(head)), notFound()},
		{"photo deleted and share revoked", reasonsOf(ccf(shareAV(t, func(sh *core.Share) { sh.Status = core.ShareRevoked })), ccf(nil), none, none, none, none), gone(core.CodeSessionRevoked)},
		{"key id taken", reasonsOf(none, none, ccf(nil), none, none, none), conflict()},
		{"head moved", reasonsOf(none, none, none, none, none, ccf(head)), headMoved()},
	}, func(s *Store) error {
		return s.IssueKey(t.Context(), fakeKey(), now, fakeRec, core.Notification{ID: "nt_1", RecipientID: "pat-1"})
	})
}

func TestClaimKeyCancellation(t *testing.T) {
	now := ft0.Add(30 * time.Second)
	head := headAV(t, "pat-1", 9, []byte("h9"))
	// key, share check, record, head
	runCancellations(t, 4, []cancelCase{
		{"no key", reasonsOf(ccf(nil), none, none, none), notFound()},
		{"another grantee's used key", reasonsOf(ccf(keyAV(t, func(k *core.EphemeralKey) { k.ProfessionalID, k.Status = "dr-b", core.KeyUsed })), none, none, none), notFound()},
		{"another share's key", reasonsOf(ccf(keyAV(t, func(k *core.EphemeralKey) { k.ShareID = "sh_2" })), none, none, none), notFound()},
		{"used", reasonsOf(ccf(keyAV(t, func(k *core.EphemeralKey) { k.Status = core.KeyUsed })), none, none, none), gone(core.CodeKeyUsed)},
		{"used and share revoked", reasonsOf(ccf(keyAV(t, func(k *core.EphemeralKey) { k.Status = core.KeyUsed })), ccf(shareAV(t, func(sh *core.Share) { sh.Status = core.ShareRevoked })), none, none), gone(core.CodeKeyUsed)},
		{"expired", reasonsOf(ccf(keyAV(t, func(k *core.EphemeralKey) { k.ExpiresAt = now })), none, none, none), gone(core.CodeKeyExpired)},
		{"share revoked", reasonsOf(none, ccf(shareAV(t, func(sh *core.Share) { sh.Status = core.ShareRevoked })), none, none), gone(core.CodeSessionRevoked)},
		{"share expired", reasonsOf(none, ccf(shareAV(t, func(sh *core.Share) { sh.ExpiresAt = now })), none, none), gone(core.CodeSessionExpired)},
		{"share gone", reasonsOf(none, ccf(nil), none, none), notFound()},
		{"head moved", reasonsOf(none, none, none, ccf(head)), headMoved()},
	}, func(s *Store) error {
		_, err := s.ClaimKey(t.Context(), fakeKey(), "dr-a", now, fakeRec)
		return err
	})
}

// TestShareWritesConditions pins the conditions that carry the security
// invariants: a view is counted only within the share's limits (ARCHITECTURE
// §2.3), a key is claimed once (§2.4) on its own, live share (§2.5).
func TestShareWritesConditions(t *testing.T) {
	var got *dynamodb.TransactWriteItemsInput
	f := recordingTransact(&got)
	s := fakeStore(f)
	n := core.Notification{ID: "nt_1", RecipientID: "pat-1"}
	cond := func(i int) string {
		w := got.TransactItems[i]
		switch {
		case w.Update != nil:
			return aws.ToString(w.Update.UpdateExpression) + " IF " + aws.ToString(w.Update.ConditionExpression)
		case w.ConditionCheck != nil:
			return "CHECK IF " + aws.ToString(w.ConditionCheck.ConditionExpression)
		}
		return "PUT IF " + aws.ToString(w.Put.ConditionExpression)
	}
	for _, tc := range []struct {
		name string
		call func() error
		want []string
	}{
		{"IssueKey", func() error { return s.IssueKey(t.Context(), fakeKey(), ft0, fakeRec, n) }, []string{
			"SET #used = #used + :one IF #status = :active AND #expires > :now AND #pro = :pro AND #used < #max",
			"CHECK IF attribute_exists(pk)", // a deleted photo's key is never released again
			"PUT IF attribute_not_exists(#pk)",
			"PUT IF attribute_not_exists(#pk)",
			"PUT IF attribute_not_exists(#pk)",
			"PUT IF #seq = :prev AND #hash = :prevhash",
		}},
		{"ClaimKey", func() error { _, err := s.ClaimKey(t.Context(), fakeKey(), "dr-a", ft0, fakeRec); return err }, []string{
			"SET #status = :used, #usedat = :now IF #status = :issued AND #pro = :pro AND #share = :share AND #expires > :now",
			"CHECK IF #status = :active AND #expires > :now AND #pro = :pro",
			"PUT IF attribute_not_exists(#pk)",
			"PUT IF #seq = :prev AND #hash = :prevhash",
		}},
		{"OpenAccess", func() error {
			return s.OpenAccess(t.Context(), core.Access{ID: "ac_1", ShareID: "sh_1", ProfessionalID: "dr-a", DeviceFingerprint: "fp.1"}, ft0, fakeRec, n)
		}, []string{
			"PUT IF attribute_not_exists(#pk)",
			"SET #devices.#fp = if_not_exists(#devices.#fp, :now) IF #status = :active AND #expires > :now AND #pro = :pro AND (attribute_exists(#devices.#fp) OR size(#devices) < #max)",
			"PUT IF attribute_not_exists(#pk)",
			"PUT IF attribute_not_exists(#pk)",
			"PUT IF #seq = :prev AND #hash = :prevhash",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err != nil {
				t.Fatal(err)
			}
			var conds []string
			for i := range got.TransactItems {
				conds = append(conds, cond(i))
			}
			if diff := cmp.Diff(tc.want, conds); diff != "" {
				t.Errorf("writes mismatch (-want +got):\n%s", diff)
			}
			// Every Update and ConditionCheck returns the item as it was on
			// failure, but for an existence check: it fails only when there
			// is no item to return.
			for i, w := range got.TransactItems {
				if w.Update != nil && w.Update.ReturnValuesOnConditionCheckFailure != types.ReturnValuesOnConditionCheckFailureAllOld ||
					w.ConditionCheck != nil && !existenceCheck(w.ConditionCheck) &&
						w.ConditionCheck.ReturnValuesOnConditionCheckFailure != types.ReturnValuesOnConditionCheckFailureAllOld {
					t.Errorf("write %d does not return the item as it was on failure", i)
				}
			}
		})
	}
	// A claim returns the key as claimed, in UTC, from what it was given.
	k, err := s.ClaimKey(t.Context(), fakeKey(), "dr-a", ft0.In(time.FixedZone("x", 3600)), fakeRec)
	want := fakeKey()
	want.Status, want.UsedAt = core.KeyUsed, ft0
	if err != nil || !cmp.Equal(want, k) || k.UsedAt.Location() != time.UTC {
		t.Errorf("ClaimKey: got %+v, %v; want %+v with UsedAt in UTC", k, err, want)
	}
}

// TestIssueKeyChecksThePhoto pins which item IssueKey's photo check reads:
// the photo (k.PatientID, k.PhotoID), in the store's table.
func TestIssueKeyChecksThePhoto(t *testing.T) {
	var checks []*types.ConditionCheck
	f := &fakeAPI{transact: func(in *dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
		for _, w := range in.TransactItems {
			if w.ConditionCheck != nil {
				checks = append(checks, w.ConditionCheck)
			}
		}
		return &dynamodb.TransactWriteItemsOutput{}, nil
	}}
	s := fakeStore(f)
	k := fakeKey()
	if err := s.IssueKey(t.Context(), k, ft0, fakeRec, core.Notification{ID: "nt_1", RecipientID: "pat-1"}); err != nil {
		t.Fatal(err)
	}
	if len(checks) != 1 {
		t.Fatalf("IssueKey: got %d condition checks, want 1", len(checks))
	}
	if got, want := aws.ToString(checks[0].TableName), aws.ToString(s.table); got != want {
		t.Errorf("photo check table: got %q, want %q", got, want)
	}
	if diff := cmp.Diff(keyItem(storekeys.PhotoKey(k.PatientID, k.PhotoID)), item(checks[0].Key), cmpopts.IgnoreUnexported(types.AttributeValueMemberS{})); diff != "" {
		t.Errorf("photo check key mismatch (-want +got):\n%s", diff)
	}
	if !existenceCheck(checks[0]) {
		t.Errorf("photo check: got condition %q, want the photo's existence", aws.ToString(checks[0].ConditionExpression))
	}
}

// existenceCheck reports whether c checks only that its item exists.
func existenceCheck(c *types.ConditionCheck) bool {
	cond := aws.ToString(c.ConditionExpression)
	if name, ok := strings.CutPrefix(cond, "attribute_exists("); ok {
		name = strings.TrimSuffix(name, ")")
		if alias, ok := c.ExpressionAttributeNames[name]; ok {
			name = alias
		}
		return name == AttrPK
	}
	return false
}

func TestShareIndexCursor(t *testing.T) {
	at := time.Date(2026, 3, 14, 15, 9, 26, 1, time.FixedZone("x", 3600))
	for _, id := range []string{"sh_1", "sh#with#hashes", "ünï"} {
		sk := storekeys.ShareIndexSK(at, id)
		got, err := parseShareIndexSK(sk)
		if err != nil || got != id {
			t.Errorf("parseShareIndexSK(%q) = %q, %v; want %q", sk, got, err, id)
		}
	}
	good := storekeys.ShareIndexSK(at, "sh_1")
	for _, bad := range []string{"", "sh_1", good[:30], good[:31], "X" + good[1:], "2026-03-14T14:09:26.000000001+01:00#sh_1", good + "\x00"} {
		if _, err := parseShareIndexSK(bad); err == nil {
			t.Errorf("parseShareIndexSK(%q): got nil error, want one", bad)
		}
	}
}

func TestShareInvalidInputMakesNoCall(t *testing.T) {
	f := &fakeAPI{}
	s := fakeStore(f)
	ctx := t.Context()
	n := core.Notification{ID: "nt_1", RecipientID: "dr-a"}
	bad := map[string]error{
		"CreateShare id":              s.CreateShare(ctx, core.Share{ID: "sh\x00", PatientID: "pat-1", ProfessionalID: "dr-a"}, fakeRec, n),
		"CreateShare idempotency key": s.CreateShare(ctx, core.Share{ID: "sh_1", PatientID: "pat-1", ProfessionalID: "dr-a", IdempotencyKey: "k\xff"}, fakeRec, n),
		"CreateShare notification":    s.CreateShare(ctx, fakeShare(), fakeRec, core.Notification{ID: "", RecipientID: "dr-a"}),
		"CreateShare actor":           s.CreateShare(ctx, fakeShare(), core.AuditRecord{PatientID: "pat-1", ActorID: "a\x00", Seq: 1}, n),
		"OpenAccess fingerprint":      s.OpenAccess(ctx, core.Access{ID: "ac_1", ShareID: "sh_1"}, ft0, fakeRec, n),
		"IssueKey share":              s.IssueKey(ctx, core.EphemeralKey{ID: "ek_1"}, ft0, fakeRec, n),
		"ClaimKey share":              errOf2(s.ClaimKey(ctx, core.EphemeralKey{ID: "ek_1"}, "dr-a", ft0, fakeRec)),
		"RevokeShare":                 errOf2(s.RevokeShare(ctx, "", "pat-1", ft0, "", fakeRec, n)),
		"GetShare":                    errOf2(s.GetShare(ctx, "sh\xff")),
		"MarkRead":                    errOf2(s.MarkRead(ctx, "dr-a", "")),
		"MarkPublished":               s.MarkPublished(ctx, "", "nt_1"),
		"ListShares role":             listErr(s.ListShares(ctx, "clinic-1", core.RoleClinic, core.Page{Limit: 1})),
		"ListShares cursor":           listErr(s.ListShares(ctx, "pat-1", core.RolePatient, core.Page{Cursor: "%%", Limit: 1})),
		"ListInbox cursor":            listErr(s.ListInbox(ctx, "dr-a", core.Page{Cursor: "eA", Limit: 1})),
	}
	wantInvalidNoCall(t, f, bad)
}

// accessAV is an access as stored with the given score; withScore false
// stores one from before there were scores, with no score attribute.
func accessAV(t *testing.T, score int, withScore bool) item {
	t.Helper()
	it, err := marshal(accessItemOf(core.Access{
		ID: "ac_1", ShareID: "sh_1", PatientID: "pat-1", ProfessionalID: "dr-a", DeviceFingerprint: "fp-1",
		CreatedAt: ft0, ExpiresAt: ft0.Add(time.Hour), ShareExpiresAt: ft0.Add(time.Hour), Score: score,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !withScore {
		delete(it, attrScore)
	}
	return it
}

func TestAddSuspicionCancellation(t *testing.T) {
	head := headAV(t, "pat-1", 9, []byte("h9"))
	moved := func(current int) wantAnswer {
		return wantAnswer{moved: &core.ScoreMovedError{AccessID: "ac_1", Current: current}}
	}
	n := &core.Notification{ID: "nt_1", RecipientID: "pat-1"}
	// access, inbox, record, head
	runCancellations(t, 4, []cancelCase{
		{"no access", reasonsOf(ccf(nil), none, none, none), notFound()},
		{"no access and head moved", reasonsOf(ccf(nil), none, none, ccf(head)), notFound()},
		{"score moved", reasonsOf(ccf(accessAV(t, 7, true)), none, none, none), moved(7)},
		{"score moved to 0", reasonsOf(ccf(accessAV(t, 0, true)), none, none, none), moved(0)},
		{"score moved and head moved", reasonsOf(ccf(accessAV(t, 7, true)), none, none, ccf(head)), moved(7)},
		{"score as read", reasonsOf(ccf(accessAV(t, 3, true)), none, none, none), internalErr()},
		{"head moved", reasonsOf(none, none, none, ccf(head)), headMoved()},
		{"notification id taken", reasonsOf(none, ccf(nil), none, none), conflict()},
	}, func(s *Store) error {
		return s.AddSuspicion(t.Context(), "ac_1", 3, 5, "", fakeRec, notesOf(n)...)
	})
	// Without a notification: access, record, head. An access stored
	// before there were scores has 0.
	runCancellations(t, 3, []cancelCase{
		{"no access", reasonsOf(ccf(nil), none, none), notFound()},
		{"score moved from none", reasonsOf(ccf(accessAV(t, 0, false)), none, none), moved(0)},
		{"head moved", reasonsOf(none, none, ccf(head)), headMoved()},
	}, func(s *Store) error {
		return s.AddSuspicion(t.Context(), "ac_1", 3, 5, "", fakeRec)
	})
	// With a flag: an access whose flags hold it is ErrAlreadyFlagged,
	// whatever its score and whatever else failed; flags without it, or
	// none, leave the score to answer.
	flagged := wantAnswer{flagged: true}
	runCancellations(t, 4, []cancelCase{
		{"no access", reasonsOf(ccf(nil), none, none, none), notFound()},
		{"flagged before", reasonsOf(ccf(flaggedAV(t, 3, "ip:10.0.0.2")), none, none, none), flagged},
		{"flagged before, score moved", reasonsOf(ccf(flaggedAV(t, 7, "ip:10.0.0.9", "ip:10.0.0.2")), none, none, none), flagged},
		{"flagged before and head moved", reasonsOf(ccf(flaggedAV(t, 3, "ip:10.0.0.2")), none, none, ccf(head)), flagged},
		{"other flags, score moved", reasonsOf(ccf(flaggedAV(t, 7, "ip:10.0.0.9")), none, none, none), moved(7)},
		{"no flags, score moved", reasonsOf(ccf(accessAV(t, 7, true)), none, none, none), moved(7)},
		{"no flags, no score", reasonsOf(ccf(accessAV(t, 0, false)), none, none, none), moved(0)},
		{"other flags, score as read", reasonsOf(ccf(flaggedAV(t, 3, "ip:10.0.0.9")), none, none, none), internalErr()},
		{"head moved", reasonsOf(none, none, none, ccf(head)), headMoved()},
		{"notification id taken", reasonsOf(none, ccf(nil), none, none), conflict()},
	}, func(s *Store) error {
		return s.AddSuspicion(t.Context(), "ac_1", 3, 5, "ip:10.0.0.2", fakeRec, notesOf(n)...)
	})
	// Without a flag, flags on the access never answer.
	runCancellations(t, 3, []cancelCase{
		{"flags, score moved", reasonsOf(ccf(flaggedAV(t, 7, "")), none, none), moved(7)},
		{"flags, score moved, other", reasonsOf(ccf(flaggedAV(t, 7, "ip:10.0.0.2")), none, none), moved(7)},
	}, func(s *Store) error {
		return s.AddSuspicion(t.Context(), "ac_1", 3, 5, "", fakeRec)
	})
}

// flaggedAV is accessAV with score and a flags set holding flags.
func flaggedAV(t *testing.T, score int, flags ...string) item {
	t.Helper()
	it := accessAV(t, score, true)
	it[attrFlags] = &types.AttributeValueMemberSS{Value: flags}
	return it
}

// TestAddSuspicionWrites pins AddSuspicion's one transaction: the access's
// score moves from prev to next only while it is prev (or absent, for 0),
// then the inbox item when there is a notification, then the audit record.
func TestAddSuspicionWrites(t *testing.T) {
	var got *dynamodb.TransactWriteItemsInput
	f := recordingTransact(&got)
	s := fakeStore(f)
	for _, n := range []*core.Notification{{ID: "nt_1", RecipientID: "pat-1"}, nil} {
		if err := s.AddSuspicion(t.Context(), "ac_1", 0, 4, "", fakeRec, notesOf(n)...); err != nil {
			t.Fatal(err)
		}
		want := 3
		if n != nil {
			want = 4
			if p := got.TransactItems[1].Put; p == nil || p.Item[AttrPK] == nil ||
				p.Item[AttrPK].(*types.AttributeValueMemberS).Value != storekeys.InboxKey("pat-1", "nt_1").PK {
				t.Errorf("write 1 is not the inbox item of the notification")
			}
		}
		if len(got.TransactItems) != want {
			t.Fatalf("notification %v: got %d writes, want %d", n != nil, len(got.TransactItems), want)
		}
		u := got.TransactItems[0].Update
		if u == nil {
			t.Fatal("the first write is not an Update")
		}
		if diff := cmp.Diff(keyItem(storekeys.AccessKey("ac_1")), item(u.Key), cmpopts.IgnoreUnexported(types.AttributeValueMemberS{})); diff != "" {
			t.Errorf("update key mismatch (-want +got):\n%s", diff)
		}
		cond := aws.ToString(u.UpdateExpression) + " IF " + aws.ToString(u.ConditionExpression)
		if want := "SET #score = :next IF attribute_exists(#pk) AND (#score = :prev OR (attribute_not_exists(#score) AND :prev = :zero))"; cond != want {
			t.Errorf("got %q, want %q", cond, want)
		}
		for k, v := range map[string]string{":prev": "0", ":next": "4", ":zero": "0"} {
			if n, ok := u.ExpressionAttributeValues[k].(*types.AttributeValueMemberN); !ok || n.Value != v {
				t.Errorf("%s is %#v, want %s", k, u.ExpressionAttributeValues[k], v)
			}
		}
		if u.ReturnValuesOnConditionCheckFailure != types.ReturnValuesOnConditionCheckFailureAllOld {
			t.Error("the update does not return the access as it was on failure")
		}
		if _, ok := u.ExpressionAttributeNames["#flags"]; ok {
			t.Error("an update without a flag names the flags")
		}
	}
	if err := s.AddSuspicion(t.Context(), "ac\x00", 0, 1, "", fakeRec); core.KindOf(err) != core.KindInvalid {
		t.Errorf("invalid id: got %v, want kind invalid", err)
	}

	// With a flag: the flag joins the set in the same update, on condition
	// that the set does not hold it yet; everything else is as without.
	if err := s.AddSuspicion(t.Context(), "ac_1", 0, 30, "ip:10.0.0.2", fakeRec); err != nil {
		t.Fatal(err)
	}
	if len(got.TransactItems) != 3 || got.TransactItems[0].Update == nil {
		t.Fatalf("with a flag: got %d writes, want 3 with the Update first", len(got.TransactItems))
	}
	u := got.TransactItems[0].Update
	cond := aws.ToString(u.UpdateExpression) + " IF " + aws.ToString(u.ConditionExpression)
	if want := "SET #score = :next ADD #flags :flagset IF attribute_exists(#pk) AND NOT contains(#flags, :flag) AND" +
		" (#score = :prev OR (attribute_not_exists(#score) AND :prev = :zero))"; cond != want {
		t.Errorf("with a flag: got %q, want %q", cond, want)
	}
	if u.ExpressionAttributeNames["#flags"] != attrFlags || u.ExpressionAttributeNames["#score"] != attrScore {
		t.Errorf("with a flag: names %v", u.ExpressionAttributeNames)
	}
	if v, ok := u.ExpressionAttributeValues[":flag"].(*types.AttributeValueMemberS); !ok || v.Value != "ip:10.0.0.2" {
		t.Errorf(":flag is %#v, want S ip:10.0.0.2", u.ExpressionAttributeValues[":flag"])
	}
	if v, ok := u.ExpressionAttributeValues[":flagset"].(*types.AttributeValueMemberSS); !ok || !slices.Equal(v.Value, []string{"ip:10.0.0.2"}) {
		t.Errorf(":flagset is %#v, want SS [ip:10.0.0.2]", u.ExpressionAttributeValues[":flagset"])
	}
	for k, v := range map[string]string{":prev": "0", ":next": "30", ":zero": "0"} {
		if n, ok := u.ExpressionAttributeValues[k].(*types.AttributeValueMemberN); !ok || n.Value != v {
			t.Errorf("with a flag: %s is %#v, want %s", k, u.ExpressionAttributeValues[k], v)
		}
	}
	if u.ReturnValuesOnConditionCheckFailure != types.ReturnValuesOnConditionCheckFailureAllOld {
		t.Error("with a flag: the update does not return the access as it was on failure")
	}
}

// TestAccessScoreItem pins the score on the access item: stored as given,
// read back, absent reads 0, and OpenAccess stores 0.
func TestAccessScoreItem(t *testing.T) {
	for _, tc := range []struct {
		it   item
		want int
	}{{accessAV(t, 6, true), 6}, {accessAV(t, 0, false), 0}} {
		a, err := decodeAccess(tc.it)
		if err != nil || a.Score != tc.want {
			t.Errorf("decodeAccess: got score %d, %v; want %d", a.Score, err, tc.want)
		}
	}
	var got *dynamodb.TransactWriteItemsInput
	f := recordingTransact(&got)
	a := core.Access{ID: "ac_1", ShareID: "sh_1", ProfessionalID: "dr-a", DeviceFingerprint: "fp-1", Score: 9}
	if err := fakeStore(f).OpenAccess(t.Context(), a, ft0, fakeRec, core.Notification{ID: "nt_1", RecipientID: "pat-1"}); err != nil {
		t.Fatal(err)
	}
	if n, ok := got.TransactItems[0].Put.Item[attrScore].(*types.AttributeValueMemberN); !ok || n.Value != "0" {
		t.Errorf("OpenAccess stores score %#v, want 0", got.TransactItems[0].Put.Item[attrScore])
	}
}

// notesOf is the notifications of a write that has n, or none when n is nil.
func notesOf(n *core.Notification) []core.Notification {
	if n == nil {
		return nil
	}
	return []core.Notification{*n}
}
