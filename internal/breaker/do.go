package breaker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/sony/gobreaker/v2"
)

// Do runs call through b. While b refuses calls it returns at once, without calling, an error
// matching ErrOpen and carrying failure.RetryAfter; otherwise it returns call's own result
// unchanged. A panic in call counts as a failure and keeps unwinding.
func Do[T any](ctx context.Context, b *Breaker, call func(ctx context.Context) (T, error)) (T, error) {
	var zero T
	// A caller that already gave up must not take a half-open probe slot.
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	done, err := b.cb.Allow()
	if err != nil {
		return zero, b.refused(err)
	}
	reported := false
	defer func() {
		if !reported {
			done(errPanicked)
		}
	}()
	v, err := call(ctx)
	reported = true
	done(outcome(ctx, err))
	return v, err
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
