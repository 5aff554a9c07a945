// Package telemetry wires OpenTelemetry for jetflow: W3C trace context in NATS headers, and the
// tracer and meter providers of a process (OTLP when the standard OTEL_* variables ask for it,
// Prometheus text on /metrics always).
package telemetry

import (
	"context"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/trace"

	"github.com/jetflow-dev/jetflow/internal/telemetry/tracecontext"
)

// HeaderCarrier lets a propagator read and write trace context in NATS message headers.
// NATS headers are case-sensitive; W3C names (traceparent, tracestate) are used as written.
type HeaderCarrier nats.Header

// Get returns the first value of key.
func (c HeaderCarrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set replaces key.
func (c HeaderCarrier) Set(key, value string) { c[key] = []string{value} }

// Keys lists the header names.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// propagator is the W3C trace-context and baggage propagator, the one the model clients use too.
var propagator = tracecontext.Propagator()

// Extract returns ctx with the remote span context found in h, if any.
func Extract(ctx context.Context, h nats.Header) context.Context {
	if h == nil {
		return ctx
	}
	return propagator.Extract(ctx, HeaderCarrier(h))
}

// Inject writes the span context of ctx into h. A context with neither a span nor baggage (no
// tracing configured, or an unsampled request without a parent) writes nothing, without the
// allocation the propagators spend finding that out on every output.
func Inject(ctx context.Context, h nats.Header) {
	if !trace.SpanContextFromContext(ctx).IsValid() && baggage.FromContext(ctx).Len() == 0 {
		return
	}
	propagator.Inject(ctx, HeaderCarrier(h))
}
