package dynamostore

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/store/storeitem"
	"github.com/medshare/medshare/shared/store/storekeys"
)

// Unit tests of how the store reads DynamoDB's answers, against a
// hand-written fake of API: each test scripts the answers of the calls it
// expects and checks the calls made. The fake keeps no items; it is not a
// store and passes no contract, so it is used only here.

// fakeAPI answers each method with its function; a method without one fails
// the call. It records the operations called, in order.
type fakeAPI struct {
	mu    sync.Mutex
	calls []string

	getItem    func(*dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error)
	putItem    func(*dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error)
	updateItem func(*dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error)
	deleteItem func(*dynamodb.DeleteItemInput) (*dynamodb.DeleteItemOutput, error)
	query      func(*dynamodb.QueryInput) (*dynamodb.QueryOutput, error)
	transact   func(*dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error)

	createTable   func(*dynamodb.CreateTableInput) (*dynamodb.CreateTableOutput, error)
	describeTable func(*dynamodb.DescribeTableInput) (*dynamodb.DescribeTableOutput, error)
	describeTTL   func(*dynamodb.DescribeTimeToLiveInput) (*dynamodb.DescribeTimeToLiveOutput, error)
	updateTTL     func(*dynamodb.UpdateTimeToLiveInput) (*dynamodb.UpdateTimeToLiveOutput, error)
}

var (
	_ API      = (*fakeAPI)(nil)
	_ TableAPI = (*fakeAPI)(nil)
)

var errUnexpected = errors.New("fake: unexpected call")

func answer[In, Out any](f *fakeAPI, op string, fn func(In) (Out, error), in In) (Out, error) {
	f.mu.Lock()
	f.calls = append(f.calls, op)
	f.mu.Unlock()
	if fn == nil {
		var zero Out
		return zero, errUnexpected
	}
	return fn(in)
}

func (f *fakeAPI) ops() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeAPI) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return answer(f, "GetItem", f.getItem, in)
}

func (f *fakeAPI) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return answer(f, "PutItem", f.putItem, in)
}

func (f *fakeAPI) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return answer(f, "UpdateItem", f.updateItem, in)
}

func (f *fakeAPI) DeleteItem(_ context.Context, in *dynamodb.DeleteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return answer(f, "DeleteItem", f.deleteItem, in)
}

func (f *fakeAPI) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return answer(f, "Query", f.query, in)
}

func (f *fakeAPI) TransactWriteItems(_ context.Context, in *dynamodb.TransactWriteItemsInput, _ ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return answer(f, "TransactWriteItems", f.transact, in)
}

func (f *fakeAPI) CreateTable(_ context.Context, in *dynamodb.CreateTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error) {
	return answer(f, "CreateTable", f.createTable, in)
}

func (f *fakeAPI) DescribeTable(_ context.Context, in *dynamodb.DescribeTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	return answer(f, "DescribeTable", f.describeTable, in)
}

func (f *fakeAPI) DescribeTimeToLive(_ context.Context, in *dynamodb.DescribeTimeToLiveInput, _ ...func(*dynamodb.Options)) (*dynamodb.DescribeTimeToLiveOutput, error) {
	return answer(f, "DescribeTimeToLive", f.describeTTL, in)
}

func (f *fakeAPI) UpdateTimeToLive(_ context.Context, in *dynamodb.UpdateTimeToLiveInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error) {
	return answer(f, "UpdateTimeToLive", f.updateTTL, in)
}

func fakeStore(f *fakeAPI) *Store {
	s := New(f, "medshare")
	s.conflictBackoff = time.Microsecond
	return s
}

// recordingTransact is a fake whose TransactWriteItems succeeds and leaves
// its input in *got, for a test that pins the writes of a transaction.
func recordingTransact(got **dynamodb.TransactWriteItemsInput) *fakeAPI {
	return &fakeAPI{transact: func(in *dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
		*got = in
		return &dynamodb.TransactWriteItemsOutput{}, nil
	}}
}

// wantInvalidNoCall fails t unless each error of bad, keyed by the call
// that returned it, is KindInvalid and f, the fake those calls went to,
// received no request.
func wantInvalidNoCall(t *testing.T, f *fakeAPI, bad map[string]error) {
	t.Helper()
	for name, err := range bad {
		if core.KindOf(err) != core.KindInvalid {
			t.Errorf("%s: got %v, want kind invalid", name, err)
		}
	}
	if calls := f.ops(); len(calls) != 0 {
		t.Errorf("calls made: %v, want none", calls)
	}
}

