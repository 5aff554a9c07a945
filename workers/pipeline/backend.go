package pipeline

import (
	"context"
	"time"

	"github.com/jetflow-dev/jetflow/internal/breaker"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

// backend starts and reads runs on one pipeline system. Argo and KFP implement it.
type backend interface {
	// start creates the run, or adopts the one an earlier delivery of the same trigger created.
	start(ctx context.Context, r *Run) (observation, error)
	// observe reads the run's current state. A run that no longer exists is ErrRunGone.
	observe(ctx context.Context, r *Run, ref string) (observation, error)
	// statusName is the backend as PipelineStatus.backend names it.
	statusName() string
}

// observation is what the bridge saw of a run at one moment.
type observation struct {
	// ref is what observe needs to find the run again: the Workflow's name, the KFP run id.
	ref     string
	phase   jetflowv1.PipelineStatus_Phase
	message string
	// adopted is true when start found an existing run instead of creating one.
	adopted bool
}

func terminal(p jetflowv1.PipelineStatus_Phase) bool {
	switch p {
	case jetflowv1.PipelineStatus_PHASE_SUCCEEDED, jetflowv1.PipelineStatus_PHASE_FAILED, jetflowv1.PipelineStatus_PHASE_ERROR:
		return true
	}
	return false
}

// call runs fn through the breaker with a per-call timeout. fn marks its own errors, so that a
// permanent refusal counts as a live upstream.
func call[T any](ctx context.Context, brk *breaker.Breaker, timeout time.Duration, fn func(ctx context.Context) (T, error)) (T, error) {
	return breaker.Do(ctx, brk, func(ctx context.Context) (T, error) {
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		return fn(ctx)
	})
}
