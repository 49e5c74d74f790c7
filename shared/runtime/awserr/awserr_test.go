package awserr_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/runtime/awserr"
)

// response is what the SDK returns for an error response of the given status
// whose body the client decoded into err: the service's API error, or
// another error when the body named no code.
func response(status int, err error) error {
	resp := &smithyhttp.Response{Response: &http.Response{StatusCode: status}}
	return &smithy.OperationError{ServiceID: "Test", OperationName: "Call", Err: &smithyhttp.ResponseError{Response: resp, Err: err}}
}

// apiError is an error response naming code.
func apiError(status int, code string) error {
	return response(status, &smithy.GenericAPIError{Code: code, Message: code})
}

var connRefused = &smithy.OperationError{Err: &smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}}

func TestClassify(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		code      string
		status    int
		retryable bool
		kms       core.Kind // the kind under KMS's table, whose own transient codes hold KMSInternalException
	}{
		{"final answer", apiError(400, "ValidationException"), "ValidationException", 400, false, core.KindInternal},
		{"not found", apiError(404, "NoSuchKey"), "NoSuchKey", 404, false, core.KindInternal},
		{"sdk throttling code", apiError(400, "ThrottlingException"), "ThrottlingException", 400, true, core.KindUnavailable},
		{"service transient code", apiError(400, "KMSInternalException"), "KMSInternalException", 400, false, core.KindUnavailable},
		{"unknown code 429", apiError(429, "Whatever"), "Whatever", 429, true, core.KindUnavailable},
		{"unknown code 503", apiError(503, "Whatever"), "Whatever", 503, true, core.KindUnavailable},
		{"api error without a response", &smithy.GenericAPIError{Code: "AccessDenied"}, "AccessDenied", 0, false, core.KindInternal},
		{"503 without a code", response(503, errors.New("no body")), "", 503, true, core.KindUnavailable},
		{"404 without a code", response(404, errors.New("no body")), "", 404, false, core.KindInternal},
		{"connection refused", connRefused, "", 0, true, core.KindUnavailable},
		{"retry quota exhausted", fmt.Errorf("get retry token: %w", ratelimit.QuotaExceededError{Available: 0, Requested: 5}), "", 0, true, core.KindUnavailable},
		{"deadline", context.DeadlineExceeded, "", 0, true, core.KindUnavailable},
		// The SDK never retries a canceled request; a caller may.
		{"canceled", &aws.RequestCanceledError{Err: context.Canceled}, "", 0, false, core.KindUnavailable},
		{"unknown", errors.New("boom"), "", 0, false, core.KindInternal},
		{"nil", nil, "", 0, false, core.KindInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := awserr.Code(tt.err); got != tt.code {
				t.Errorf("Code = %q, want %q", got, tt.code)
			}
			if got := awserr.StatusCode(tt.err); got != tt.status {
				t.Errorf("StatusCode = %d, want %d", got, tt.status)
			}
			if got := awserr.Retryable(tt.err); got != tt.retryable {
				t.Errorf("Retryable = %v, want %v", got, tt.retryable)
			}
			if got := awserr.KMS.Kind(tt.err); got != tt.kms {
				t.Errorf("KMS.Kind = %v, want %v", got, tt.kms)
			}
		})
	}
}

// TestTransientCodesAreTheServices checks that a code is transient only for
// the service that lists it.
func TestTransientCodesAreTheServices(t *testing.T) {
	err := apiError(400, "KMSInternalException")
	for _, svc := range []*awserr.Service{awserr.DynamoDB, awserr.S3, awserr.SNS} {
		if got := svc.Kind(err); got != core.KindInternal {
			t.Errorf("%s.Kind(%v) = %v, want internal: the code is not the SDK's nor %s's", svc.Name, err, got, svc.Name)
		}
	}
	if got := awserr.KMS.Kind(err); got != core.KindUnavailable {
		t.Errorf("KMS.Kind(%v) = %v, want unavailable", err, got)
	}
}

// server is an unmodeled answer that the service marks as its own fault.
func server(code string) error { return &smithy.GenericAPIError{Code: code, Fault: smithy.FaultServer} }

// client is an unmodeled answer that the service marks as the caller's fault.
func client(code string) error { return &smithy.GenericAPIError{Code: code, Fault: smithy.FaultClient} }

