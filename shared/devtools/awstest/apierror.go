package awstest

import (
	"net/http"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// APIError is what an SDK client returns for an HTTP error response of
// service's operation: an operation error around a response error (with
// status) around err, the service's API error. The adapters' tests give it
// to their error translation (awserr) in place of a real call.
func APIError(service, operation string, status int, err error) error {
	return &smithy.OperationError{
		ServiceID:     service,
		OperationName: operation,
		Err: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err:      err,
		},
	}
}

// ErrorCode is a generic API error with code as its code and message.
func ErrorCode(code string) error { return &smithy.GenericAPIError{Code: code, Message: code} }
