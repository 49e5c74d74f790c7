package dynamostore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/store/storekeys"
)

// The sharing sessions: core.ShareStore on the same table. A method that
// changes security state is one TransactWriteItems whose writes are, in
// order, the state change (conditional Puts, Updates and ConditionChecks of
// the share, idempotency claim, access or key), the inbox items of its
// notifications (none, one, or for ExpireShare one per party), and last the
// two writes of auditWrites. Every condition that can
// fail on the state returns the item as it was (ALL_OLD), and the
// cancellation reasons, which come one per write in the same order, tell
// the answer without another read: the state's reason first (not found,
// gone, forbidden, an idempotent replay, an id that exists), then the
// chain's head (*core.HeadMismatchError), then a notification id that
// exists. A refusal wins over a moved head because nothing was written
// either way and a retry with the new head would be refused again.

// putNew is the write of a new item, conditional on no item at its key.
func (s *Store) putNew(it item) types.TransactWriteItem {
	return types.TransactWriteItem{Put: &types.Put{
		TableName:                s.table,
		Item:                     it,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK},
	}}
}

// inboxPut is the write of n as a new, unread, unpublished inbox item.
func (s *Store) inboxPut(n core.Notification) (types.TransactWriteItem, error) {
	if err := storekeys.CheckIDs(n.RecipientID, n.ID); err != nil {
		return types.TransactWriteItem{}, fmt.Errorf("notification: %w", err)
	}
	it, err := marshal(inboxItemOf(n))
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return s.putNew(it), nil
}

// stateChange runs the transaction of a method that changes security state:
// the method's own writes, the inbox item of each of notes, and the audit
// record. When a condition fails, state tells what the reasons of the
// method's own writes mean (nil when none of them is the answer); it is
// asked first, then the audit record, then the inbox items. The answer, or
// the translated error, is wrapped with the operation that format and args
// name.
func (s *Store) stateChange(ctx context.Context, own []types.TransactWriteItem, notes []core.Notification, rec core.AuditRecord,
	state func(reasons []types.CancellationReason) error, format string, args ...any) error {
	wrap := func(err error) error { return fmt.Errorf(format+": %w", append(args, err)...) }
	items := slices.Clone(own)
	for _, n := range notes {
		put, err := s.inboxPut(n)
		if err != nil {
			return wrap(err)
		}
		items = append(items, put)
	}
	audit, err := s.auditWrites(rec)
	if err != nil {
		return wrap(err)
	}
	items = append(items, audit...)
	err = s.transact(ctx, items)
	reasons, failed := cancellation(err, len(items))
	switch {
	case err == nil:
		return nil
	case !failed:
		return translate(err, format, args...)
	}
	if answer := state(reasons[:len(own)]); answer != nil {
		return wrap(answer)
	}
	if answer := auditAnswer(rec, reasons, err); answer != nil {
		return wrap(answer)
	}
	for i, n := range notes {
		if conditionFailed(reasons[len(own)+i]) {
			return wrap(core.ErrConflict("notification %s exists", n.ID))
		}
	}
	return wrap(core.ErrInternal(err, "a condition failed that no answer explains"))
}

