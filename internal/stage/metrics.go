package stage

import (
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// instruments are the per-stage metrics. Every series carries the stage attribute.
type instruments struct {
	processed    metric.Int64Counter       // messages finished, by outcome
	retried      metric.Int64Counter       // naks with a delay after a retryable failure
	deadLettered metric.Int64Counter       // copies published to the dead-letter stream
	inFlight     metric.Int64UpDownCounter // handlers running now
	duration     metric.Float64Histogram   // handler time in seconds
	// The options are built once: passing a MeasurementOption to a variadic parameter allocates
	// a slice per call, and merging an extra attribute costs a set hash per message.
	add    []metric.AddOption    // the stage attribute
	record []metric.RecordOption // the stage attribute
	// outcome holds, per outcome, the stage and outcome attributes as one set.
	outcome map[string][]metric.AddOption
}

// Outcomes recorded on jetflow.stage.processed.
const (
	outcomeAcked        = "acked"
	outcomeRetried      = "retried"
	outcomeDeadLettered = "dead_lettered"
	outcomeNaked        = "naked"    // given back at shutdown
	outcomeRequeued     = "requeued" // put back as a fresh copy: its work could not be attempted
)

func newInstruments(m metric.Meter, stage string) (*instruments, error) {
	var ins instruments
	var err error
	if ins.processed, err = m.Int64Counter("jetflow.stage.processed",
		metric.WithDescription("Messages a stage finished with, by outcome.")); err != nil {
		return nil, fmt.Errorf("creating processed counter: %w", err)
	}
	if ins.retried, err = m.Int64Counter("jetflow.stage.retried",
		metric.WithDescription("Messages given back for a delayed retry after a retryable failure.")); err != nil {
		return nil, fmt.Errorf("creating retried counter: %w", err)
	}
	if ins.deadLettered, err = m.Int64Counter("jetflow.stage.dead_lettered",
		metric.WithDescription("Messages copied to the dead-letter stream.")); err != nil {
		return nil, fmt.Errorf("creating dead-lettered counter: %w", err)
	}
	if ins.inFlight, err = m.Int64UpDownCounter("jetflow.stage.in_flight",
		metric.WithDescription("Messages being handled now.")); err != nil {
		return nil, fmt.Errorf("creating in-flight counter: %w", err)
	}
	if ins.duration, err = m.Float64Histogram("jetflow.stage.handler.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Time spent in the stage handler per message."),
		metric.WithExplicitBucketBoundaries(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)); err != nil {
		return nil, fmt.Errorf("creating duration histogram: %w", err)
	}
	attrs := metric.WithAttributeSet(attribute.NewSet(attribute.String("stage", stage)))
	ins.add = []metric.AddOption{attrs}
	ins.record = []metric.RecordOption{attrs}
	ins.outcome = make(map[string][]metric.AddOption, 5)
	for _, o := range []string{outcomeAcked, outcomeRetried, outcomeDeadLettered, outcomeNaked, outcomeRequeued} {
		ins.outcome[o] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("stage", stage), attribute.String("outcome", o)))}
	}
	return &ins, nil
}
