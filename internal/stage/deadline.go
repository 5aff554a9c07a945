package stage

import (
	"context"
	"fmt"
	"time"

	"github.com/jetflow-dev/jetflow/internal/failure"
)

// Deadline honours the input's own deadline (Input.Deadline): it refuses an input whose
// deadline has passed with failure.ErrExpired (permanent: answering late is worse than not
// answering), bounds the handler's context by the deadline, and reports a failure that comes
// back after the deadline as expired too, since a retry would be later still. An input without
// a deadline passes through untouched.
//
// The deadline is a field of the decoded message, so it is known only once the payload is
// decoded: Typed decodes, records the message's deadline on the Input, and calls its function
// through Deadline. A handler that decodes for itself can set no deadline on an Input, and
// Deadline has nothing to do for it.
func Deadline(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, in *Input) ([]Output, error) {
		deadline, ok := in.Deadline()
		if !ok {
			return next.Handle(ctx, in)
		}
		if !time.Now().Before(deadline) {
			return nil, fmt.Errorf("request deadline %s: %w", deadline.Format(time.RFC3339Nano), failure.ErrExpired)
		}
		ctx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		outs, err := next.Handle(ctx, in)
		if err != nil && !time.Now().Before(deadline) {
			return nil, fmt.Errorf("request deadline %s passed while handling (%v): %w", deadline.Format(time.RFC3339Nano), err, failure.ErrExpired)
		}
		return outs, err
	})
}