// CreateShare stores a new share with one TransactWriteItems: a Put of the
// share conditional on its absence; with an idempotency key, a Put of the
// patient's claim of the key, conditional on no claim or a claim that
// expired at sh.CreatedAt, whose ALL_OLD item names the share of a live
// claim; the grantee's inbox item; the audit record. A live claim is the
// answer whatever else failed (*core.IdempotencyReplayError: retrying with
// another head would only find it again), then an existing id
// (KindConflict), then the chain's head. See core.ShareStore.
func (s *Store) CreateShare(ctx context.Context, sh core.Share, rec core.AuditRecord, notes ...core.Notification) error {
	if err := storekeys.CheckIDs(sh.ID, sh.PatientID, sh.ProfessionalID); err != nil {
		return fmt.Errorf("create share %q: %w", sh.ID, err)
	}
	idem := sh.IdempotencyKey != ""
	if idem {
		if err := storekeys.CheckIDs(sh.IdempotencyKey); err != nil {
			return fmt.Errorf("create share %s: idempotency key: %w", sh.ID, err)
		}
	}
	shareAV, err := marshal(shareItemOf(sh))
	if err != nil {
		return fmt.Errorf("create share %s: %w", sh.ID, err)
	}
	own := []types.TransactWriteItem{s.putNew(shareAV)}
	if idem {
		idemAV, err := marshal(idempotencyItemOf(sh))
		if err != nil {
			return fmt.Errorf("create share %s: %w", sh.ID, err)
		}
		own = append(own, types.TransactWriteItem{Put: &types.Put{
			TableName:                           s.table,
			Item:                                idemAV,
			ConditionExpression:                 aws.String("attribute_not_exists(#pk) OR #expires <= :now"),
			ExpressionAttributeNames:            map[string]string{"#pk": AttrPK, "#expires": attrClaimExpiresAt},
			ExpressionAttributeValues:           map[string]types.AttributeValue{":now": avTime(sh.CreatedAt)},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}})
	}
	return s.stateChange(ctx, own, notes, rec, func(reasons []types.CancellationReason) error {
		if idem && conditionFailed(reasons[1]) {
			prev, err := decodeIdempotency(reasons[1].Item)
			if err != nil {
				return err
			}
			if prev.ShareID == "" {
				return core.ErrInternal(nil, "the claim of idempotency key %q names no share", sh.IdempotencyKey)
			}
			return &core.IdempotencyReplayError{ShareID: prev.ShareID, RequestHash: prev.RequestHash}
		}
		if conditionFailed(reasons[0]) {
			return core.ErrConflict("share %s exists", sh.ID)
		}
		return nil
	}, "create share %s", sh.ID)
}

// GetShare returns the share or KindNotFound, with one strongly consistent
// GetItem.
func (s *Store) GetShare(ctx context.Context, id string) (core.Share, error) {
	return getOne(ctx, s, "share", id, storekeys.ShareKey(id), decodeShare)
}

// GetAccess returns the access or KindNotFound, with one strongly
// consistent GetItem.
func (s *Store) GetAccess(ctx context.Context, id string) (core.Access, error) {
	return getOne(ctx, s, "access", id, storekeys.AccessKey(id), decodeAccess)
}

// GetKey returns the ephemeral key or KindNotFound, with one strongly
// consistent GetItem.
func (s *Store) GetKey(ctx context.Context, id string) (core.EphemeralKey, error) {
	return getOne(ctx, s, "key", id, storekeys.EphemeralKeyKey(id), decodeEphemeralKey)
}

// getOne reads the item of entity what id, at k, with one strongly
// consistent GetItem and decodes it; KindNotFound when there is none. It
// checks id and the other ids k holds (storekeys.CheckIDs) first.
func getOne[T any](ctx context.Context, s *Store, what, id string, k storekeys.Key, decode func(item) (T, error), others ...string) (T, error) {
	if err := storekeys.CheckIDs(append(others, id)...); err != nil {
		var zero T
		return zero, fmt.Errorf("get %s %q: %w", what, id, err)
	}
	return getDecoded(ctx, s, what+" "+id, k, decode)
}

// getDecoded reads the item at k, which what names, with one strongly
// consistent GetItem and decodes it; KindNotFound when there is none.
func getDecoded[T any](ctx context.Context, s *Store, what string, k storekeys.Key, decode func(item) (T, error)) (T, error) {
	var zero T
	it, err := s.get(ctx, k)
	if err != nil {
		return zero, translate(err, "get %s", what)
	}
	if len(it) == 0 {
		return zero, fmt.Errorf("get %s: %w", what, core.ErrNotFound("%s not found", what))
	}
	v, err := decode(it)
	if err != nil {
		return zero, fmt.Errorf("get %s: %w", what, err)
	}
	return v, nil
}

