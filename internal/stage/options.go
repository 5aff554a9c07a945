package stage

import (
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// instrumentationName names the runtime's tracer and meter.
const instrumentationName = "github.com/jetflow-dev/jetflow/internal/stage"

// Gate is consulted before every pull. While OpenFor returns a positive duration the stage pulls
// nothing: an open circuit breaker makes a stage stop taking work instead of burning the
// delivery budget of messages against a dead upstream. breaker.Set implements it.
type Gate interface {
	OpenFor() time.Duration
}

// prober is the optional part of a Gate: while Probing is true (a half-open breaker), the stage
// takes one message at a time.
type prober interface{ Probing() bool }

// Option tunes a Stage. An option given nil keeps the default, as the workers' own options do,
// so that a caller can pass along what it was given without checking it.
type Option func(*Stage)

// WithLogger sets the logger. The default discards logs.
func WithLogger(l *slog.Logger) Option {
	return func(s *Stage) {
		if l != nil {
			s.log = l
		}
	}
}

// WithTracerProvider sets where spans go. The default is the global provider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(s *Stage) {
		if tp != nil {
			s.tracer = tp.Tracer(instrumentationName)
		}
	}
}

// WithMeterProvider sets where metrics go. The default is the global provider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(s *Stage) {
		if mp != nil {
			s.meterProvider = mp
		}
	}
}

// WithGate makes the stage stop pulling while the gate is open. The default is no gate.
func WithGate(g Gate) Option {
	return func(s *Stage) {
		if g != nil {
			s.gate = g
		}
	}
}
