package boltstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/store/storeitem"
	"github.com/medshare/medshare/shared/store/storekeys"
)

// The sharing items (core.ShareStore) and the inboxes (core.InboxStore). A
// method that changes security state runs in one transaction: it checks its
// conditions on the items as stored, then appends the audit record exactly
// as AppendAudit does and puts the notifications (recordChange), then writes
// the state change. An error anywhere rolls the whole transaction back,
// which is the all-or-nothing of the DynamoDB adapter's TransactWriteItems.
//
// A state condition is checked before the chain head: a refused call returns
// its reason at once instead of *core.HeadMismatchError, which would only
// make the caller relink and be refused then.

// checkWriteIDs checks the ids a state change puts into keys: its own, its
// notifications' and its record's.
func checkWriteIDs(rec core.AuditRecord, notes []core.Notification, ids ...string) error {
	for _, n := range notes {
		ids = append(ids, n.RecipientID, n.ID)
	}
	if err := storekeys.CheckIDs(ids...); err != nil {
		return err
	}
	return checkRecordIDs(rec)
}

// recordChange appends rec to its chain and puts each of notes into its
// recipient's inbox, unread and unpublished, due (core.DueNotification)
// until MarkPublished, within tx: the part every state change writes with
// its own (see core.Store). Its caller checked the ids (checkWriteIDs) and
// the change's own conditions, which come first; a moved head comes next,
// then a notification id that exists (KindConflict), as in DynamoDB.
func recordChange(tx *bolt.Tx, rec core.AuditRecord, notes []core.Notification) error {
	if err := appendRecord(tx, rec); err != nil {
		return err
	}
	items := tx.Bucket(itemsBucket)
	for _, n := range notes {
		k := storekeys.InboxKey(n.RecipientID, n.ID)
		if items.Get(boltKey(k)) != nil {
			return core.ErrConflict("notification %s exists", n.ID)
		}
		if err := putJSON(items, k, storeitem.InboxItemOf(core.InboxItem{Notification: n})); err != nil {
			return err
		}
		if err := putDue(tx, core.DueNotification, n.CreatedAt, k); err != nil {
			return err
		}
	}
	return nil
}

// readShare returns share id as stored (its stored shape) and the share it
// stores, or KindNotFound. The methods that change a share decide on the
// share and change the stored shape, field by field, as DynamoDB's updates
// do: a bound device keeps the time it was bound.
func readShare(items *bolt.Bucket, id string) (storeitem.Share, core.Share, error) {
	k := storekeys.ShareKey(id)
	var r storeitem.Share
	found, err := getJSON(items, k, &r)
	if err != nil {
		return r, core.Share{}, err
	}
	if !found {
		return r, core.Share{}, core.ErrNotFound("share %s not found", id)
	}
	sh, err := r.Entity()
	if err != nil {
		return r, core.Share{}, core.ErrInternal(err, "item %s %s is corrupt", k.PK, k.SK)
	}
	return r, sh, nil
}