// ListShares returns one page of a patient's shares (a Query of
// IndexSharesByPatient) or of a professional's (IndexSharesByGrantee),
// newest first. The cursor holds the index sort key, which names the share,
// so the full ExclusiveStartKey (index and table keys) is rebuilt from it.
// Index reads are eventually consistent: a share created a moment ago may be
// missing from the page, and a page may show a share's state of a moment
// ago.
func (s *Store) ListShares(ctx context.Context, party string, role core.Role, page core.Page) ([]core.Share, string, error) {
	if err := storekeys.CheckIDs(party); err != nil {
		return nil, "", fmt.Errorf("list shares of %q: %w", party, err)
	}
	var index, pkAttr, skAttr, pk string
	switch role {
	case core.RolePatient:
		index, pkAttr, skAttr, pk = IndexSharesByPatient, AttrGSI1PK, AttrGSI1SK, storekeys.SharesByPatientPK+party
	case core.RoleProfessional:
		index, pkAttr, skAttr, pk = IndexSharesByGrantee, AttrGSI2PK, AttrGSI2SK, storekeys.SharesByGranteePK+party
	default:
		return nil, "", fmt.Errorf("list shares of %s: %w", party, core.ErrInvalid("role %q has no shares", role))
	}
	list := storekeys.List{PK: pk, Desc: true}
	start, err := indexStart(page.Cursor, list, pkAttr, skAttr, func(sk string) (storekeys.Key, error) {
		id, err := parseShareIndexSK(sk)
		if err != nil {
			return storekeys.Key{}, core.ErrInvalid("cursor is malformed")
		}
		return storekeys.ShareKey(id), nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("list shares of %s: %w", party, err)
	}
	q := &dynamodb.QueryInput{
		TableName:                 s.table,
		IndexName:                 aws.String(index),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": pkAttr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": avS(pk)},
		ScanIndexForward:          aws.Bool(false),
		ExclusiveStartKey:         start,
	}
	return queryDecoded(ctx, s, q, skAttr, list, page, "list shares of "+party, decodeShare)
}

// indexStart is the ExclusiveStartKey of a Query of list, a partition
// (pkAttr) of an index sorted on skAttr, after the position in cursor: an
// index sort key, from which parse reads the key of its item in the table
// (KindInvalid when it cannot). nil from the start.
func indexStart(cursor string, list storekeys.List, pkAttr, skAttr string, parse func(sk string) (storekeys.Key, error)) (item, error) {
	after, err := storekeys.DecodeCursor(cursor, list)
	if err != nil || after == "" {
		return nil, err
	}
	k, err := parse(after)
	if err != nil {
		return nil, err
	}
	start := keyItem(k)
	start[pkAttr], start[skAttr] = avS(list.PK), avS(after)
	return start, nil
}

// shareIndexTimeLen is the length of the time at the start of a share index
// sort key (storekeys.ShareIndexSK).
var shareIndexTimeLen = len(time.Time{}.Format(storekeys.ActorTimeLayout))

// parseShareIndexSK returns the share id of a sort key that
// storekeys.ShareIndexSK made: <created, fixed width>#<id>. It fails on
// anything else.
func parseShareIndexSK(sk string) (string, error) {
	n := shareIndexTimeLen
	if len(sk) < n+2 || sk[n] != '#' {
		return "", fmt.Errorf("share index sort key %q is malformed", sk)
	}
	at, err := time.Parse(storekeys.ActorTimeLayout, sk[:n])
	if err != nil || at.UTC().Format(storekeys.ActorTimeLayout) != sk[:n] {
		return "", fmt.Errorf("share index sort key %q has a malformed time", sk)
	}
	id := sk[n+1:]
	if err := storekeys.CheckIDs(id); err != nil {
		return "", fmt.Errorf("share index sort key %q: %w", sk, err)
	}
	return id, nil
}

