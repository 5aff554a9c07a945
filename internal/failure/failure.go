// Package failure classifies handler and client errors so the stage runtime can decide between
// ack, nak with a delay, and dead-letter. Errors are classified by type (errors.Is/As), never by
// their text. An error that is not marked is retryable: the message is redelivered with a delay
// until its delivery budget runs out, then dead-lettered.
package failure

import (
	"errors"
	"fmt"
	"time"
)

// ErrExpired is returned when a message's own deadline passed before it could be handled. It is
// permanent: answering late is worse than not answering.
var ErrExpired = Permanent(errors.New("request deadline passed"))

// ErrInvalid marks input that failed validation; wrap it with the reason.
var ErrInvalid = errors.New("invalid message")

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: the runtime dead-letters the message at once.
// Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// Permanentf is Permanent(fmt.Errorf(format, args...)).
func Permanentf(format string, args ...any) error {
	return Permanent(fmt.Errorf(format, args...))
}

// Invalidf reports input that failed validation; it is permanent and matches ErrInvalid.
func Invalidf(format string, args ...any) error {
	return Permanent(fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...)))
}

// invalidError matches ErrInvalid without repeating its text: the error it classifies already
// says what is invalid (a schema's validation error, for one).
type invalidError struct{ err error }

func (e *invalidError) Error() string        { return e.err.Error() }
func (e *invalidError) Unwrap() error        { return e.err }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

// Invalid classifies err, an error that says why some input is invalid (a message's Validate
// method returned it), as invalid input: permanent and matching ErrInvalid, with err's text
// and err still found by errors.Is and errors.As. Invalid(nil) is nil.
func Invalid(err error) error {
	if err == nil {
		return nil
	}
	return Permanent(&invalidError{err: err})
}

// IsPermanent reports whether err, or any error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

type retryAfterError struct {
	err   error
	delay time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// RetryAfter marks err as retryable no sooner than d from now (an HTTP 429 Retry-After, an open
// circuit breaker). The runtime uses the larger of d and its own backoff delay.
// RetryAfter(nil, d) is nil.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, delay: d}
}

// RetryDelay returns the delay attached by RetryAfter, if any.
func RetryDelay(err error) (time.Duration, bool) {
	var r *retryAfterError
	if errors.As(err, &r) {
		return r.delay, true
	}
	return 0, false
}

type notAttemptedError struct{ err error }

func (e *notAttemptedError) Error() string { return e.err.Error() }
func (e *notAttemptedError) Unwrap() error { return e.err }

// NotAttempted marks err as "the work was not tried" (an open circuit breaker refused the call):
// the message did nothing wrong, so the runtime gives it back without spending its delivery
// budget. NotAttempted(nil) is nil.
func NotAttempted(err error) error {
	if err == nil {
		return nil
	}
	return &notAttemptedError{err: err}
}

// WasNotAttempted reports whether err, or any error it wraps, was marked NotAttempted.
func WasNotAttempted(err error) bool {
	var n *notAttemptedError
	return errors.As(err, &n)
}
