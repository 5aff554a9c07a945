// Package tracecontext is what every hop of a request shares to stay in one trace: the W3C
// trace-context and baggage propagator (NATS headers between stages, traceparent on HTTP and gRPC
// calls to the model servers, Milvus and Kubernetes), a tracer provider that starts a call's span
// where its caller's span goes, and the count of a call's attempts. It is apart from package
// telemetry so that the model clients link it without the exporters.
package tracecontext

import "go.opentelemetry.io/otel/propagation"

// propagator writes and reads traceparent, tracestate and baggage.
var propagator propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// Propagator returns the W3C trace-context and baggage propagator. vLLM and Ray Serve continue
// a trace from the traceparent it writes.
func Propagator() propagation.TextMapPropagator { return propagator }