// opErr wraps err as the SDK returns it.
func opErr(op string, err error) error {
	return &smithy.OperationError{ServiceID: "DynamoDB", OperationName: op, Err: err}
}

func cancelled(reasons ...types.CancellationReason) error {
	return opErr("TransactWriteItems", &types.TransactionCanceledException{
		Message: aws.String("Transaction cancelled"), CancellationReasons: reasons,
	})
}

func reason(code string, it item) types.CancellationReason {
	return types.CancellationReason{Code: aws.String(code), Item: it}
}

var none = reason("None", nil)

func kindOf(err error) string {
	if err == nil {
		return "nil"
	}
	return kindName[core.KindOf(err)]
}

var kindName = map[core.Kind]string{
	core.KindInternal: "internal", core.KindInvalid: "invalid", core.KindNotFound: "not found",
	core.KindConflict: "conflict", core.KindUnavailable: "unavailable",
}

func TestTranslate(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"throttling", &types.ThrottlingException{Message: aws.String("slow down")}, "unavailable"},
		{"provisioned throughput", &types.ProvisionedThroughputExceededException{}, "unavailable"},
		{"request limit", &types.RequestLimitExceeded{}, "unavailable"},
		{"table missing", &types.ResourceNotFoundException{Message: aws.String("Requested resource not found")}, "unavailable"},
		{"internal server error", &types.InternalServerError{}, "unavailable"},
		{"transaction conflict", &types.TransactionConflictException{}, "unavailable"},
		{"unmodeled server fault", &smithy.GenericAPIError{Code: "ServiceUnavailable", Fault: smithy.FaultServer}, "unavailable"},
		{"expired token", &smithy.GenericAPIError{Code: "ExpiredTokenException", Fault: smithy.FaultClient}, "unavailable"},
		{"validation", &smithy.GenericAPIError{Code: "ValidationException", Message: "bad expression", Fault: smithy.FaultClient}, "internal"},
		{"access denied", &smithy.GenericAPIError{Code: "AccessDeniedException", Fault: smithy.FaultClient}, "internal"},
		{"network", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, "unavailable"},
		{"deadline", context.DeadlineExceeded, "unavailable"},
		{"canceled", context.Canceled, "unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeAPI{getItem: func(*dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error) {
				return nil, opErr("GetItem", tc.err)
			}}
			_, err := fakeStore(f).GetPhoto(t.Context(), "pat-1", "ph_1")
			if got := kindOf(err); got != tc.want {
				t.Errorf("GetPhoto: got %v (kind %s), want kind %s", err, got, tc.want)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("GetPhoto: got %v, want it to wrap the SDK error", err)
			}
		})
	}
}

func TestTranslateCancellation(t *testing.T) {
	rec := core.Link(core.AuditRecord{PatientID: "pat-1", ActorID: "dr-a", At: time.Unix(1, 0)}, core.ChainHead{})
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"throttled item", cancelled(reason("ThrottlingError", nil), none), "unavailable"},
		{"provisioned throughput", cancelled(none, reason("ProvisionedThroughputExceeded", nil)), "unavailable"},
		{"validation", cancelled(reason("ValidationError", nil), none), "internal"},
		{"reasons do not match the items", cancelled(reason("ConditionalCheckFailed", nil)), "internal"},
		{"a record exists beyond the head", cancelled(reason("ConditionalCheckFailed", nil), none), "internal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeAPI{transact: func(*dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
				return nil, tc.err
			}}
			err := fakeStore(f).AppendAudit(t.Context(), rec)
			var moved *core.HeadMismatchError
			if errors.As(err, &moved) {
				t.Fatalf("AppendAudit: got %v, want no head mismatch", err)
			}
			if got := kindOf(err); got != tc.want {
				t.Errorf("AppendAudit: got %v (kind %s), want kind %s", err, got, tc.want)
			}
		})
	}
}

