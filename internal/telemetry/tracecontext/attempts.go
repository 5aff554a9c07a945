package tracecontext

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// AttrRetries is the number of times a client tried a call again after its first attempt, on
// the call's span (clients that retry by themselves: the Milvus SDK, client-go).
const AttrRetries = attribute.Key("jetflow.upstream.retries")

type attemptsKey struct{}

// Attempts counts the attempts a client makes of one call: the transport adds one per try (a
// gRPC attempt, an HTTP round trip), and the client records the retries once the call returns.
type Attempts struct{ n atomic.Int64 }

// CountAttempts returns ctx carrying a fresh count for the call about to be made with it.
func CountAttempts(ctx context.Context) (context.Context, *Attempts) {
	a := new(Attempts)
	return context.WithValue(ctx, attemptsKey{}, a), a
}

// AttemptStarted counts one attempt of the call ctx belongs to, if its client counts them.
func AttemptStarted(ctx context.Context) {
	if a, ok := ctx.Value(attemptsKey{}).(*Attempts); ok {
		a.n.Add(1)
	}
}

// Record sets the call's retries (attempts after the first) on the span of ctx.
func (a *Attempts) Record(ctx context.Context) {
	if n := a.n.Load(); n > 0 {
		trace.SpanFromContext(ctx).SetAttributes(AttrRetries.Int64(n - 1))
	}
}
