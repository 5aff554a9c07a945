package modelhttp

import (
	"fmt"
	"net/http"
	"time"
)

// DefaultMaxResponseBytes bounds a response body read whole (JSON answers) or streamed (speech
// audio). 32 MiB holds a batch of 32 large embeddings as JSON or about 11 minutes of 24 kHz PCM.
const DefaultMaxResponseBytes = 32 << 20

type options struct {
	httpClient       *http.Client
	maxResponseBytes int64
	now              func() time.Time
}

// Option tunes a client.
type Option func(*options) error

// WithHTTPClient makes the client send through hc, for instance to share one connection pool
// between clients. The default is a client from NewHTTPClient. The client sends through a copy
// of hc whose transport is wrapped in the OTel HTTP instrumentation (tracecontext.Transport), so
// every call carries traceparent: hc's own transport should not add it again. hc.Timeout should
// be zero: the per-call timeout comes from Config.Timeout and the caller's context.
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) error {
		if hc == nil {
			return fmt.Errorf("%w: nil *http.Client", ErrInvalidOption)
		}
		o.httpClient = hc
		return nil
	}
}

// WithMaxResponseBytes bounds every response body the client reads (default
// DefaultMaxResponseBytes). A longer body fails the call permanently with ErrResponseTooLarge.
func WithMaxResponseBytes(n int64) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("%w: max response bytes %d is not positive", ErrInvalidOption, n)
		}
		o.maxResponseBytes = n
		return nil
	}
}

// withClock replaces time.Now, for Retry-After dates in tests.
func withClock(now func() time.Time) Option {
	return func(o *options) error {
		o.now = now
		return nil
	}
}