// RevokeShare revokes patientID's share with one TransactWriteItems: an
// Update of the share (status, revoked_at, revoked_by = rec.ActorID,
// revoke_reason; out of IndexTime) conditional on patient_id = patientID
// AND status <> revoked, the grantee's inbox item and the audit record, and
// reports true. When the condition fails, the share as it was (ALL_OLD)
// tells the answer: none, or another patient's, is KindNotFound; a revoked
// share is (false, nil) whatever else failed, and nothing was written. See
// core.ShareStore.
func (s *Store) RevokeShare(ctx context.Context, id, patientID string, at time.Time, reason string, rec core.AuditRecord, notes ...core.Notification) (bool, error) {
	if err := storekeys.CheckIDs(id, patientID); err != nil {
		return false, fmt.Errorf("revoke share %q: %w", id, err)
	}
	update := types.TransactWriteItem{Update: &types.Update{
		TableName: s.table,
		Key:       keyItem(storekeys.ShareKey(id)),
		UpdateExpression: aws.String("SET #status = :revoked, #rat = :at, #rby = :by, #rreason = :reason" +
			" REMOVE #bucket, #timeat"),
		ConditionExpression: aws.String("#patient = :patient AND #status <> :revoked"),
		ExpressionAttributeNames: map[string]string{
			"#status": attrStatus, "#rat": attrRevokedAt, "#rby": attrRevokedBy, "#rreason": attrRevokeReason,
			"#bucket": AttrTimeBucket, "#timeat": AttrTimeAt, "#patient": attrPatientID,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":revoked": avS(string(core.ShareRevoked)), ":at": avTime(at),
			":by": avS(rec.ActorID), ":reason": avS(reason), ":patient": avS(patientID),
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}
	return s.updateShare(ctx, id, update, notes, rec, func(prev core.Share) (bool, error) {
		switch {
		case prev.PatientID != patientID:
			return false, core.ErrNotFound("share %s not found", id)
		case prev.Status == core.ShareRevoked:
			return true, nil
		}
		return false, core.ErrInternal(nil, "the revoke condition failed on share %s of its patient in status %q", id, prev.Status)
	}, "revoke share %s", id)
}

// updateShare runs the state change of a method whose own write is update:
// one Update of share id, conditional on its state, that returns the share
// as it was (ALL_OLD). It reports whether it wrote. When that condition
// fails, refused answers from the share as it was (none is KindNotFound):
// noop when the share leaves the method nothing to do (already revoked, no
// longer active), and then updateShare reports false and no error whatever
// else failed, since nothing was written; otherwise the error that is the
// answer.
func (s *Store) updateShare(ctx context.Context, id string, update types.TransactWriteItem, notes []core.Notification, rec core.AuditRecord,
	refused func(prev core.Share) (noop bool, err error), format string, args ...any) (bool, error) {
	noop := false
	err := s.stateChange(ctx, []types.TransactWriteItem{update}, notes, rec, func(reasons []types.CancellationReason) error {
		if !conditionFailed(reasons[0]) {
			return nil
		}
		prev, err := oldShare(id, reasons[0].Item)
		if err != nil {
			return err
		}
		noop, err = refused(prev)
		return err
	}, format, args...)
	if noop { // whatever else failed: nothing was written
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// oldShare decodes share id as it was when a condition on it failed (old,
// its ALL_OLD item: empty when there was none); KindNotFound when there was
// none.
func oldShare(id string, old item) (core.Share, error) {
	if len(old) == 0 {
		return core.Share{}, core.ErrNotFound("share %s not found", id)
	}
	return decodeShare(old)
}

// OpenAccess stores a new access with one TransactWriteItems: a Put of the
// access conditional on its absence; an Update of its share that binds the
// device (SET devices.<fingerprint> = if_not_exists(..., now): binding a
// bound device changes nothing) conditional on
//
//	status = active AND share_expires_at > now AND professional_id = grantee
//	AND (attribute_exists(devices.<fingerprint>) OR size(devices) < max_devices)
//
// the patient's inbox item and the audit record. When the share's condition
// fails, the share as it was tells which clause did: core.Share.RefuseDevice.
func (s *Store) OpenAccess(ctx context.Context, a core.Access, now time.Time, rec core.AuditRecord, notes ...core.Notification) error {
	if err := storekeys.CheckIDs(a.ID, a.ShareID, a.DeviceFingerprint); err != nil {
		return fmt.Errorf("open access %q to share %q: %w", a.ID, a.ShareID, err)
	}
	accessIt := accessItemOf(a)
	accessIt.Score = 0 // a new access has no suspicion yet
	accessAV, err := marshal(accessIt)
	if err != nil {
		return fmt.Errorf("open access %s to share %s: %w", a.ID, a.ShareID, err)
	}
	bind := s.useShare(a.ShareID, a.ProfessionalID, now, "SET #devices.#fp = if_not_exists(#devices.#fp, :now)",
		" AND (attribute_exists(#devices.#fp) OR size(#devices) < #max)",
		map[string]string{"#devices": attrDevices, "#fp": a.DeviceFingerprint, "#max": attrMaxDevices}, nil)
	return s.stateChange(ctx, []types.TransactWriteItem{s.putNew(accessAV), bind}, notes, rec, func(reasons []types.CancellationReason) error {
		if conditionFailed(reasons[1]) {
			return refusedShare(a.ShareID, reasons[1].Item, func(sh core.Share) error {
				return sh.RefuseDevice(a.ProfessionalID, a.DeviceFingerprint, now)
			})
		}
		if conditionFailed(reasons[0]) {
			return core.ErrConflict("access %s exists", a.ID)
		}
		return nil
	}, "open access %s to share %s", a.ID, a.ShareID)
}

// shareUsable is the condition that a share is usable by professional pro
// at now, the clauses of core.Share.RefuseUse (status = active AND
// share_expires_at > now AND professional_id = pro), with the names and
// values it uses, to which a caller may add its own.
func shareUsable(pro string, now time.Time) (string, map[string]string, map[string]types.AttributeValue) {
	return "#status = :active AND #expires > :now AND #pro = :pro",
		map[string]string{"#status": attrStatus, "#expires": attrShareExpiresAt, "#pro": attrProfessionalID},
		map[string]types.AttributeValue{":active": avS(string(core.ShareActive)), ":now": avTime(now), ":pro": avS(pro)}
}

// useShare is the Update expr of share id, conditional on its being usable
// by pro at now (shareUsable) and on more (" AND …"), which names and
// values complete; ALL_OLD, for refusedShare.
func (s *Store) useShare(id, pro string, now time.Time, expr, more string, names map[string]string, values map[string]types.AttributeValue) types.TransactWriteItem {
	usable, n, v := shareUsable(pro, now)
	maps.Copy(n, names)
	maps.Copy(v, values)
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                           s.table,
		Key:                                 keyItem(storekeys.ShareKey(id)),
		UpdateExpression:                    aws.String(expr),
		ConditionExpression:                 aws.String(usable + more),
		ExpressionAttributeNames:            n,
		ExpressionAttributeValues:           v,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}
}

// refusedShare tells why a condition failed on share id from the share as
// it was (old, empty when there was none): KindNotFound when there was
// none, otherwise refuse's answer (one of the share's refusal rules,
// core.Share.RefuseUse, RefuseView or RefuseDevice, the rule the condition
// wrote), and KindInternal when that rule refuses nothing.
func refusedShare(id string, old item, refuse func(core.Share) error) error {
	sh, err := oldShare(id, old)
	if err != nil {
		return err
	}
	if err := refuse(sh); err != nil {
		return err
	}
	return core.ErrInternal(nil, "a condition failed on share %s in status %q that its rule does not refuse", id, sh.Status)
}

// IssueKey consumes one view and stores the ISSUED key with one
// TransactWriteItems: an Update of the share, SET views_used = views_used
// + 1, conditional on
//
//	status = active AND share_expires_at > now AND professional_id = grantee
//	AND views_used < max_views
//
// which is the one place a view is counted (ARCHITECTURE §2.3); a Put of the key
// conditional on its absence; the patient's inbox item and the audit
// record. When the share's condition fails, the share as it was tells
// which clause did: core.Share.RefuseView.
func (s *Store) IssueKey(ctx context.Context, k core.EphemeralKey, now time.Time, rec core.AuditRecord, notes ...core.Notification) error {
	if err := storekeys.CheckIDs(k.ID, k.ShareID, k.PatientID, k.PhotoID); err != nil {
		return fmt.Errorf("issue key %q of share %q: %w", k.ID, k.ShareID, err)
	}
	keyAV, err := marshal(ephemeralKeyItemOf(k))
	if err != nil {
		return fmt.Errorf("issue key %s of share %s: %w", k.ID, k.ShareID, err)
	}
	count := s.useShare(k.ShareID, k.ProfessionalID, now, "SET #used = #used + :one", " AND #used < #max",
		map[string]string{"#used": attrViewsUsed, "#max": attrMaxViews}, map[string]types.AttributeValue{":one": avN("1")})
	// A deleted photo's key is never released again.
	photoExists := types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName:           s.table,
		Key:                 keyItem(storekeys.PhotoKey(k.PatientID, k.PhotoID)),
		ConditionExpression: aws.String("attribute_exists(pk)"),
	}}
	return s.stateChange(ctx, []types.TransactWriteItem{count, photoExists, s.putNew(keyAV)}, notes, rec, func(reasons []types.CancellationReason) error {
		if conditionFailed(reasons[0]) {
			return refusedShare(k.ShareID, reasons[0].Item, func(sh core.Share) error {
				return sh.RefuseView(k.ProfessionalID, now)
			})
		}
		if conditionFailed(reasons[1]) {
			return core.ErrNotFound("photo %s of share %s was deleted", k.PhotoID, k.ShareID)
		}
		if conditionFailed(reasons[2]) {
			return core.ErrConflict("key %s exists", k.ID)
		}
		return nil
	}, "issue key %s of share %s", k.ID, k.ShareID)
}

// ClaimKey claims key k with one TransactWriteItems: an Update of the key,
// SET status = used, used_at = now, conditional on
//
//	status = issued AND professional_id = claimant AND share_id = k.ShareID
//	AND key_expires_at > now
//
// a ConditionCheck of its share (status = active AND share_expires_at > now
// AND professional_id = claimant), so that a revocation stops claims of
// keys already issued (ARCHITECTURE §2.5), and the audit record. The key's reason
// is asked before the share's. The service's claims carry no notification.
//
// It returns k as claimed: k is the key as GetKey read it, and a claim
// changes only its status and used_at, which the condition pinned.
func (s *Store) ClaimKey(ctx context.Context, k core.EphemeralKey, professionalID string, now time.Time, rec core.AuditRecord, notes ...core.Notification) (core.EphemeralKey, error) {
	if err := storekeys.CheckIDs(k.ID, k.ShareID); err != nil {
		return core.EphemeralKey{}, fmt.Errorf("claim key %q: %w", k.ID, err)
	}
	claim := types.TransactWriteItem{Update: &types.Update{
		TableName:        s.table,
		Key:              keyItem(storekeys.EphemeralKeyKey(k.ID)),
		UpdateExpression: aws.String("SET #status = :used, #usedat = :now"),
		ConditionExpression: aws.String("#status = :issued AND #pro = :pro AND #share = :share" +
			" AND #expires > :now"),
		ExpressionAttributeNames: map[string]string{
			"#status": attrStatus, "#usedat": attrUsedAt, "#pro": attrProfessionalID,
			"#share": attrShareID, "#expires": attrKeyExpiresAt,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":used": avS(string(core.KeyUsed)), ":issued": avS(string(core.KeyIssued)), ":now": avTime(now),
			":pro": avS(professionalID), ":share": avS(k.ShareID),
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}
	usable, names, values := shareUsable(professionalID, now)
	check := types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName:                           s.table,
		Key:                                 keyItem(storekeys.ShareKey(k.ShareID)),
		ConditionExpression:                 aws.String(usable),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}
	err := s.stateChange(ctx, []types.TransactWriteItem{claim, check}, notes, rec, func(reasons []types.CancellationReason) error {
		if conditionFailed(reasons[0]) {
			return claimAnswer(k, professionalID, now, reasons[0].Item)
		}
		if conditionFailed(reasons[1]) {
			return refusedShare(k.ShareID, reasons[1].Item, func(sh core.Share) error {
				return sh.RefuseUse(professionalID, now)
			})
		}
		return nil
	}, "claim key %s", k.ID)
	if err != nil {
		return core.EphemeralKey{}, err
	}
	k.Status, k.UsedAt = core.KeyUsed, now.UTC()
	return k, nil
}

// claimAnswer tells why ClaimKey's condition failed on the key as it was
// (old, empty when there was none): KindNotFound when there was none, then
// core.EphemeralKey.RefuseClaim's answer.
func claimAnswer(k core.EphemeralKey, professionalID string, now time.Time, old item) error {
	if len(old) == 0 {
		return core.ErrNotFound("key %s not found", k.ID)
	}
	stored, err := decodeEphemeralKey(old)
	if err != nil {
		return err
	}
	if err := stored.RefuseClaim(professionalID, k.ShareID, now); err != nil {
		return err
	}
	return core.ErrInternal(nil, "the claim condition failed on key %s in status %q", k.ID, stored.Status)
}

// AddSuspicion moves the access's suspicion score from prev to next with
// one TransactWriteItems: an Update of the access, SET score = next,
// conditional on
//
//	attribute_exists(pk) AND (score = prev OR (attribute_not_exists(score) AND prev = 0))
//
// (an access stored before there were scores has none, which reads 0), the
// inbox items of notes, and the audit record. When flag is not
// empty the update also adds it to the access's string set flags (ADD flags
// :flagset) on the further condition NOT contains(flags, :flag) (an access
// without flags has none). When the access's condition fails, the access as
// it was (ALL_OLD) tells the answer whatever else failed: none is
// KindNotFound, one whose flags hold flag is core.ErrAlreadyFlagged,
// otherwise *core.ScoreMovedError with its score. See core.ShareStore.
func (s *Store) AddSuspicion(ctx context.Context, accessID string, prev, next int, flag string, rec core.AuditRecord, notes ...core.Notification) error {
	if err := storekeys.CheckIDs(accessID); err != nil {
		return fmt.Errorf("add suspicion to access %q: %w", accessID, err)
	}
	expr := "SET #score = :next"
	cond := "attribute_exists(#pk) AND" +
		" (#score = :prev OR (attribute_not_exists(#score) AND :prev = :zero))"
	names := map[string]string{"#pk": AttrPK, "#score": attrScore}
	values := map[string]types.AttributeValue{
		":next": avN(strconv.Itoa(next)), ":prev": avN(strconv.Itoa(prev)), ":zero": avN("0"),
	}
	if flag != "" {
		expr += " ADD #flags :flagset"
		cond = "attribute_exists(#pk) AND NOT contains(#flags, :flag) AND" +
			" (#score = :prev OR (attribute_not_exists(#score) AND :prev = :zero))"
		names["#flags"] = attrFlags
		values[":flag"] = avS(flag)
		values[":flagset"] = &types.AttributeValueMemberSS{Value: []string{flag}}
	}
	update := types.TransactWriteItem{Update: &types.Update{
		TableName:                           s.table,
		Key:                                 keyItem(storekeys.AccessKey(accessID)),
		UpdateExpression:                    aws.String(expr),
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}
	return s.stateChange(ctx, []types.TransactWriteItem{update}, notes, rec, func(reasons []types.CancellationReason) error {
		if !conditionFailed(reasons[0]) {
			return nil
		}
		if len(reasons[0].Item) == 0 {
			return core.ErrNotFound("access %s not found", accessID)
		}
		if flag != "" && hasFlag(reasons[0].Item, flag) {
			return core.ErrAlreadyFlagged
		}
		a, err := decodeAccess(reasons[0].Item)
		if err != nil {
			return err
		}
		if a.Score == prev {
			return core.ErrInternal(nil, "the score condition failed on access %s, whose score is %d", accessID, prev)
		}
		return &core.ScoreMovedError{AccessID: accessID, Current: a.Score}
	}, "add suspicion to access %s", accessID)
}

// hasFlag reports whether the access item's flags set holds flag.
func hasFlag(it item, flag string) bool {
	ss, ok := it[attrFlags].(*types.AttributeValueMemberSS)
	return ok && slices.Contains(ss.Value, flag)
}

// ListInbox returns one page of recipient's notifications, newest first
// (notification ids sort by time), with a Query of the inbox partition.
func (s *Store) ListInbox(ctx context.Context, recipient string, page core.Page) ([]core.InboxItem, string, error) {
	list := storekeys.List{PK: storekeys.InboxPKPrefix + recipient, SKPrefix: storekeys.InboxSKPrefix, Desc: true}
	return listPartition(ctx, s, list, page, "list inbox of", recipient, decodeInboxItem)
}

// MarkRead marks one of recipient's notifications read with one UpdateItem
// conditional on its existence in recipient's inbox, and returns it as
// stored after (ALL_NEW). Reading it again changes nothing.
func (s *Store) MarkRead(ctx context.Context, recipient, id string) (core.InboxItem, error) {
	out, err := s.updateInbox(ctx, recipient, id, "SET #read = :true", map[string]string{"#read": attrRead}, types.ReturnValueAllNew)
	if err != nil {
		return core.InboxItem{}, fmt.Errorf("mark notification %s read: %w", id, err)
	}
	n, err := decodeInboxItem(out)
	if err != nil {
		return core.InboxItem{}, fmt.Errorf("mark notification %s read: %w", id, err)
	}
	return n, nil
}

// MarkPublished records that the notifier accepted one of recipient's
// notifications, with one UpdateItem conditional on its existence: it sets
// published and removes the IndexTime attributes, which takes it out of the
// due notifications (core.DueNotification). KindNotFound when it is not in
// recipient's inbox.
func (s *Store) MarkPublished(ctx context.Context, recipient, id string) error {
	names := map[string]string{"#published": attrPublished, "#bucket": AttrTimeBucket, "#timeat": AttrTimeAt}
	if _, err := s.updateInbox(ctx, recipient, id, "SET #published = :true REMOVE #bucket, #timeat", names, types.ReturnValueNone); err != nil {
		return fmt.Errorf("mark notification %s published: %w", id, err)
	}
	return nil
}

// updateInbox runs one UpdateItem of the notification (recipient, id),
// conditional on its existence, with the update expression expr, whose
// attribute names are names and in which :true is true.
func (s *Store) updateInbox(ctx context.Context, recipient, id, expr string, names map[string]string, rv types.ReturnValue) (item, error) {
	if err := storekeys.CheckIDs(recipient, id); err != nil {
		return nil, err
	}
	names = maps.Clone(names)
	names["#pk"] = AttrPK
	var out *dynamodb.UpdateItemOutput
	err := s.retryConflicts(ctx, func() (err error) {
		out, err = s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 s.table,
			Key:                       keyItem(storekeys.InboxKey(recipient, id)),
			UpdateExpression:          aws.String(expr),
			ConditionExpression:       aws.String("attribute_exists(#pk)"),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: map[string]types.AttributeValue{":true": &types.AttributeValueMemberBOOL{Value: true}},
			ReturnValues:              rv,
		})
		return err
	})
	if _, failed := conditionFailure(err); failed {
		return nil, core.ErrNotFound("notification %s not found", id)
	}
	if err != nil {
		return nil, translate(err, "update notification %s of %s", id, recipient)
	}
	return out.Attributes, nil
}
