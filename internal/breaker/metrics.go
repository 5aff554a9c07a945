package breaker

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Metric names exported with WithMeter.
const (
	StateMetric       = "jetflow.breaker.state"
	TransitionsMetric = "jetflow.breaker.transitions"
)

type instruments struct {
	transitions metric.Int64Counter
	stage       attribute.KeyValue
	upstream    attribute.KeyValue
}

// newInstruments registers b's state gauge and transition counter on m. The gauge callback is
// never unregistered: breakers live as long as the process that exports them. OpenTelemetry
// instruments stay usable when their creation reports an error, so errors are only logged.
func newInstruments(m metric.Meter, b *Breaker) *instruments {
	in := &instruments{
		stage:    attribute.String("stage", b.stage),
		upstream: attribute.String("upstream", b.upstream),
	}
	var err error
	in.transitions, err = m.Int64Counter(TransitionsMetric,
		metric.WithDescription("Circuit breaker state changes, by the state entered."),
		metric.WithUnit("{transition}"))
	if err != nil {
		b.logger.Warn("creating breaker transition counter", "err", err)
	}
	gauge, err := m.Int64ObservableGauge(StateMetric,
		metric.WithDescription("Circuit breaker state: 0 closed, 1 half-open, 2 open."),
		metric.WithUnit("{state}"))
	if err != nil {
		b.logger.Warn("creating breaker state gauge", "err", err)
	}
	attrs := metric.WithAttributes(in.stage, in.upstream)
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(gauge, int64(b.observedState(time.Now())), attrs)
		return nil
	}, gauge)
	if err != nil {
		b.logger.Warn("registering breaker state gauge", "err", err)
	}
	return in
}

func (in *instruments) transition(to State) {
	// The counter is added to from inside gobreaker's callback, which has no context.
	in.transitions.Add(context.Background(), 1,
		metric.WithAttributes(in.stage, in.upstream, attribute.String("state", to.String())))
}
