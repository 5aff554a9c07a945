package breaker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/telemetry/tracecontext"
)

// The attributes of a call's span (see Do).
const (
	// AttrUpstream names the upstream called (LLM, Embeddings, ...).
	AttrUpstream = attribute.Key("jetflow.upstream")
	// AttrDecision is what the breaker decided about the call: one of the Decision* values.
	AttrDecision = attribute.Key("jetflow.breaker.decision")
)

// The breaker's decisions, as AttrDecision records them.
const (
	DecisionAllowed        = "allowed"         // closed: the call went through
	DecisionProbe          = "probe"           // half-open: the call went through to test the upstream
	DecisionRefusedOpen    = "refused_open"    // open: refused without calling
	DecisionRefusedProbing = "refused_probing" // half-open with every probe slot taken: refused without calling
)

// tracerScope is the instrumentation scope of the calls' spans.
const tracerScope = "github.com/jetflow-dev/jetflow/internal/breaker"

// callSpan is every call's span kind: in-process, around the client's own (HTTP or gRPC) spans.
var callSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)}

// Do runs call through b. While b refuses calls it returns at once, without calling, an error
// matching ErrOpen and carrying failure.RetryAfter; otherwise it returns call's own result
// unchanged. A panic in call counts as a failure and keeps unwinding.
//
// Each call has a span named after the upstream, a child of the span in ctx (the stage's) in
// that span's tracer provider, holding AttrUpstream, AttrDecision and the call's error; call
// gets the span in its ctx, so the client adds what it knows (the HTTP status, its retries) and
// its own HTTP or gRPC span under it.
func Do[T any](ctx context.Context, b *Breaker, call func(ctx context.Context) (T, error)) (T, error) {
	var zero T
	// A caller that already gave up must not take a half-open probe slot.
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	ctx, span := tracecontext.FollowCaller().Tracer(tracerScope).Start(ctx, b.upstream, callSpan...)
	defer span.End()
	done, err := b.cb.Allow()
	if err != nil {
		decision := DecisionRefusedProbing
		if errors.Is(err, gobreaker.ErrOpenState) {
			decision = DecisionRefusedOpen
		}
		err = b.refused(err)
		span.SetAttributes(AttrUpstream.String(b.upstream), AttrDecision.String(decision))
		recordFailure(span, err)
		return zero, err
	}
	if span.IsRecording() {
		decision := DecisionAllowed
		if b.cb.State() == gobreaker.StateHalfOpen {
			decision = DecisionProbe
		}
		span.SetAttributes(AttrUpstream.String(b.upstream), AttrDecision.String(decision))
	}
	reported := false
	defer func() {
		if !reported {
			done(errPanicked)
			recordFailure(span, errPanicked)
		}
	}()
	v, err := call(ctx)
	reported = true
	done(outcome(ctx, err))
	if err != nil {
		recordFailure(span, err)
	}
	return v, err
}

// recordFailure marks the call's span failed, spending nothing on a span that is not recorded.
func recordFailure(span trace.Span, err error) {
	if span.IsRecording() {
		span.SetStatus(codes.Error, err.Error())
	}
}

// outcome is the error gobreaker judges: the call's own, or errCallerCanceled when the caller
// cancelled ctx, since whatever the call returned then says nothing about the upstream. An
// expired deadline is not excluded: a hung upstream shows itself only as timeouts.
func outcome(ctx context.Context, err error) error {
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("%w: %w", errCallerCanceled, err)
	}
	return err
}

// isSuccessful counts permanent errors as successes: the upstream answered, the input was bad.
func isSuccessful(err error) bool {
	return err == nil || failure.IsPermanent(err)
}

func isExcluded(err error) bool {
	return errors.Is(err, errCallerCanceled)
}

// refused turns gobreaker's refusal into ErrOpen with the delay after which a call may pass.
func (b *Breaker) refused(err error) error {
	delay, why := minRetryDelay, " (half-open, probes in flight)"
	if errors.Is(err, gobreaker.ErrOpenState) {
		delay, why = max(b.remaining(time.Now()), minRetryDelay), ""
	}
	// Not attempted: the runtime gives the message back without spending a delivery on it.
	return failure.NotAttempted(failure.RetryAfter(fmt.Errorf("calling %s from stage %s: %w%s, retry in %v",
		b.upstream, b.stage, ErrOpen, why, delay.Round(time.Millisecond)), delay))
}
