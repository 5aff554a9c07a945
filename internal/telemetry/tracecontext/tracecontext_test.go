package tracecontext

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestPropagatorIsW3CTraceContextAndBaggage(t *testing.T) {
	got := Propagator().Fields()
	for _, want := range []string{"traceparent", "tracestate", "baggage"} {
		if !slices.Contains(got, want) {
			t.Errorf("propagator fields %v lack %q", got, want)
		}
	}
}

// A span started through FollowCaller goes to the provider of the span in the context, as a
// child of it; without one it goes to the global provider (a no-op unless a process set one).
func TestFollowCaller(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, parent := tp.Tracer("stage").Start(t.Context(), "chat-retrieve")
	_, child := FollowCaller().Tracer("grpc").Start(ctx, "Search")
	child.End()
	parent.End()
	spans := exp.GetSpans()
	if len(spans) != 2 || spans[0].Name != "Search" || spans[0].Parent.SpanID() != parent.SpanContext().SpanID() {
		t.Fatalf("spans = %v, want Search as a child of chat-retrieve", spans)
	}
	if spans[0].InstrumentationScope.Name != "grpc" {
		t.Errorf("scope = %q, want the instrumentation's", spans[0].InstrumentationScope.Name)
	}

	_, orphan := FollowCaller().Tracer("grpc").Start(t.Context(), "Search")
	defer orphan.End()
	if orphan.IsRecording() {
		t.Error("a span without a caller was recorded by the global no-op provider")
	}
}

// Each round trip is an attempt of the call counted in its context, and the status lands on
// the caller's span; the traceparent sent is the HTTP span's, in the caller's trace.
func TestTransportCountsAttemptsAndRecordsTheStatus(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("traceparent"))
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	t.Cleanup(srv.Close)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, call := tp.Tracer("breaker").Start(t.Context(), "kubernetes")
	ctx, attempts := CountAttempts(ctx)
	hc := &http.Client{Transport: Transport(nil)}
	for range 3 { // a client retrying by itself
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, http.NoBody)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	attempts.Record(ctx)
	call.End()

	var callSpan tracetest.SpanStub
	var httpSpans []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.SpanKind == trace.SpanKindClient {
			httpSpans = append(httpSpans, s)
		} else {
			callSpan = s
		}
	}
	attrs := map[string]int64{}
	for _, kv := range callSpan.Attributes {
		attrs[string(kv.Key)] = kv.Value.AsInt64()
	}
	if attrs[string(AttrRetries)] != 2 || attrs["http.response.status_code"] != http.StatusTooManyRequests {
		t.Errorf("call span attributes %v, want 2 retries and status 429", attrs)
	}
	if len(httpSpans) != 3 || len(got) != 3 {
		t.Fatalf("%d HTTP spans, %d requests, want 3 of each", len(httpSpans), len(got))
	}
	for i, s := range httpSpans {
		if want := "00-" + s.SpanContext.TraceID().String() + "-" + s.SpanContext.SpanID().String() + "-01"; got[i] != want || s.Parent.SpanID() != call.SpanContext().SpanID() {
			t.Errorf("attempt %d: traceparent %q, parent %s; want %q under the call's span", i, got[i], s.Parent.SpanID(), want)
		}
	}
}

// Without a trace nothing is injected, and a call nobody counts counts nothing.
func TestTransportWithoutATrace(t *testing.T) {
	var h http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h = r.Header.Clone() }))
	t.Cleanup(srv.Close)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: Transport(nil)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, f := range (propagation.TraceContext{}).Fields() {
		if h.Get(f) != "" {
			t.Errorf("%s sent without a trace: %q", f, h.Get(f))
		}
	}
}
