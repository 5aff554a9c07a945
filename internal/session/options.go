package session

import (
	"fmt"
	"time"
)

// Defaults for the options.
const (
	// DefaultMaxValueSize matches max_value_size of the session buckets in streams/kv/.
	DefaultMaxValueSize = 256 << 10
	// DefaultMaxAttempts bounds Update's compare-and-swap loop. Replicas rarely race on one
	// session (its chunks arrive in order), so a handful of attempts is plenty; a handler that
	// still loses returns ErrConflict and its message is redelivered later.
	DefaultMaxAttempts = 10
	// DefaultBackoffBase and DefaultBackoffMax bound the jittered pause between attempts.
	DefaultBackoffBase = 2 * time.Millisecond
	DefaultBackoffMax  = 100 * time.Millisecond
)

// headerAllowance is kept free below a bucket's max_value_size for the headers of a CAS write
// (Nats-Expected-Last-Subject-Sequence): the server counts headers against the limit.
const headerAllowance = 256

// Option tunes a Store.
type Option func(*options) error

type options struct {
	maxValueSize int
	maxAttempts  int
	backoffBase  time.Duration
	backoffMax   time.Duration
	onConflict   func(key string, attempt int)
}

func defaultOptions() options {
	return options{
		maxValueSize: DefaultMaxValueSize,
		maxAttempts:  DefaultMaxAttempts,
		backoffBase:  DefaultBackoffBase,
		backoffMax:   DefaultBackoffMax,
	}
}

func buildOptions(opts []Option) (options, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return options{}, err
		}
	}
	return o, nil
}

// WithMaxValueSize refuses encoded values larger than n bytes (default DefaultMaxValueSize).
// Open lowers it further to fit the bucket's max_value_size.
func WithMaxValueSize(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("%w: max value size %d, want > 0", ErrInvalidOption, n)
		}
		o.maxValueSize = n
		return nil
	}
}

// WithMaxAttempts sets how many times Update tries its compare-and-swap before ErrConflict
// (default DefaultMaxAttempts).
func WithMaxAttempts(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: max attempts %d, want >= 1", ErrInvalidOption, n)
		}
		o.maxAttempts = n
		return nil
	}
}

// WithBackoff sets the pause between Update attempts: a random duration up to base*2^(n-1)
// after the n-th conflict, capped at max. Jitter keeps replicas that collided once from
// colliding again in lockstep.
func WithBackoff(base, maxDelay time.Duration) Option {
	return func(o *options) error {
		if base <= 0 || maxDelay < base {
			return fmt.Errorf("%w: backoff base %v max %v, want 0 < base <= max", ErrInvalidOption, base, maxDelay)
		}
		o.backoffBase, o.backoffMax = base, maxDelay
		return nil
	}
}

// OnConflict calls fn each time Update loses a compare-and-swap race, with the key and the
// attempt that lost (1-based), before it retries or gives up. Use it for metrics; fn must be
// fast and safe for concurrent use.
func OnConflict(fn func(key string, attempt int)) Option {
	return func(o *options) error {
		o.onConflict = fn
		return nil
	}
}
