package breaker

import (
	"log/slog"

	"go.opentelemetry.io/otel/metric"
)

// Option tunes a Breaker (and every breaker of a Set).
type Option func(*options)

type options struct {
	logger *slog.Logger
	meter  metric.Meter
}

// WithLogger sets where state changes are logged; the default discards them.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithMeter exports the breaker's state and its transitions; the default exports nothing.
func WithMeter(m metric.Meter) Option {
	return func(o *options) { o.meter = m }
}