func headAV(t *testing.T, patient string, seq uint64, hash []byte) item {
	t.Helper()
	k := storekeys.AuditHeadKey(patient)
	it, err := marshal(headItem{keysOf(k), storeitem.ChainHead{Seq: seq, Hash: hash}})
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// TestAppendAuditHeadMismatch checks that a cancelled append returns the
// current head from the cancellation reasons, in one call and no read.
func TestAppendAuditHeadMismatch(t *testing.T) {
	hash := bytes.Repeat([]byte{7}, 32)
	rec := core.Link(core.AuditRecord{PatientID: "pat-1", ActorID: "dr-a", At: time.Unix(1, 0)}, core.ChainHead{Seq: 3, Hash: []byte("h3")})
	for _, tc := range []struct {
		name    string
		reasons []types.CancellationReason
		want    core.ChainHead
	}{
		{"head moved", []types.CancellationReason{none, reason("ConditionalCheckFailed", headAV(t, "pat-1", 9, hash))}, core.ChainHead{Seq: 9, Hash: hash}},
		{"head moved and record taken", []types.CancellationReason{
			reason("ConditionalCheckFailed", nil), reason("ConditionalCheckFailed", headAV(t, "pat-1", 4, hash)),
		}, core.ChainHead{Seq: 4, Hash: hash}},
		{"chain empty", []types.CancellationReason{none, reason("ConditionalCheckFailed", nil)}, core.ChainHead{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeAPI{transact: func(*dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
				return nil, cancelled(tc.reasons...)
			}}
			err := fakeStore(f).AppendAudit(t.Context(), rec)
			var moved *core.HeadMismatchError
			if !errors.As(err, &moved) {
				t.Fatalf("AppendAudit: got %v, want *core.HeadMismatchError", err)
			}
			if diff := cmp.Diff(&core.HeadMismatchError{PatientID: "pat-1", Current: tc.want}, moved); diff != "" {
				t.Errorf("HeadMismatchError mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"TransactWriteItems"}, f.ops()); diff != "" {
				t.Errorf("calls mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAppendAuditConditions pins the conditions of the two puts.
func TestAppendAuditConditions(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rec      core.AuditRecord
		wantCond string
		wantVals map[string]string // expression value -> N or hex of B
	}{
		{"first record", core.AuditRecord{PatientID: "pat-1", Seq: 1}, "attribute_not_exists(#pk)", nil},
		{"next record", core.AuditRecord{PatientID: "pat-1", Seq: 5, PrevHash: []byte{0xab}},
			"#seq = :prev AND #hash = :prevhash", map[string]string{":prev": "4", ":prevhash": "ab"}},
		{"first record with a previous hash", core.AuditRecord{PatientID: "pat-1", Seq: 1, PrevHash: []byte{0xab}},
			"#seq = :prev AND #hash = :prevhash", map[string]string{":prev": "0", ":prevhash": "ab"}},
		{"sequence zero", core.AuditRecord{PatientID: "pat-1", Seq: 0},
			"#seq = :prev AND #hash = :prevhash", map[string]string{":prev": "18446744073709551615", ":prevhash": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got *dynamodb.TransactWriteItemsInput
			f := recordingTransact(&got)
			if err := fakeStore(f).AppendAudit(t.Context(), tc.rec); err != nil {
				t.Fatalf("AppendAudit: %v", err)
			}
			if n := len(got.TransactItems); n != 2 {
				t.Fatalf("got %d transaction items, want 2", n)
			}
			if c := aws.ToString(got.TransactItems[0].Put.ConditionExpression); c != "attribute_not_exists(#pk)" {
				t.Errorf("record condition: got %q", c)
			}
			head := got.TransactItems[1].Put
			if c := aws.ToString(head.ConditionExpression); c != tc.wantCond {
				t.Errorf("head condition: got %q, want %q", c, tc.wantCond)
			}
			if head.ReturnValuesOnConditionCheckFailure != types.ReturnValuesOnConditionCheckFailureAllOld {
				t.Errorf("head ReturnValuesOnConditionCheckFailure: got %q, want ALL_OLD", head.ReturnValuesOnConditionCheckFailure)
			}
			vals := map[string]string{}
			for k, v := range head.ExpressionAttributeValues {
				switch v := v.(type) {
				case *types.AttributeValueMemberN:
					vals[k] = v.Value
				case *types.AttributeValueMemberB:
					vals[k] = hexOf(v.Value)
				}
			}
			if tc.wantVals == nil {
				tc.wantVals = map[string]string{}
			}
			if diff := cmp.Diff(tc.wantVals, vals); diff != "" {
				t.Errorf("head condition values mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestCreateChatImageCancellation(t *testing.T) {
	a := core.Appointment{ID: "appt-1", ClinicID: "clinic-1", PatientID: "pat-1", ProfessionalIDs: []string{"dr-a"}}
	old, err := marshal(appointmentItemOf(a))
	if err != nil {
		t.Fatal(err)
	}
	img := core.ChatImage{ID: "ci_1", AppointmentID: a.ID, ClinicID: a.ClinicID, PatientID: a.PatientID, Participants: a.Participants()}
	ccf := func(it item) types.CancellationReason { return reason("ConditionalCheckFailed", it) }
	for _, tc := range []struct {
		name    string
		reasons []types.CancellationReason
		want    string
	}{
		{"image exists", []types.CancellationReason{ccf(nil), none}, "conflict"},
		{"appointment gone", []types.CancellationReason{none, ccf(nil)}, "not found"},
		{"participants changed", []types.CancellationReason{none, ccf(old)}, "conflict"},
		{"image exists and appointment gone", []types.CancellationReason{ccf(nil), ccf(nil)}, "conflict"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeAPI{transact: func(*dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
				return nil, cancelled(tc.reasons...)
			}}
			err := fakeStore(f).CreateChatImage(t.Context(), img)
			if got := kindOf(err); got != tc.want {
				t.Errorf("CreateChatImage: got %v (kind %s), want kind %s", err, got, tc.want)
			}
			if diff := cmp.Diff([]string{"TransactWriteItems"}, f.ops()); diff != "" {
				t.Errorf("calls mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTransactionConflictsAreRepeated checks that a write rejected by a
// concurrent transaction is made again, each time with a fresh input (the
// SDK writes its idempotency token into the input it is given), and that a
// write that keeps conflicting ends as KindUnavailable.
func TestTransactionConflictsAreRepeated(t *testing.T) {
	rec := core.Link(core.AuditRecord{PatientID: "pat-1", ActorID: "dr-a", At: time.Unix(1, 0)}, core.ChainHead{})
	conflict := cancelled(none, reason("TransactionConflict", nil))
	for _, tc := range []struct {
		name      string
		conflicts int
		wantCalls int
		want      string
	}{
		{"two conflicts", 2, 3, "nil"},
		{"always", 1 << 30, conflictAttempts, "unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			f := &fakeAPI{transact: func(in *dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
				if in.ClientRequestToken != nil {
					t.Errorf("attempt %d reuses the token of an earlier attempt", n+1)
				}
				in.ClientRequestToken = aws.String("token") // as the SDK does
				if n++; n <= tc.conflicts {
					return nil, conflict
				}
				return &dynamodb.TransactWriteItemsOutput{}, nil
			}}
			err := fakeStore(f).AppendAudit(t.Context(), rec)
			if got := kindOf(err); got != tc.want {
				t.Errorf("AppendAudit: got %v (kind %s), want %s", err, got, tc.want)
			}
			if n != tc.wantCalls {
				t.Errorf("TransactWriteItems calls: got %d, want %d", n, tc.wantCalls)
			}
		})
	}

	t.Run("single-item write", func(t *testing.T) {
		n := 0
		f := &fakeAPI{updateItem: func(*dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
			if n++; n == 1 {
				return nil, opErr("UpdateItem", &types.TransactionConflictException{})
			}
			return &dynamodb.UpdateItemOutput{}, nil
		}}
		created, err := fakeStore(f).PutAppointment(t.Context(), core.Appointment{ID: "appt-1", ClinicID: "clinic-1", PatientID: "pat-1"})
		if err != nil || !created || n != 2 {
			t.Errorf("PutAppointment: got created=%v, %v after %d calls; want created after 2", created, err, n)
		}
	})

	t.Run("context ends while waiting", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		f := &fakeAPI{transact: func(*dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
			cancel()
			return nil, conflict
		}}
		s := fakeStore(f)
		s.conflictBackoff = time.Hour
		start := time.Now()
		err := s.AppendAudit(ctx, rec)
		if core.KindOf(err) != core.KindUnavailable || time.Since(start) > time.Minute {
			t.Errorf("AppendAudit: got %v after %v, want kind unavailable at once", err, time.Since(start))
		}
		if n := len(f.ops()); n != 1 {
			t.Errorf("TransactWriteItems calls: got %d, want 1", n)
		}
	})

	t.Run("a failed condition is an answer, not a conflict", func(t *testing.T) {
		f := &fakeAPI{transact: func(*dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
			return nil, cancelled(reason("TransactionConflict", nil), reason("ConditionalCheckFailed", nil))
		}}
		err := fakeStore(f).AppendAudit(t.Context(), rec)
		var moved *core.HeadMismatchError
		if !errors.As(err, &moved) {
			t.Errorf("AppendAudit: got %v, want *core.HeadMismatchError", err)
		}
		if n := len(f.ops()); n != 1 {
			t.Errorf("TransactWriteItems calls: got %d, want 1", n)
		}
	})
}

// TestMarkReadyAnswers checks that a failed ready condition is read from the
// item it returns, with no other call.
func TestMarkReadyAnswers(t *testing.T) {
	window := time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)
	sum := bytes.Repeat([]byte{1}, 32)
	pending := core.Photo{ID: "ph_1", OwnerID: "pat-1", Size: 10, SHA256: sum, Status: core.StatusPending, UploadExpiresAt: window}
	ready := pending
	ready.Status = core.StatusReady
	matching := core.BlobInfo{Size: 10, SHA256: sum}
	other := core.BlobInfo{Size: 11, SHA256: sum}
	for _, tc := range []struct {
		name     string
		old      *core.Photo
		observed core.BlobInfo
		now      time.Time
		want     string
	}{
		{"no item", nil, matching, window.Add(-time.Minute), "not found"},
		{"ready and matching", &ready, matching, window.Add(time.Hour), "nil"},
		{"ready, another object", &ready, other, window.Add(-time.Minute), "conflict"},
		{"pending past the window", &pending, matching, window, "not found"},
		{"pending past the window, another object", &pending, other, window.Add(time.Hour), "not found"},
		{"pending, another object", &pending, other, window.Add(-time.Minute), "conflict"},
		{"pending, matching, in the window", &pending, matching, window.Add(-time.Minute), "internal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var old item
			if tc.old != nil {
				var err error
				if old, err = marshal(photoItemOf(*tc.old)); err != nil {
					t.Fatal(err)
				}
			}
			f := &fakeAPI{updateItem: func(in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
				if in.ReturnValuesOnConditionCheckFailure != types.ReturnValuesOnConditionCheckFailureAllOld {
					t.Errorf("ReturnValuesOnConditionCheckFailure: got %q, want ALL_OLD", in.ReturnValuesOnConditionCheckFailure)
				}
				return nil, opErr("UpdateItem", &types.ConditionalCheckFailedException{Item: old})
			}}
			got, err := fakeStore(f).MarkPhotoReady(t.Context(), "pat-1", "ph_1", tc.observed, tc.now)
			if k := kindOf(err); k != tc.want {
				t.Errorf("MarkPhotoReady: got %v (kind %s), want %s", err, k, tc.want)
			}
			if err == nil {
				if diff := cmp.Diff(ready, got); diff != "" {
					t.Errorf("MarkPhotoReady returned (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff([]string{"UpdateItem"}, f.ops()); diff != "" {
				t.Errorf("calls mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPutAppointmentConflicts(t *testing.T) {
	a := core.Appointment{ID: "appt-1", ClinicID: "clinic-1", PatientID: "pat-1", ProfessionalIDs: []string{"dr-a"}}
	for _, tc := range []struct {
		name    string
		stored  core.Appointment
		wantMsg string
	}{
		{"participants fixed", core.Appointment{ID: "appt-1", ClinicID: "clinic-1", PatientID: "pat-1", ImageCount: 2}, "has chat images"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, err := marshal(appointmentItemOf(tc.stored))
			if err != nil {
				t.Fatal(err)
			}
			f := &fakeAPI{updateItem: func(in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
				// The clinic is in the key: another clinic's appointment with
				// this id is another item, never a conflict.
				if got := in.Key[AttrSK].(*types.AttributeValueMemberS).Value; got != "CLINIC#clinic-1" {
					t.Errorf("UpdateItem of sort key %q, want CLINIC#clinic-1", got)
				}
				return nil, opErr("UpdateItem", &types.ConditionalCheckFailedException{Item: old})
			}}
			_, err = fakeStore(f).PutAppointment(t.Context(), a)
			var ce *core.Error
			if !errors.As(err, &ce) || ce.Kind != core.KindConflict || !bytes.Contains([]byte(ce.Message), []byte(tc.wantMsg)) {
				t.Errorf("PutAppointment: got %v, want a conflict saying %q", err, tc.wantMsg)
			}
		})
	}
}

// TestQueryPageFillsCutPages checks that a page cut short by DynamoDB's 1 MB
// limit is completed from where it stopped, and that pages hold exactly
// limit items.
func TestQueryPageFillsCutPages(t *testing.T) {
	photo := func(id string) item {
		it, err := marshal(photoItemOf(core.Photo{ID: id, OwnerID: "pat-1"}))
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	var limits []int32
	var starts []string
	f := &fakeAPI{query: func(in *dynamodb.QueryInput) (*dynamodb.QueryOutput, error) {
		if !aws.ToBool(in.ConsistentRead) {
			t.Error("Query of the table is not strongly consistent")
		}
		limits = append(limits, aws.ToInt32(in.Limit))
		start := ""
		if in.ExclusiveStartKey != nil {
			start = in.ExclusiveStartKey[AttrSK].(*types.AttributeValueMemberS).Value
		}
		starts = append(starts, start)
		switch len(limits) {
		case 1: // cut at 1 MB after two items
			return &dynamodb.QueryOutput{Items: []item{photo("a"), photo("b")}, LastEvaluatedKey: keyItem(storekeys.PhotoKey("pat-1", "b"))}, nil
		default:
			return &dynamodb.QueryOutput{Items: []item{photo("c"), photo("d")}, LastEvaluatedKey: keyItem(storekeys.PhotoKey("pat-1", "d"))}, nil
		}
	}}
	photos, next, err := fakeStore(f).ListPhotos(t.Context(), "pat-1", core.Page{Limit: 3})
	if err != nil {
		t.Fatalf("ListPhotos: %v", err)
	}
	var ids []string
	for _, p := range photos {
		ids = append(ids, p.ID)
	}
	if diff := cmp.Diff([]string{"a", "b", "c"}, ids); diff != "" {
		t.Errorf("page mismatch (-want +got):\n%s", diff)
	}
	photos1 := storekeys.List{PK: storekeys.PhotoPKPrefix + "pat-1", SKPrefix: storekeys.PhotoSKPrefix}
	if want := storekeys.EncodeCursor(photos1, storekeys.PhotoSKPrefix+"c"); next != want {
		t.Errorf("next cursor: got %q, want %q", next, want)
	}
	if diff := cmp.Diff([]int32{4, 2}, limits); diff != "" {
		t.Errorf("Query limits mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"", storekeys.PhotoSKPrefix + "b"}, starts); diff != "" {
		t.Errorf("Query start keys mismatch (-want +got):\n%s", diff)
	}
}

// TestActorCursorQueriesBelowItsPosition checks how a by-actor page goes
// on from a cursor, which names no record (and so no patient): a Query of
// the sort keys below the position's bound that skips the records at the
// position's time listed already, and asks for enough to skip them.
func TestActorCursorQueriesBelowItsPosition(t *testing.T) {
	at := time.Date(2026, 3, 14, 15, 9, 26, 7, time.UTC)
	rec := func(at time.Time, patient string, seq uint64) item {
		it, err := marshal(auditItemOf(core.AuditRecord{PatientID: patient, Seq: seq, At: at, ActorID: "dr-a", Outcome: core.OutcomeSuccess}))
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	var in *dynamodb.QueryInput
	f := &fakeAPI{query: func(q *dynamodb.QueryInput) (*dynamodb.QueryOutput, error) {
		in = q
		// Two records at the position's time, listed on the page before;
		// then two more at that time and one before it.
		return &dynamodb.QueryOutput{Items: []item{
			rec(at, "pat-9", 42), rec(at, "pat-8", 7), rec(at, "pat-7", 3), rec(at, "pat-6", 1), rec(at.Add(-time.Second), "pat-5", 2),
		}}, nil
	}}
	list := storekeys.List{PK: "ACTOR#dr-a", Desc: true}
	cursor := storekeys.EncodeCursor(list, storekeys.ActorPos{At: at, N: 2}.String())
	recs, next, err := fakeStore(f).ListAuditByActor(t.Context(), "dr-a", core.Page{Cursor: cursor, Limit: 2})
	if err != nil {
		t.Fatalf("ListAuditByActor: %v", err)
	}
	if aws.ToString(in.IndexName) != IndexByActor || aws.ToBool(in.ScanIndexForward) || in.ExclusiveStartKey != nil {
		t.Errorf("Query: index %q, forward %v, start key %v; want %q newest first from no key",
			aws.ToString(in.IndexName), aws.ToBool(in.ScanIndexForward), in.ExclusiveStartKey, IndexByActor)
	}
	if got, want := aws.ToString(in.KeyConditionExpression), "#pk = :pk AND #sk < :bound"; got != want {
		t.Errorf("KeyConditionExpression %q, want %q", got, want)
	}
	if got := in.ExpressionAttributeValues[":bound"].(*types.AttributeValueMemberS).Value; got != (storekeys.ActorPos{At: at, N: 2}).Bound() {
		t.Errorf(":bound %q", got)
	}
	if got := aws.ToInt32(in.Limit); got != 2+2+1 {
		t.Errorf("Limit %d, want 5: two to skip, a page of two and one more", got)
	}
	var patients []string
	for _, r := range recs {
		patients = append(patients, r.PatientID)
	}
	if diff := cmp.Diff([]string{"pat-7", "pat-6"}, patients); diff != "" {
		t.Errorf("page mismatch (-want +got):\n%s", diff)
	}
	if want := storekeys.EncodeCursor(list, storekeys.ActorPos{At: at, N: 4}.String()); next != want {
		t.Errorf("next cursor %q, want %q (four listed at that time)", next, want)
	}
}

func TestInvalidInputMakesNoCall(t *testing.T) {
	f := &fakeAPI{}
	s := fakeStore(f)
	ctx := t.Context()
	chain := storekeys.List{PK: "AUDIT#pat-1", SKPrefix: storekeys.AuditSeqSKPrefix}
	actor := storekeys.List{PK: "ACTOR#dr-a", Desc: true}
	photos := storekeys.List{PK: "USER#pat-1", SKPrefix: storekeys.PhotoSKPrefix}
	bad := map[string]error{
		"CreatePhoto NUL":        s.CreatePhoto(ctx, core.Photo{ID: "ph\x00", OwnerID: "pat-1"}),
		"CreatePhoto not UTF-8":  s.CreatePhoto(ctx, core.Photo{ID: "ph\xff", OwnerID: "pat-1"}),
		"CreatePhoto too long":   s.CreatePhoto(ctx, core.Photo{ID: string(bytes.Repeat([]byte("x"), storekeys.MaxIDBytes+1)), OwnerID: "pat-1"}),
		"CreatePhoto empty":      s.CreatePhoto(ctx, core.Photo{OwnerID: "pat-1"}),
		"AppendAudit actor":      s.AppendAudit(ctx, core.AuditRecord{PatientID: "pat-1", ActorID: "dr\x00", Seq: 1}),
		"CreateChatImage":        s.CreateChatImage(ctx, core.ChatImage{ID: "ci_1", AppointmentID: ""}),
		"PutAppointment clinic":  errOf(s.PutAppointment(ctx, core.Appointment{ID: "appt-1"})),
		"ListAudit seq cursor":   listErr(s.ListAudit(ctx, "pat-1", false, core.Page{Cursor: storekeys.EncodeCursor(chain, "SEQ#12"), Limit: 1})),
		"ListAuditByActor bad":   listErr(s.ListAuditByActor(ctx, "dr-a", core.Page{Cursor: storekeys.EncodeCursor(actor, "PHOTO#x"), Limit: 1})),
		"ListAuditByActor key":   listErr(s.ListAuditByActor(ctx, "dr-a", core.Page{Cursor: storekeys.EncodeCursor(actor, storekeys.ActorIndexKey("dr-a", time.Now(), "pat-1", 1).SK), Limit: 1})),
		"ListPhotos bare prefix": listErr(s.ListPhotos(ctx, "pat-1", core.Page{Cursor: storekeys.EncodeCursor(photos, storekeys.PhotoSKPrefix), Limit: 1})),
		"ListPhotos of another":  listErr(s.ListPhotos(ctx, "pat-2", core.Page{Cursor: storekeys.EncodeCursor(photos, storekeys.PhotoSKPrefix+"ph_1"), Limit: 1})),
	}
	wantInvalidNoCall(t, f, bad)
}

func errOf(_ bool, err error) error { return err }

func listErr[T any](_ []T, _ string, err error) error { return err }

// describeFrom is the description of a table created from in, ACTIVE.
func describeFrom(in *dynamodb.CreateTableInput) *types.TableDescription {
	d := &types.TableDescription{TableName: in.TableName, TableStatus: types.TableStatusActive, KeySchema: in.KeySchema}
	for _, g := range in.GlobalSecondaryIndexes {
		d.GlobalSecondaryIndexes = append(d.GlobalSecondaryIndexes, types.GlobalSecondaryIndexDescription{
			IndexName: g.IndexName, KeySchema: g.KeySchema, Projection: g.Projection, IndexStatus: types.IndexStatusActive,
		})
	}
	return d
}

func TestEnsureTable(t *testing.T) {
	good := describeFrom(TableInput("medshare"))
	onlyByActor := describeFrom(TableInput("medshare"))
	onlyByActor.GlobalSecondaryIndexes = onlyByActor.GlobalSecondaryIndexes[:1]
	// A table made before the shares: without the by-grantee index.
	noGrantee := describeFrom(TableInput("medshare"))
	noGrantee.GlobalSecondaryIndexes = slices.DeleteFunc(noGrantee.GlobalSecondaryIndexes, func(g types.GlobalSecondaryIndexDescription) bool {
		return aws.ToString(g.IndexName) == IndexSharesByGrantee
	})
	otherKeys := describeFrom(TableInput("medshare"))
	otherKeys.KeySchema = otherKeys.KeySchema[:1]
	creating := describeFrom(TableInput("medshare"))
	creating.TableStatus = types.TableStatusCreating
	ttl := func(status types.TimeToLiveStatus, attr string) *types.TimeToLiveDescription {
		return &types.TimeToLiveDescription{TimeToLiveStatus: status, AttributeName: aws.String(attr)}
	}
	for _, tc := range []struct {
		name      string
		described []*types.TableDescription // answers of DescribeTable in turn; nil: no table
		inUse     bool                      // CreateTable finds the table created meanwhile
		ttl       *types.TimeToLiveDescription
		want      string
		wantCalls []string
	}{
		{"new table", []*types.TableDescription{nil, creating, good}, false, ttl(types.TimeToLiveStatusDisabled, ""), "nil",
			[]string{"DescribeTable", "CreateTable", "DescribeTable", "DescribeTable", "DescribeTimeToLive", "UpdateTimeToLive"}},
		{"created meanwhile by another run", []*types.TableDescription{nil, good}, true, ttl(types.TimeToLiveStatusEnabled, AttrTTL), "nil",
			[]string{"DescribeTable", "CreateTable", "DescribeTable", "DescribeTimeToLive"}},
		{"existing table, ttl on", []*types.TableDescription{good}, false, ttl(types.TimeToLiveStatusEnabled, AttrTTL), "nil",
			[]string{"DescribeTable", "DescribeTimeToLive"}},
		{"existing table, ttl being enabled", []*types.TableDescription{good}, false, ttl(types.TimeToLiveStatusEnabling, AttrTTL), "nil",
			[]string{"DescribeTable", "DescribeTimeToLive"}},
		{"ttl on another attribute", []*types.TableDescription{good}, false, ttl(types.TimeToLiveStatusEnabled, "expires"), "internal",
			[]string{"DescribeTable", "DescribeTimeToLive"}},
		{"index missing", []*types.TableDescription{onlyByActor}, false, nil, "internal", []string{"DescribeTable"}},
		{"by-grantee index missing", []*types.TableDescription{noGrantee}, false, nil, "internal", []string{"DescribeTable"}},
		{"other key schema", []*types.TableDescription{otherKeys}, false, nil, "internal", []string{"DescribeTable"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var described int
			var enabled *types.TimeToLiveSpecification
			f := &fakeAPI{
				createTable: func(in *dynamodb.CreateTableInput) (*dynamodb.CreateTableOutput, error) {
					if got := aws.ToString(in.TableName); got != "medshare" || len(in.GlobalSecondaryIndexes) != len(TableInput("medshare").GlobalSecondaryIndexes) {
						t.Errorf("CreateTable: got table %q with %d indexes, want TableInput(%q)", got, len(in.GlobalSecondaryIndexes), "medshare")
					}
					if tc.inUse {
						return nil, opErr("CreateTable", &types.ResourceInUseException{})
					}
					return &dynamodb.CreateTableOutput{}, nil
				},
				describeTable: func(*dynamodb.DescribeTableInput) (*dynamodb.DescribeTableOutput, error) {
					d := tc.described[min(described, len(tc.described)-1)]
					described++
					if d == nil {
						return nil, opErr("DescribeTable", &types.ResourceNotFoundException{})
					}
					return &dynamodb.DescribeTableOutput{Table: d}, nil
				},
				describeTTL: func(*dynamodb.DescribeTimeToLiveInput) (*dynamodb.DescribeTimeToLiveOutput, error) {
					return &dynamodb.DescribeTimeToLiveOutput{TimeToLiveDescription: tc.ttl}, nil
				},
				updateTTL: func(in *dynamodb.UpdateTimeToLiveInput) (*dynamodb.UpdateTimeToLiveOutput, error) {
					enabled = in.TimeToLiveSpecification
					return &dynamodb.UpdateTimeToLiveOutput{}, nil
				},
			}
			err := EnsureTable(t.Context(), f, "medshare")
			if got := kindOf(err); got != tc.want {
				t.Errorf("EnsureTable: got %v (kind %s), want %s", err, got, tc.want)
			}
			if diff := cmp.Diff(tc.wantCalls, f.ops()); diff != "" {
				t.Errorf("calls mismatch (-want +got):\n%s", diff)
			}
			if enabled != nil && (aws.ToString(enabled.AttributeName) != AttrTTL || !aws.ToBool(enabled.Enabled)) {
				t.Errorf("UpdateTimeToLive: got %+v, want enabled on %q", enabled, AttrTTL)
			}
		})
	}
}
