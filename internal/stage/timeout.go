package stage

import (
	"context"
	"time"
)

// Timeout bounds every handler call by d: the handler's context ends d after the call starts.
// A handler that returns the context's error is retried like any retryable failure. d <= 0
// means no bound (the runtime's default: Config.HandlerTimeout is 0), and the handler is
// returned as it is, at no cost per message.
func Timeout(d time.Duration) Middleware {
	return func(next Handler) Handler {
		if d <= 0 {
			return next
		}
		return HandlerFunc(func(ctx context.Context, in *Input) ([]Output, error) {
			ctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			return next.Handle(ctx, in)
		})
	}
}
