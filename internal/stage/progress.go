package stage

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// CanProgressMetric is the stage's own answer to "would this replica take work now": 1, or 0
// while its gate holds pulls (an open breaker, or a half-open one) or lets one probe at a time
// through (half-open). The autoscaler reads it (deploy/kubernetes/base/*/scaledobject.yaml): a
// stage that cannot progress on any replica gains nothing from more replicas.
const CanProgressMetric = "jetflow.stage.can_progress"

// progressReporter is the optional part of a Gate that answers "can the stage take work" without
// changing the gate (breaker.Set does). The gauge is read while metrics are collected, and a
// collection must have no side effects: moving a breaker logs and records a metric from inside
// its own lock.
type progressReporter interface{ CanProgress() bool }

// canProgress reads the gate at collection time, so the gauge needs no goroutine and cannot lag
// behind the gate. A half-open gate counts as no progress: the stage takes one message at a time
// until a probe closes the breaker, so a backlog then is not a reason to add replicas. A gate
// that cannot report without side effects is read as the puller reads it.
func (s *Stage) canProgress() int64 {
	if s.gate == nil {
		return 1
	}
	if r, ok := s.gate.(progressReporter); ok {
		if r.CanProgress() {
			return 1
		}
		return 0
	}
	if s.gate.OpenFor() > 0 || s.probing() {
		return 0
	}
	return 1
}

// registerProgress registers the can-progress gauge of s on m. The callback is never
// unregistered: a stage lives as long as the process that exports it, as a breaker does.
func (s *Stage) registerProgress(m metric.Meter) error {
	gauge, err := m.Int64ObservableGauge(CanProgressMetric,
		metric.WithDescription("1 while the stage would take work, 0 while its breaker gate is open or half-open."))
	if err != nil {
		return fmt.Errorf("creating can-progress gauge: %w", err)
	}
	attrs := metric.WithAttributeSet(attribute.NewSet(attribute.String("stage", s.cfg.Name)))
	if _, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(gauge, s.canProgress(), attrs)
		return nil
	}, gauge); err != nil {
		return fmt.Errorf("registering can-progress gauge: %w", err)
	}
	return nil
}
