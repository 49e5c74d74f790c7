// Package awserr classifies the errors of the AWS SDK for Go v2 for the
// adapters that translate them into the core's kinds: the service's error
// code, the HTTP status of its answer, and whether a retry may cure the
// error. It knows nothing of the core's kinds; each adapter keeps its own
// mapping, built on these answers.
package awserr

import (
	"context"
	"errors"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// Code returns the service's error code ("NoSuchKey", "SlowDown"), or ""
// when err is not a service error.
func Code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// StatusCode returns the HTTP status of the service's response, or 0 when
// there was none.
func StatusCode(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// Retryable reports whether the SDK's own retry policy deems err transient:
// connection failures, timeouts, throttling codes, 5xx, or an exhausted retry
// quota.
func Retryable(err error) bool {
	var quota ratelimit.QuotaExceededError
	if errors.As(err, &quota) {
		return true
	}
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary ||
		retry.IsErrorTimeouts(retry.DefaultTimeouts).IsErrorTimeout(err) == aws.TrueTernary
}

// Transient reports whether a retry may cure err, for a service whose answers
// are final unless they say otherwise:
//
//   - a canceled or expired context is transient;
//   - an answer whose code is one of the SDK's throttling codes
//     (retry.DefaultThrottleErrorCodes) or in codes, the service's own
//     transient codes, is transient;
//   - any other answer is final unless its status is 429 or 5xx;
//   - no answer at all (network failures, timeouts) is what Retryable says.
func Transient(err error, codes map[string]bool) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	code := Code(err)
	if _, throttled := retry.DefaultThrottleErrorCodes[code]; throttled || codes[code] {
		return true
	}
	if code != "" {
		st := StatusCode(err)
		return st == http.StatusTooManyRequests || st >= http.StatusInternalServerError
	}
	return Retryable(err)
}