// TestKinds is the one table of the classifier: each service's answers as
// its adapter sees them (an operation error around a response error around
// the API error, or the API error alone as the SDK's typed errors are), and
// the failures that carry no answer.
func TestKinds(t *testing.T) {
	deadline, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	const (
		internal    = core.KindInternal
		notFound    = core.KindNotFound
		unavailable = core.KindUnavailable
	)
	connReset := &url.Error{Op: "Put", URL: "http://x", Err: errors.New("read: connection reset by peer")}
	tests := []struct {
		svc  *awserr.Service
		name string
		err  error
		want core.Kind
	}{
		// DynamoDB: every error without an answer is transient.
		{awserr.DynamoDB, "throttling", &ddbtypes.ThrottlingException{Message: aws.String("slow down")}, unavailable},
		{awserr.DynamoDB, "provisioned throughput", &ddbtypes.ProvisionedThroughputExceededException{}, unavailable},
		{awserr.DynamoDB, "request limit", &ddbtypes.RequestLimitExceeded{}, unavailable},
		{awserr.DynamoDB, "table missing", &ddbtypes.ResourceNotFoundException{}, unavailable},
		{awserr.DynamoDB, "internal server error", &ddbtypes.InternalServerError{}, unavailable},
		{awserr.DynamoDB, "transaction conflict", &ddbtypes.TransactionConflictException{}, unavailable},
		{awserr.DynamoDB, "unmodeled server fault", server("ServiceUnavailable"), unavailable},
		{awserr.DynamoDB, "unmodeled server fault, unknown code", server("Whatever"), unavailable},
		{awserr.DynamoDB, "expired token", client("ExpiredTokenException"), unavailable},
		{awserr.DynamoDB, "validation", client("ValidationException"), internal},
		{awserr.DynamoDB, "access denied", client("AccessDeniedException"), internal},
		{awserr.DynamoDB, "conditional check", &ddbtypes.ConditionalCheckFailedException{}, internal},
		{awserr.DynamoDB, "network", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, unavailable},
		{awserr.DynamoDB, "no answer the SDK would retry", errors.New("unreadable response"), unavailable},
		{awserr.DynamoDB, "deadline", context.DeadlineExceeded, unavailable},
		{awserr.DynamoDB, "canceled", context.Canceled, unavailable},

		// S3: a missing object is not found; a missing bucket is a deployment error.
		{awserr.S3, "modeled not found", &s3types.NotFound{}, notFound},
		{awserr.S3, "no such key", &s3types.NoSuchKey{}, notFound},
		{awserr.S3, "404 without a body", apiError(404, "NotFound"), notFound},
		{awserr.S3, "404 unknown code", apiError(404, ""), notFound},
		{awserr.S3, "404 without an API error", response(404, errors.New("no body")), notFound},
		{awserr.S3, "slow down", apiError(503, "SlowDown"), unavailable},
		{awserr.S3, "503 without a code", apiError(503, ""), unavailable},
		{awserr.S3, "internal error", apiError(500, "InternalError"), unavailable},
		{awserr.S3, "429", apiError(429, "TooManyRequests"), unavailable},
		{awserr.S3, "expired token", apiError(400, "ExpiredToken"), unavailable},
		{awserr.S3, "object changed between reads", apiError(412, "PreconditionFailed"), unavailable},
		{awserr.S3, "access denied", apiError(403, "AccessDenied"), internal},
		{awserr.S3, "403 without a body", apiError(403, "Forbidden"), internal},
		{awserr.S3, "no such bucket", apiError(404, "NoSuchBucket"), internal},
		{awserr.S3, "context deadline", deadline.Err(), unavailable},
		{awserr.S3, "canceled request", &aws.RequestCanceledError{Err: context.Canceled}, unavailable},
		{awserr.S3, "connection refused", connRefused, unavailable},
		{awserr.S3, "connection reset", connReset, unavailable},
		{awserr.S3, "unknown error", errors.New("boom"), internal},

		// KMS: refusals are final.
		{awserr.KMS, "invalid ciphertext", response(400, &kmstypes.InvalidCiphertextException{}), internal},
		{awserr.KMS, "incorrect key", response(400, &kmstypes.IncorrectKeyException{}), internal},
		{awserr.KMS, "validation", apiError(400, "ValidationException"), internal},
		{awserr.KMS, "access denied", apiError(400, "AccessDeniedException"), internal},
		{awserr.KMS, "not found", response(400, &kmstypes.NotFoundException{}), internal},
		{awserr.KMS, "disabled", response(400, &kmstypes.DisabledException{}), internal},
		{awserr.KMS, "invalid state", response(400, &kmstypes.KMSInvalidStateException{}), internal},
		{awserr.KMS, "kms internal", response(500, &kmstypes.KMSInternalException{}), unavailable},
		{awserr.KMS, "dependency timeout", response(503, &kmstypes.DependencyTimeoutException{}), unavailable},
		{awserr.KMS, "key unavailable", response(500, &kmstypes.KeyUnavailableException{}), unavailable},
		{awserr.KMS, "throttling", apiError(400, "ThrottlingException"), unavailable},
		{awserr.KMS, "request quota", response(400, &kmstypes.LimitExceededException{}), unavailable},
		{awserr.KMS, "unknown 503", apiError(503, "Whatever"), unavailable},
		{awserr.KMS, "connection refused", connRefused, unavailable},
		{awserr.KMS, "deadline", context.DeadlineExceeded, unavailable},
		{awserr.KMS, "canceled", &aws.RequestCanceledError{Err: context.Canceled}, unavailable},
		{awserr.KMS, "unknown", errors.New("boom"), internal},

		// SNS: a missing topic is a deployment error, not a missing object.
		{awserr.SNS, "throttled", response(400, &snstypes.ThrottledException{}), unavailable},
		{awserr.SNS, "internal error", response(500, &snstypes.InternalErrorException{}), unavailable},
		{awserr.SNS, "kms throttling", response(400, &snstypes.KMSThrottlingException{}), unavailable},
		{awserr.SNS, "unknown 503", apiError(503, "ServiceUnavailable"), unavailable},
		{awserr.SNS, "throttling code", apiError(400, "Throttling"), unavailable},
		{awserr.SNS, "connection refused", connRefused, unavailable},
		{awserr.SNS, "deadline", context.DeadlineExceeded, unavailable},
		{awserr.SNS, "canceled", &aws.RequestCanceledError{Err: context.Canceled}, unavailable},
		{awserr.SNS, "invalid parameter", response(400, &snstypes.InvalidParameterException{}), internal},
		{awserr.SNS, "invalid value", response(400, &snstypes.InvalidParameterValueException{}), internal},
		{awserr.SNS, "topic not found", response(404, &snstypes.NotFoundException{}), internal},
		{awserr.SNS, "authorization", response(403, &snstypes.AuthorizationErrorException{}), internal},
		{awserr.SNS, "kms disabled", response(400, &snstypes.KMSDisabledException{}), internal},
		{awserr.SNS, "unknown", errors.New("boom"), internal},
	}
	for _, tt := range tests {
		t.Run(tt.svc.Name+"/"+tt.name, func(t *testing.T) {
			if got := tt.svc.Kind(tt.err); got != tt.want {
				t.Errorf("%s.Kind(%v) = %v, want %v", tt.svc.Name, tt.err, got, tt.want)
			}
		})
	}
}

