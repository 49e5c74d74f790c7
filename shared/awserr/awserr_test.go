package awserr_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/medshare/medshare/shared/awserr"
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

// serviceCodes stands for a service's own transient codes.
var serviceCodes = map[string]bool{"KMSInternalException": true}

func TestClassify(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		code      string
		status    int
		retryable bool
		transient bool
	}{
		{"final answer", apiError(400, "ValidationException"), "ValidationException", 400, false, false},
		{"not found", apiError(404, "NoSuchKey"), "NoSuchKey", 404, false, false},
		{"sdk throttling code", apiError(400, "ThrottlingException"), "ThrottlingException", 400, true, true},
		{"service transient code", apiError(400, "KMSInternalException"), "KMSInternalException", 400, false, true},
		{"unknown code 429", apiError(429, "Whatever"), "Whatever", 429, true, true},
		{"unknown code 503", apiError(503, "Whatever"), "Whatever", 503, true, true},
		{"api error without a response", &smithy.GenericAPIError{Code: "AccessDenied"}, "AccessDenied", 0, false, false},
		{"503 without a code", response(503, errors.New("no body")), "", 503, true, true},
		{"404 without a code", response(404, errors.New("no body")), "", 404, false, false},
		{"connection refused", connRefused, "", 0, true, true},
		{"retry quota exhausted", fmt.Errorf("get retry token: %w", ratelimit.QuotaExceededError{Available: 0, Requested: 5}), "", 0, true, true},
		{"deadline", context.DeadlineExceeded, "", 0, true, true},
		// The SDK never retries a canceled request; a caller may.
		{"canceled", &aws.RequestCanceledError{Err: context.Canceled}, "", 0, false, true},
		{"unknown", errors.New("boom"), "", 0, false, false},
		{"nil", nil, "", 0, false, false},
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
			if got := awserr.Transient(tt.err, serviceCodes); got != tt.transient {
				t.Errorf("Transient = %v, want %v", got, tt.transient)
			}
		})
	}
}

// TestTransientCodesAreTheServices checks that a code is transient only for
// the service that lists it.
func TestTransientCodesAreTheServices(t *testing.T) {
	err := apiError(400, "KMSInternalException")
	if awserr.Transient(err, nil) {
		t.Errorf("Transient(%v, nil) = true, want false: the code is not the SDK's", err)
	}
	if !awserr.Transient(err, serviceCodes) {
		t.Errorf("Transient(%v, codes with it) = false, want true", err)
	}
}