// CreateShare stores a new share, its index entries, its idempotency claim,
// the grantee's notification and the audit record in one transaction; see
// core.ShareStore.
func (s *Store) CreateShare(ctx context.Context, sh core.Share, rec core.AuditRecord, notes ...core.Notification) error {
	ids := []string{sh.ID, sh.PatientID, sh.ProfessionalID}
	if sh.IdempotencyKey != "" {
		ids = append(ids, sh.IdempotencyKey)
	}
	if err := checkWriteIDs(rec, notes, ids...); err != nil {
		return fmt.Errorf("create share %q: %w", sh.ID, err)
	}
	sk := storekeys.ShareKey(sh.ID)
	err := s.run(ctx, true, func(tx *bolt.Tx) error {
		items := tx.Bucket(itemsBucket)
		if sh.IdempotencyKey != "" {
			var claim storeitem.IdempotencyClaim
			found, err := getJSON(items, storekeys.IdempotencyKey(sh.PatientID, sh.IdempotencyKey), &claim)
			if err != nil {
				return err
			}
			// A claim past its expiry is absent, whether or not it was
			// cleaned up (ARCHITECTURE §2.2); the new share replaces it.
			live, err := claim.Live(sh.CreatedAt)
			if found && err != nil {
				return core.ErrInternal(err, "the claim of idempotency key %q is corrupt", sh.IdempotencyKey)
			}
			if found && live {
				return claim.Replay()
			}
		}
		if items.Get(boltKey(sk)) != nil {
			return core.ErrConflict("share %s exists", sh.ID)
		}
		if err := recordChange(tx, rec, notes); err != nil {
			return err
		}
		if err := putJSON(items, sk, storeitem.ShareOf(sh)); err != nil {
			return err
		}
		if err := tx.Bucket(sharePatientBucket).Put(boltKey(storekeys.SharesByPatientKey(sh.PatientID, sh.CreatedAt, sh.ID)), boltKey(sk)); err != nil {
			return err
		}
		if err := tx.Bucket(shareGranteeBucket).Put(boltKey(storekeys.SharesByGranteeKey(sh.ProfessionalID, sh.CreatedAt, sh.ID)), boltKey(sk)); err != nil {
			return err
		}
		if sh.Status == core.ShareActive {
			if err := putDue(tx, core.DueShare, sh.ExpiresAt, sk); err != nil {
				return err
			}
		}
		if sh.IdempotencyKey != "" {
			if err := putJSON(items, storekeys.IdempotencyKey(sh.PatientID, sh.IdempotencyKey), storeitem.ClaimOf(sh)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create share %s of %s: %w", sh.ID, sh.PatientID, err)
	}
	return nil
}

// GetShare returns the share as stored or KindNotFound.
func (s *Store) GetShare(ctx context.Context, id string) (core.Share, error) {
	if err := storekeys.CheckIDs(id); err != nil {
		return core.Share{}, fmt.Errorf("get share %q: %w", id, err)
	}
	var sh core.Share
	err := s.run(ctx, false, func(tx *bolt.Tx) error {
		var err error
		_, sh, err = readShare(tx.Bucket(itemsBucket), id)
		return err
	})
	if err != nil {
		return core.Share{}, fmt.Errorf("get share %s: %w", id, err)
	}
	return sh, nil
}

// decodeShareCursor returns the index sort key in a cursor of list: a
// storekeys.ShareIndexSK, whose time is fixed width and whose id is not
// empty; anything else is KindInvalid.
func decodeShareCursor(cursor string, list storekeys.List) (string, error) {
	sk, err := storekeys.DecodeCursor(cursor, list)
	if err != nil || sk == "" {
		return sk, err
	}
	tlen := len(storekeys.ActorTimeLayout) - len("Z07:00") + len("Z")
	if len(sk) < tlen+2 || sk[tlen] != '#' {
		return "", core.ErrInvalid("cursor is malformed")
	}
	at, err := time.Parse(storekeys.ActorTimeLayout, sk[:tlen])
	if err != nil || storekeys.ShareIndexSK(at, sk[tlen+1:]) != sk {
		return "", core.ErrInvalid("cursor is malformed")
	}
	return sk, nil
}

// ListShares returns one page of the shares of a patient or granted to a
// professional, newest first, read through the index as stored now.
func (s *Store) ListShares(ctx context.Context, party string, role core.Role, page core.Page) ([]core.Share, string, error) {
	if err := storekeys.CheckIDs(party); err != nil {
		return nil, "", fmt.Errorf("list shares of %q: %w", party, err)
	}
	var bucket []byte
	var pk string
	switch role {
	case core.RolePatient:
		bucket, pk = sharePatientBucket, storekeys.SharesByPatientPK+party
	case core.RoleProfessional:
		bucket, pk = shareGranteeBucket, storekeys.SharesByGranteePK+party
	default:
		return nil, "", fmt.Errorf("list shares of %s: %w", party, core.ErrInvalid("role %q has no shares", role))
	}
	list := storekeys.List{PK: pk, Desc: true}
	after, err := decodeShareCursor(page.Cursor, list)
	if err != nil {
		return nil, "", fmt.Errorf("list shares of %s: %w", party, err)
	}
	shares := []core.Share{}
	var next string
	err = s.run(ctx, false, func(tx *bolt.Tx) error {
		items := tx.Bucket(itemsBucket)
		var err error
		next, err = scan(tx.Bucket(bucket), pk, "", after, true, pageLimit(page),
			func(sk string, itemKey []byte) error {
				sh, err := readIndexed[storeitem.Share](items, itemKey, "share", sk, party, "share")
				shares = append(shares, sh)
				return err
			})
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("list shares of %s: %w", party, err)
	}
	return shares, list.Next(next), nil
}

// RevokeShare moves patientID's share to REVOKED, revoked by rec.ActorID,
// with the grantee's notification and the audit record in one transaction,
// and reports true; a revoked share is left as stored, with no write, and
// reports false. See core.ShareStore.
func (s *Store) RevokeShare(ctx context.Context, id, patientID string, at time.Time, reason string, rec core.AuditRecord, notes ...core.Notification) (bool, error) {
	if err := checkWriteIDs(rec, notes, id, patientID); err != nil {
		return false, fmt.Errorf("revoke share %q: %w", id, err)
	}
	return s.endShare(ctx, id, rec, notes, func(sh core.Share) (bool, error) {
		switch {
		case sh.PatientID != patientID:
			return false, core.ErrNotFound("share %s not found", id)
		case sh.Status == core.ShareRevoked:
			return true, nil
		}
		return false, nil
	}, func(r *storeitem.Share) {
		r.Status, r.RevokedAt, r.RevokedBy, r.RevokeReason = string(core.ShareRevoked), storeitem.FormatTime(at), rec.ActorID, reason
	}, "revoke share")
}

// endShare is RevokeShare and ExpireShare: in one transaction, it reads
// share id, and asks refused whether the share as stored leaves the method
// nothing to do (noop: no write, and it reports false) or refuses it (the
// error that is the answer). Otherwise it records the change (rec, notes),
// applies end to the stored share, writes it, takes it out of the due
// shares (it no longer expires) and reports true. op names the method in
// errors.
func (s *Store) endShare(ctx context.Context, id string, rec core.AuditRecord, notes []core.Notification,
	refused func(core.Share) (noop bool, err error), end func(*storeitem.Share), op string) (bool, error) {
	ended := false
	err := s.run(ctx, true, func(tx *bolt.Tx) error {
		ended = false // set on every run: this may run again (group commit)
		items := tx.Bucket(itemsBucket)
		r, sh, err := readShare(items, id)
		if err != nil {
			return err
		}
		if noop, err := refused(sh); noop || err != nil {
			return err
		}
		if err := recordChange(tx, rec, notes); err != nil {
			return err
		}
		end(&r)
		if err := putJSON(items, storekeys.ShareKey(id), r); err != nil {
			return err
		}
		if err := deleteDue(tx, core.DueShare, sh.ExpiresAt, storekeys.ShareKey(id)); err != nil {
			return err
		}
		ended = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("%s %s: %w", op, id, err)
	}
	return ended, nil
}

// OpenAccess stores a new access, binding its device to the share when it is
// new and the share has room, with the patient's notification and the audit
// record, in one transaction; see core.ShareStore.
func (s *Store) OpenAccess(ctx context.Context, a core.Access, now time.Time, rec core.AuditRecord, notes ...core.Notification) error {
	if err := checkWriteIDs(rec, notes, a.ID, a.ShareID); err != nil {
		return fmt.Errorf("open access %q: %w", a.ID, err)
	}
	ak := storekeys.AccessKey(a.ID)
	err := s.run(ctx, true, func(tx *bolt.Tx) error {
		items := tx.Bucket(itemsBucket)
		r, sh, err := readShare(items, a.ShareID)
		if err != nil {
			return err
		}
		if err := sh.RefuseDevice(a.ProfessionalID, a.DeviceFingerprint, now); err != nil {
			return err
		}
		if items.Get(boltKey(ak)) != nil {
			return core.ErrConflict("access %s exists", a.ID)
		}
		if err := recordChange(tx, rec, notes); err != nil {
			return err
		}
		if !slices.Contains(sh.Devices, a.DeviceFingerprint) {
			r.Devices.Bind(a.DeviceFingerprint, now)
			if err := putJSON(items, storekeys.ShareKey(sh.ID), r); err != nil {
				return err
			}
		}
		ar := storeitem.AccessOf(a)
		ar.Score = 0 // a new access has no suspicion yet
		return putJSON(items, ak, ar)
	})
	if err != nil {
		return fmt.Errorf("open access %s to share %s: %w", a.ID, a.ShareID, err)
	}
	return nil
}

// GetAccess returns the access or KindNotFound.
func (s *Store) GetAccess(ctx context.Context, id string) (core.Access, error) {
	return getOne[storeitem.Access](ctx, s, "access", id, storekeys.AccessKey(id))
}

// AddSuspicion moves the access's suspicion score prev → next, with the audit
// record and, when n is not nil, the notification, in one transaction; a
// score that is no longer prev is *core.ScoreMovedError and no write. A
// non-empty flag the access already carries is core.ErrAlreadyFlagged and no
// write; otherwise the flag is added to the access in the same transaction.
// See core.ShareStore.
func (s *Store) AddSuspicion(ctx context.Context, accessID string, prev, next int, flag string, rec core.AuditRecord, notes ...core.Notification) error {
	if err := checkWriteIDs(rec, notes, accessID); err != nil {
		return fmt.Errorf("add suspicion to access %q: %w", accessID, err)
	}
	ak := storekeys.AccessKey(accessID)
	err := s.run(ctx, true, func(tx *bolt.Tx) error {
		items := tx.Bucket(itemsBucket)
		var r storeitem.Access
		found, err := getJSON(items, ak, &r)
		if err != nil {
			return err
		}
		if !found {
			return core.ErrNotFound("access %s not found", accessID)
		}
		if flag != "" && slices.Contains(r.Flags, flag) {
			return core.ErrAlreadyFlagged
		}
		if r.Score != prev {
			return &core.ScoreMovedError{AccessID: accessID, Current: r.Score}
		}
		if err := recordChange(tx, rec, notes); err != nil {
			return err
		}
		r.Score = next
		if flag != "" {
			r.Flags = append(r.Flags, flag)
		}
		return putJSON(items, ak, r)
	})
	if err != nil {
		return fmt.Errorf("add suspicion %d→%d to access %s: %w", prev, next, accessID, err)
	}
	return nil
}

// IssueKey consumes one view of the key's share and stores the ISSUED key,
// with the patient's notification and the audit record, in one transaction;
// see core.ShareStore.
func (s *Store) IssueKey(ctx context.Context, k core.EphemeralKey, now time.Time, rec core.AuditRecord, notes ...core.Notification) error {
	if err := checkWriteIDs(rec, notes, k.ID, k.ShareID, k.PatientID, k.PhotoID); err != nil {
		return fmt.Errorf("issue key %q: %w", k.ID, err)
	}
	kk := storekeys.EphemeralKeyKey(k.ID)
	err := s.run(ctx, true, func(tx *bolt.Tx) error {
		items := tx.Bucket(itemsBucket)
		r, sh, err := readShare(items, k.ShareID)
		if err != nil {
			return err
		}
		if err := sh.RefuseView(k.ProfessionalID, now); err != nil {
			return err
		}
		if items.Get(boltKey(storekeys.PhotoKey(k.PatientID, k.PhotoID))) == nil {
			return core.ErrNotFound("photo %s of share %s was deleted", k.PhotoID, sh.ID)
		}
		if items.Get(boltKey(kk)) != nil {
			return core.ErrConflict("key %s exists", k.ID)
		}
		if err := recordChange(tx, rec, notes); err != nil {
			return err
		}
		r.ViewsUsed++
		if err := putJSON(items, storekeys.ShareKey(sh.ID), r); err != nil {
			return err
		}
		if err := putJSON(items, kk, storeitem.EphemeralKeyOf(k)); err != nil {
			return err
		}
		return putDue(tx, core.DueKey, k.ExpiresAt, kk)
	})
	if err != nil {
		return fmt.Errorf("issue key %s on share %s: %w", k.ID, k.ShareID, err)
	}
	return nil
}

// GetKey returns the key or KindNotFound.
func (s *Store) GetKey(ctx context.Context, id string) (core.EphemeralKey, error) {
	return getOne[storeitem.EphemeralKey](ctx, s, "key", id, storekeys.EphemeralKeyKey(id))
}

// ClaimKey moves the stored key k.ID ISSUED → USED, once, with the audit
// record, in one transaction, on condition that the key may be claimed
// (core.EphemeralKey.RefuseClaim) and then its share used
// (core.Share.RefuseUse) by professionalID at now; see core.ShareStore.
func (s *Store) ClaimKey(ctx context.Context, k core.EphemeralKey, professionalID string, now time.Time, rec core.AuditRecord, notes ...core.Notification) (core.EphemeralKey, error) {
	if err := checkWriteIDs(rec, notes, k.ID, k.ShareID); err != nil {
		return core.EphemeralKey{}, fmt.Errorf("claim key %q: %w", k.ID, err)
	}
	kk := storekeys.EphemeralKeyKey(k.ID)
	var out core.EphemeralKey
	err := s.run(ctx, true, func(tx *bolt.Tx) error {
		items := tx.Bucket(itemsBucket)
		stored, err := readItem[storeitem.EphemeralKey](items, kk, "key "+k.ID)
		if err != nil {
			return err
		}
		if err := stored.RefuseClaim(professionalID, k.ShareID, now); err != nil {
			return err
		}
		_, sh, err := readShare(items, stored.ShareID)
		if err != nil {
			return err
		}
		if err := sh.RefuseUse(professionalID, now); err != nil {
			return err
		}
		if err := recordChange(tx, rec, notes); err != nil {
			return err
		}
		stored.Status, stored.UsedAt = core.KeyUsed, now.UTC()
		out = stored
		return putJSON(items, kk, storeitem.EphemeralKeyOf(stored))
	})
	if err != nil {
		return core.EphemeralKey{}, fmt.Errorf("claim key %s: %w", k.ID, err)
	}
	return out, nil
}

// ListInbox returns one page of recipient's notifications, newest first.
func (s *Store) ListInbox(ctx context.Context, recipient string, page core.Page) ([]core.InboxItem, string, error) {
	list := storekeys.List{PK: storekeys.InboxPKPrefix + recipient, SKPrefix: storekeys.InboxSKPrefix, Desc: true}
	return listItems[storeitem.InboxItem](ctx, s, list, page, "list inbox of", recipient)
}

// markInbox applies mark to recipient's notification id and returns the item
// as stored afterwards; KindNotFound when it is not in that inbox.
func (s *Store) markInbox(ctx context.Context, recipient, id string, mark func(*core.InboxItem)) (core.InboxItem, error) {
	if err := storekeys.CheckIDs(recipient, id); err != nil {
		return core.InboxItem{}, err
	}
	k := storekeys.InboxKey(recipient, id)
	var out core.InboxItem
	err := s.run(ctx, true, func(tx *bolt.Tx) error {
		items := tx.Bucket(itemsBucket)
		var err error
		if out, err = readItem[storeitem.InboxItem](items, k, "notification "+id); err != nil {
			return err
		}
		mark(&out)
		if out.Published {
			if err := deleteDue(tx, core.DueNotification, out.CreatedAt, k); err != nil {
				return err
			}
		}
		return putJSON(items, k, storeitem.InboxItemOf(out))
	})
	return out, err
}

// MarkRead marks one of recipient's notifications read.
func (s *Store) MarkRead(ctx context.Context, recipient, id string) (core.InboxItem, error) {
	it, err := s.markInbox(ctx, recipient, id, func(it *core.InboxItem) { it.Read = true })
	if err != nil {
		return core.InboxItem{}, fmt.Errorf("mark notification %q of %q read: %w", id, recipient, err)
	}
	return it, nil
}

// MarkPublished records that the notifier accepted one of recipient's
// notifications, which is then no longer due; KindNotFound, and no write,
// when it is not theirs.
func (s *Store) MarkPublished(ctx context.Context, recipient, id string) error {
	if _, err := s.markInbox(ctx, recipient, id, func(it *core.InboxItem) { it.Published = true }); err != nil {
		return fmt.Errorf("mark notification %q of %q published: %w", id, recipient, err)
	}
	return nil
}