func TestCancellationKind(t *testing.T) {
	tests := []struct {
		name    string
		reasons []string
		want    core.Kind
	}{
		{"throttled item", []string{"ThrottlingError", "None"}, core.KindUnavailable},
		{"provisioned throughput", []string{"None", "ProvisionedThroughputExceeded"}, core.KindUnavailable},
		{"conflict", []string{"TransactionConflict", "None"}, core.KindUnavailable},
		{"request limit", []string{"RequestLimitExceeded"}, core.KindUnavailable},
		{"validation", []string{"ValidationError", "None"}, core.KindInternal},
		{"failed condition alone", []string{"ConditionalCheckFailed", "None"}, core.KindInternal},
		{"none", nil, core.KindInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := awserr.DynamoDB.CancellationKind(tt.reasons); got != tt.want {
				t.Errorf("CancellationKind(%q) = %v, want %v", tt.reasons, got, tt.want)
			}
		})
	}
}

// TestTranslate checks the errors Translate builds: the kind, the message
// that names the operation, the cause kept for the logs except on a missing
// object, and a core error passed through with its kind.
func TestTranslate(t *testing.T) {
	throttled := apiError(503, "SlowDown")
	err := awserr.S3.Translate(throttled, "stat %s", "photos/p1/ph_1")
	var ce *core.Error
	if !errors.As(err, &ce) || ce.Kind != core.KindUnavailable || ce.Message != "stat photos/p1/ph_1" || !errors.Is(err, throttled) {
		t.Errorf("Translate(throttled) = %#v, want unavailable, the message, wrapping the cause", err)
	}
	missing := apiError(404, "NoSuchKey")
	err = awserr.S3.Translate(missing, "stat %s", "photos/p1/ph_1")
	if !errors.As(err, &ce) || ce.Kind != core.KindNotFound || ce.Message != "stat photos/p1/ph_1: not found" || errors.Is(err, missing) {
		t.Errorf("Translate(missing) = %#v, want not found with the message and no cause", err)
	}
	denied := apiError(403, "AccessDenied")
	err = awserr.S3.Translate(denied, "stat %s", "photos/p1/ph_1")
	if !errors.As(err, &ce) || ce.Kind != core.KindInternal || !errors.Is(err, denied) {
		t.Errorf("Translate(denied) = %#v, want internal wrapping the cause", err)
	}
	inner := core.ErrConflict("already there")
	err = awserr.DynamoDB.Translate(inner, "put %s", "x")
	if core.KindOf(err) != core.KindConflict || !errors.Is(err, inner) || err.Error() != "put x: "+inner.Error() {
		t.Errorf("Translate(core error) = %v, want it wrapped as is", err)
	}
}
