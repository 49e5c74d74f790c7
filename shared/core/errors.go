package core

import (
	"errors"
	"fmt"
	"time"
)

// Kind is the closed set of error kinds the core knows. The HTTP edge maps each
// kind to one status; adapters translate their SDK errors into these kinds once.
type Kind int

// The error kinds. KindInternal is the zero value so that an unclassified error is
// never mistaken for a client error.
const (
	KindInternal Kind = iota
	KindInvalid
	KindUnauthorized
	KindForbidden
	KindNotFound
	KindConflict
	KindGone
	KindTooLarge
	KindRateLimited
	KindUnavailable
)

// Stable error codes that clients handle (ARCHITECTURE §7). They never change meaning.
const (
	CodeNotFound        = "not_found"
	CodeInvalid         = "invalid_request"
	CodeUnauthorized    = "unauthorized"
	CodeForbidden       = "forbidden"
	CodeViewsExhausted  = "views_exhausted"
	CodeSessionExpired  = "session_expired"
	CodeSessionRevoked  = "session_revoked"
	CodeKeyUsed         = "key_used"
	CodeKeyExpired      = "key_expired"
	CodeDeviceMismatch  = "device_mismatch"
	CodeConflict        = "conflict"
	CodePayloadTooLarge = "payload_too_large"
	CodeRateLimited     = "rate_limited"
	CodeUnavailable     = "unavailable"
	CodeInternal        = "internal"
)

// Error is the core's error value: a kind, a stable code, a message that is safe
// to show to the caller, and an optional wrapped cause that is only logged.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Err     error
	// RetryAfter is, for KindRateLimited, how long until the caller may try
	// again (the HTTP edge sends it as Retry-After).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

func newErr(k Kind, code, format string, args ...any) *Error {
	return &Error{Kind: k, Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrNotFound reports a resource that does not exist or is not the caller's.
func ErrNotFound(format string, args ...any) error {
	return newErr(KindNotFound, CodeNotFound, format, args...)
}

// ErrInvalid reports bad input.
func ErrInvalid(format string, args ...any) error {
	return newErr(KindInvalid, CodeInvalid, format, args...)
}

// ErrUnauthorized reports a missing or invalid identity.
func ErrUnauthorized(format string, args ...any) error {
	return newErr(KindUnauthorized, CodeUnauthorized, format, args...)
}

// ErrForbidden reports a role that may never call an operation.
func ErrForbidden(format string, args ...any) error {
	return newErr(KindForbidden, CodeForbidden, format, args...)
}

// ErrConflict reports a state that does not allow the operation now.
func ErrConflict(format string, args ...any) error {
	return newErr(KindConflict, CodeConflict, format, args...)
}

// ErrGone reports a resource that existed but can no longer be used; code is one
// of the precise grantee reasons (session_expired, key_used, ...).
func ErrGone(code, format string, args ...any) error {
	return newErr(KindGone, code, format, args...)
}

// ErrTooLarge reports a body or declared size over the limit.
func ErrTooLarge(format string, args ...any) error {
	return newErr(KindTooLarge, CodePayloadTooLarge, format, args...)
}

// ErrRateLimited reports a caller past a limit of the service; retryAfter is
// how long until the limit lets them through again.
func ErrRateLimited(retryAfter time.Duration, format string, args ...any) error {
	e := newErr(KindRateLimited, CodeRateLimited, format, args...)
	e.RetryAfter = retryAfter
	return e
}

// RetryAfterOf returns how long the caller should wait before trying again
// after err: the RetryAfter of a rate-limited error, else 0.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) && e.Kind == KindRateLimited {
		return e.RetryAfter
	}
	return 0
}

// withCause returns answer, an *Error, with cause attached for the logs
// only: the caller still reads answer's kind, code and message.
func withCause(answer, cause error) error {
	var e *Error
	if !errors.As(answer, &e) {
		return answer
	}
	c := *e
	c.Err = cause
	return &c
}

// ErrUnavailable wraps a dependency failure that a retry may cure. The cause is
// logged, never returned to the caller.
func ErrUnavailable(cause error, format string, args ...any) error {
	e := newErr(KindUnavailable, CodeUnavailable, format, args...)
	e.Err = cause
	return e
}

// ErrInternal wraps a failure that is a bug or a broken invariant.
func ErrInternal(cause error, format string, args ...any) error {
	e := newErr(KindInternal, CodeInternal, format, args...)
	e.Err = cause
	return e
}

// KindOf returns the kind of err; errors that are not *Error are internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// CodeOf returns the stable code of err; errors that are not *Error are internal.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// IsKind reports whether err is of kind k.
func IsKind(err error, k Kind) bool { return err != nil && KindOf(err) == k }

// HeadMismatchError is returned by AuditStore.AppendAudit when the chain head
// moved; Current is the head the store holds now, so the caller can rebuild the
// record and try again without another read.
type HeadMismatchError struct {
	PatientID string
	Current   ChainHead
}

func (e *HeadMismatchError) Error() string {
	return fmt.Sprintf("audit chain head of %s moved to seq %d", e.PatientID, e.Current.Seq)
}
