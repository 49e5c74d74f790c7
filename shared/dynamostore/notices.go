package dynamostore

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/medshare/medshare/shared/core"
)

// AppendAuditNotify appends rec to its chain and puts n into its recipient's
// inbox with one TransactWriteItems: the inbox item conditional on its
// absence, then the two writes of auditWrites. A moved head is
// *core.HeadMismatchError (from the head's ALL_OLD item); an existing
// notification id is KindConflict. See core.ShareStore.
func (s *Store) AppendAuditNotify(ctx context.Context, rec core.AuditRecord, n core.Notification) error {
	return s.stateChange(ctx, nil, []core.Notification{n}, rec,
		func([]types.CancellationReason) error { return nil },
		"append audit %d to %s with notification %s", rec.Seq, rec.PatientID, n.ID)
}
