package telemetry

import "go.opentelemetry.io/otel/trace"

// Option changes what Setup builds.
type Option func(*options)

type options struct {
	tracer trace.TracerProvider
}

// WithTracerProvider makes the process's spans go to tp, whatever the OTEL_* variables say; the
// caller owns tp and shuts it down. A test records a worker's spans this way, with an in-memory
// exporter (go.opentelemetry.io/otel/sdk/trace/tracetest).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracer = tp }
}
