package tracecontext

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// FollowCaller returns a tracer provider that starts each span with the provider of the span
// already in the context: the stage's, which the process's telemetry chose (an exporter, or
// none). Without a span in the context it uses the global provider. Instrumentation built once
// for a connection (the Milvus gRPC stats handler) records its spans in the trace of each call
// this way, with no provider to wire through.
func FollowCaller() trace.TracerProvider { return followCaller{} }

type followCaller struct{ embedded.TracerProvider }

func (followCaller) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return followTracer{name: name, opts: opts}
}

type followTracer struct {
	embedded.Tracer
	name string
	opts []trace.TracerOption
}

func (t followTracer) Start(ctx context.Context, spanName string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	return callerProvider(ctx).Tracer(t.name, t.opts...).Start(ctx, spanName, opts...)
}

// callerProvider is the provider of the span in ctx, or the global one when there is none.
func callerProvider(ctx context.Context) trace.TracerProvider {
	if span := trace.SpanFromContext(ctx); span.SpanContext().IsValid() {
		return span.TracerProvider()
	}
	return otel.GetTracerProvider()
}
