package breaker

import (
	"errors"
	"time"
)

// ErrOpen is returned by Do when the breaker refuses a call: it is open, or half-open with every
// probe slot taken. The error also carries failure.RetryAfter with the time left before a call
// may succeed, so the runtime naks with that delay instead of its own backoff.
var ErrOpen = errors.New("circuit breaker open")

// ErrInvalidSettings is matched by every error from Settings.Validate.
var ErrInvalidSettings = errors.New("invalid circuit breaker settings")

// minRetryDelay is the least delay attached to ErrOpen and the wait OpenFor reports while every
// half-open probe is in flight: long enough that a stage does not spin on a refusing breaker,
// short enough that it resumes promptly once the probe closes it.
const minRetryDelay = 100 * time.Millisecond

// errCallerCanceled marks an outcome the breaker must not count: the caller gave up, so the call
// says nothing about the upstream's health.
var errCallerCanceled = errors.New("caller canceled the call")

// errPanicked is the outcome recorded when the call panics; it counts as a failure.
var errPanicked = errors.New("call panicked")
