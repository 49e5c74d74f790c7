// Package awserr is the one classifier of the AWS SDK for Go v2's errors
// into the core's kinds, used by every AWS adapter (dynamostore, s3blob,
// kmskeys, snsnotify) and tested once, here. An adapter names its
// service's table (DynamoDB, S3, KMS, SNS) and calls Translate; what a
// failed condition means (an answer, not a failure) stays the adapter's,
// since only the method that wrote the condition knows.
//
// The rules, in order, for an error that carries the service's answer (an
// API error with a code):
//
//   - a code in the service's table has the kind the table gives;
//   - one of the SDK's throttling or retryable codes
//     (retry.DefaultThrottleErrorCodes, retry.DefaultRetryableErrorCodes)
//     is KindUnavailable;
//   - a 404 is KindNotFound where the service answers a missing object
//     with a bare 404 (S3's HeadObject has no body);
//   - a 429, a 5xx or a fault the service calls its own is KindUnavailable;
//   - anything else is final: KindInternal (a bug or a deployment error:
//     validation, access denied, a missing key or topic).
//
// An error without an API error (the network, a timeout, an unreadable
// response, credentials that could not be fetched) is KindUnavailable where
// the service says so (DynamoDB: the store's callers retry), else by its
// status if it had one, else what the SDK's own retry policy says. A
// canceled or expired context is always KindUnavailable.
package awserr

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	"github.com/medshare/medshare/shared/core"
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

// Service is what the classifier knows of one AWS service beyond the rules
// every service shares (the package comment).
type Service struct {
	// Name is the service's name, for messages and tests.
	Name string
	// Codes are the kinds of the service's answers whose kind their
	// status does not say: transient 4xx codes (throttling, expired
	// credentials), not-found codes, and 404s that are deployment errors.
	Codes map[string]core.Kind
	// AbsentOn404: a 404 whose code is not in Codes means the object named
	// does not exist (S3).
	AbsentOn404 bool
	// UnansweredTransient: an error that carries no answer of the service
	// is KindUnavailable, whatever the SDK's retry policy says of it.
	UnansweredTransient bool
	// Reasons are the kinds of the reason codes of a cancelled DynamoDB
	// transaction (CancellationKind).
	Reasons map[string]core.Kind
}

// The services of the adapters.
var (
	// DynamoDB (dynamostore): throttling, transaction conflicts, a missing
	// table or index (not deployed yet) and expired credentials are
	// transient; so is every error without an answer.
	DynamoDB = &Service{
		Name: "DynamoDB",
		Codes: unavailable(
			"ProvisionedThroughputExceededException", "RequestLimitExceeded", "ThrottlingException", "Throttling",
			"LimitExceededException", "TransactionConflictException", "TransactionInProgressException",
			"ReplicatedWriteConflictException", "ResourceNotFoundException", "RequestTimeout",
			"RequestTimeoutException", "ExpiredTokenException", "InternalServerError", "ServiceUnavailable",
		),
		UnansweredTransient: true,
		Reasons:             unavailable("TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"),
	}
	// S3 (s3blob): a missing object is KindNotFound (NoSuchKey, or
	// HeadObject's bare 404); a missing bucket, a denied or badly signed
	// request are deployment errors; throttling, server errors, expired
	// credentials, clock skew and an object that changed between two reads
	// (PreconditionFailed: a retry reads the new one) are transient.
	S3 = &Service{
		Name: "S3",
		Codes: merge(
			kinds(core.KindNotFound, "NoSuchKey", "NotFound"),
			kinds(core.KindInternal, "NoSuchBucket", "AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId",
				"SignatureDoesNotMatch", "InvalidBucketName", "InvalidArgument", "InvalidRequest"),
			unavailable("SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "ExpiredToken",
				"TokenRefreshRequired", "RequestTimeTooSkewed", "PreconditionFailed"),
		),
		AbsentOn404: true,
	}
	// KMS (kmskeys): refused ciphertexts, contexts and keys, denied access
	// and invalid requests are final (their codes need no entry); these
	// are transient besides the SDK's throttling codes.
	KMS = &Service{
		Name:  "KMS",
		Codes: unavailable("KMSInternalException", "DependencyTimeoutException", "KeyUnavailableException", "ServiceUnavailableException"),
	}
	// SNS (snsnotify): validation, authorization, a missing topic and a
	// disabled key are final; these are transient besides the SDK's
	// throttling codes.
	SNS = &Service{
		Name:  "SNS",
		Codes: unavailable("Throttled", "InternalError", "KMSThrottling", "ServiceUnavailable"),
	}
)

