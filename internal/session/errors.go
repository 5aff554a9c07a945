package session

import (
	"errors"

	"github.com/nats-io/nats.go/jetstream"
)

var (
	// ErrNotFound is returned by Get for a key with no value (never written, deleted or expired).
	// Errors from the JetStream store also match jetstream.ErrKeyNotFound.
	ErrNotFound = errors.New("session not found")

	// ErrExists is returned by Create for a key that already has a value.
	ErrExists = errors.New("session already exists")

	// ErrConflict is returned by Update when every attempt lost a compare-and-swap race. It is
	// retryable: the contention was real but passes.
	ErrConflict = errors.New("session changed concurrently on every attempt")

	// ErrSkip is returned by an UpdateFunc to leave the value unchanged. Update then writes
	// nothing and returns the current entry with a nil error.
	ErrSkip = errors.New("skip update")

	// ErrInvalidKey is returned for a key outside the KV key charset. It is marked
	// failure.Permanent: the same key will never become valid.
	ErrInvalidKey = errors.New("invalid session key")

	// ErrTooLarge is returned, before anything is written, for a value whose encoding exceeds
	// the store's limit. It is marked failure.Permanent.
	ErrTooLarge = errors.New("session value too large")

	// ErrCorrupt is returned when a stored value does not decode into the session type. It is
	// marked failure.Permanent; the caller may Delete the key to start the session afresh.
	ErrCorrupt = errors.New("stored session value does not decode")

	// ErrInvalidBucket is returned by Open for a bucket whose configuration breaks the store's
	// assumptions (no TTL, so abandoned sessions would never expire).
	ErrInvalidBucket = errors.New("invalid session bucket")

	// ErrInvalidOption is returned by New and Open for an option with an invalid value.
	ErrInvalidOption = errors.New("invalid option")
)

// isConflict reports whether err is a lost compare-and-swap. nats.go maps the server's
// "wrong last sequence" codes (10071, and 10164 on replicated buckets since v1.53.0) to
// ErrKeyExists or ErrKeyRevisionMismatch, except on the delete-marker path of kv.Create, which
// returns the raw API error; the codes are checked directly for that case.
func isConflict(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
	}
	return false
}
