package stage

import (
	"context"
	"log/slog"
	"runtime/debug"

	"github.com/jetflow-dev/jetflow/internal/failure"
)

// Recoverer turns a panic in the handler into a permanent error: the message that caused it is
// dead-lettered (with "handler panicked: <value>" as its reason) and the stage goes on serving
// the others. The stack goes to log, where the dead letter cannot hold it. The runtime puts it
// outermost, so that a panic in any other middleware is caught too.
func Recoverer(log *slog.Logger) Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, in *Input) (outs []Output, err error) {
			defer func() {
				if r := recover(); r != nil {
					log.Error("handler panicked", "seq", in.Sequence, "panic", r, "stack", string(debug.Stack()))
					outs, err = nil, failure.Permanentf("handler panicked: %v", r)
				}
			}()
			return next.Handle(ctx, in)
		})
	}
}
