package boltstore

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/storekeys"
)

// AppendAuditNotify appends rec to its chain and puts n into its recipient's
// inbox, unread and unpublished, in one transaction; see core.ShareStore.
func (s *Store) AppendAuditNotify(ctx context.Context, rec core.AuditRecord, n core.Notification) error {
	if err := checkWriteIDs(rec, &n); err != nil {
		return fmt.Errorf("append audit %d to %q with notification %q: %w", rec.Seq, rec.PatientID, n.ID, err)
	}
	err := s.run(ctx, true, func(tx *bolt.Tx) error {
		if tx.Bucket(itemsBucket).Get(boltKey(storekeys.InboxKey(n.RecipientID, n.ID))) != nil {
			return core.ErrConflict("notification %s exists", n.ID)
		}
		if err := appendRecord(tx, rec); err != nil {
			return err
		}
		return putNotification(tx, n)
	})
	if err != nil {
		return fmt.Errorf("append audit %d to %s with notification %s: %w", rec.Seq, rec.PatientID, n.ID, err)
	}
	return nil
}
