package dynamostore

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/runtime/awserr"
)

// Error translation. Every SDK error of this package goes through the
// functions of this file:
//
//   - A failed condition (ConditionalCheckFailedException, or a
//     TransactionCanceledException whose reasons hold ConditionalCheckFailed)
//     is an answer, not a failure: conditionFailure and cancellation hand the
//     method the item as it was (ReturnValuesOnConditionCheckFailure ALL_OLD),
//     and the method, which wrote the condition, says what the answer means
//     (KindNotFound, KindConflict, *core.HeadMismatchError) without another
//     read.
//   - A write rejected because a concurrent transaction held one of its items
//     (TransactionConflictException, or a cancellation whose reasons are
//     TransactionConflict) wrote nothing and is repeated by retryConflicts, as
//     the SDK repeats throttled requests.
//   - Everything else goes through translate, that is the one AWS error
//     classifier (awserr.DynamoDB): what a retry may cure is
//     KindUnavailable, what is a bug is KindInternal.

// translate maps an SDK error that is not an answer to a condition to a core
// kind with the one AWS classifier (awserr.DynamoDB): KindUnavailable when a
// retry may cure it (context ended, transport failure, throttling, a missing
// table, a server fault, a transaction cancelled by a conflict or
// throttling), KindInternal when it is a bug (a ValidationException, a
// malformed request, access denied). format and args name the operation
// and its ids.
func translate(err error, format string, args ...any) error {
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) && !errors.As(err, new(*core.Error)) {
		reasons := make([]string, len(tce.CancellationReasons))
		for i, r := range tce.CancellationReasons {
			reasons[i] = aws.ToString(r.Code)
		}
		return awserr.As(awserr.DynamoDB.CancellationKind(reasons), err, format, args...)
	}
	return awserr.DynamoDB.Translate(err, format, args...)
}

// conditionFailure reports whether err is a failed condition of a single-item
// write, and returns the item as it was (empty when there was none).
func conditionFailure(err error) (item, bool) {
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return nil, false
	}
	return ccf.Item, true
}

// cancellation reports whether err is a transaction cancelled because a
// condition failed, and returns the reasons, one per item of the
// transaction, in order. A cancellation with no failed condition (a conflict,
// throttling) is not an answer and reports false; so does one whose reasons
// do not match the n items, which translate then reports.
func cancellation(err error, n int) ([]types.CancellationReason, bool) {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) || len(tce.CancellationReasons) != n {
		return nil, false
	}
	for _, r := range tce.CancellationReasons {
		if conditionFailed(r) {
			return tce.CancellationReasons, true
		}
	}
	return nil, false
}

// conditionFailed reports whether one item's condition failed.
func conditionFailed(r types.CancellationReason) bool {
	return aws.ToString(r.Code) == "ConditionalCheckFailed"
}

// isTransactionConflict reports whether err rejected a write, without writing
// anything, because a concurrent transaction held one of its items.
func isTransactionConflict(err error) bool {
	var conflict *types.TransactionConflictException
	if errors.As(err, &conflict) {
		return true
	}
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return false
	}
	seen := false
	for _, r := range tce.CancellationReasons {
		switch code := aws.ToString(r.Code); code {
		case "TransactionConflict":
			seen = true
		case "", "None":
		default:
			return false // a failed condition, or another reason: not ours to repeat
		}
	}
	return seen
}

// Repeating writes rejected by a transaction conflict: DynamoDB Local runs
// transactions one at a time and never reports one, but DynamoDB does
// whenever two writes meet on an item that one of them holds in a
// transaction (concurrent chat images of one appointment, concurrent appends
// to one chain).
const (
	conflictAttempts = 8
	conflictBackoff  = 10 * time.Millisecond
	conflictMaxDelay = 400 * time.Millisecond
)

// retryConflicts runs call, which makes one DynamoDB write, and repeats it
// with jittered exponential backoff while it fails with a transaction
// conflict, at most conflictAttempts times in all or until ctx ends. It
// returns the last error as is, for the caller to read or translate.
func (s *Store) retryConflicts(ctx context.Context, call func() error) error {
	delay := s.conflictBackoff
	for attempt := 1; ; attempt++ {
		err := call()
		if err == nil || attempt == conflictAttempts || !isTransactionConflict(err) {
			return err
		}
		timer := time.NewTimer(rand.N(delay) + 1)
		select {
		case <-ctx.Done():
			timer.Stop()
			return err
		case <-timer.C:
		}
		delay = min(2*delay, conflictMaxDelay)
	}
}