// Kind returns the kind of err under the service's rules: KindNotFound,
// KindUnavailable or KindInternal (or any kind the table gives). An error
// that already is a core error keeps its kind.
func (s *Service) Kind(err error) core.Kind {
	var ce *core.Error
	if errors.As(err, &ce) {
		return ce.Kind
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return core.KindUnavailable
	}
	status := StatusCode(err)
	var api smithy.APIError
	if errors.As(err, &api) {
		code := api.ErrorCode()
		if k, ok := s.Codes[code]; ok && code != "" {
			return k
		}
		if _, ok := retry.DefaultThrottleErrorCodes[code]; ok {
			return core.KindUnavailable
		}
		if _, ok := retry.DefaultRetryableErrorCodes[code]; ok {
			return core.KindUnavailable
		}
		switch {
		case status == http.StatusNotFound && s.AbsentOn404:
			return core.KindNotFound
		case status == http.StatusTooManyRequests || status >= http.StatusInternalServerError, api.ErrorFault() == smithy.FaultServer:
			return core.KindUnavailable
		}
		return core.KindInternal
	}
	switch {
	case s.UnansweredTransient:
		return core.KindUnavailable
	case status == http.StatusNotFound && s.AbsentOn404:
		return core.KindNotFound
	case status == http.StatusTooManyRequests || status >= http.StatusInternalServerError:
		return core.KindUnavailable
	case status >= http.StatusBadRequest:
		return core.KindInternal
	case Retryable(err):
		return core.KindUnavailable
	}
	return core.KindInternal
}

// CancellationKind returns the kind of a cancelled transaction from the
// reason codes of its items: KindUnavailable when a retry may cure one of
// them (Reasons), else KindInternal. A failed condition is an answer, which
// the adapter reads before it asks.
func (s *Service) CancellationKind(reasons []string) core.Kind {
	for _, r := range reasons {
		if k, ok := s.Reasons[r]; ok && k == core.KindUnavailable {
			return k
		}
	}
	return core.KindInternal
}

// Translate returns err as a core error of its Kind, with the message
// format and args (the operation and its ids, never a URL or key
// material): see As. An error that already is a core error is wrapped
// with the message and keeps its kind.
func (s *Service) Translate(err error, format string, args ...any) error {
	var ce *core.Error
	if errors.As(err, &ce) {
		return fmt.Errorf(format+": %w", append(args, err)...)
	}
	return As(s.Kind(err), err, format, args...)
}

// As returns a core error of kind k for the SDK error err: KindNotFound
// says "<message>: not found" and drops err (an absent object is an answer,
// and the service replaces the message with its own); KindUnavailable keeps
// err as its cause, for the logs; any other kind is KindInternal with err
// as its cause.
func As(k core.Kind, err error, format string, args ...any) error {
	switch k {
	case core.KindNotFound:
		return core.ErrNotFound(format+": not found", args...)
	case core.KindUnavailable:
		return core.ErrUnavailable(err, format, args...)
	}
	return core.ErrInternal(err, format, args...)
}

func kinds(k core.Kind, codes ...string) map[string]core.Kind {
	m := make(map[string]core.Kind, len(codes))
	for _, c := range codes {
		m[c] = k
	}
	return m
}

func unavailable(codes ...string) map[string]core.Kind { return kinds(core.KindUnavailable, codes...) }

func merge(ms ...map[string]core.Kind) map[string]core.Kind {
	out := map[string]core.Kind{}
	for _, m := range ms {
		for c, k := range m {
			out[c] = k
		}
	}
	return out
}
