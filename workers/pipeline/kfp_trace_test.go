package pipeline

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/jetflow-dev/jetflow/internal/breaker"
)

// recordedSpan starts a span standing for the stage's, recorded in the returned exporter.
func recordedSpan(t *testing.T) (context.Context, trace.Span, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, span := tp.Tracer("test").Start(t.Context(), StageName)
	return ctx, span, exp
}

// checkCallSpan checks that the upstream's call span is a child of stage and holds status, and that
// the upstream received the traceparent of an HTTP span under the call span.
func checkCallSpan(t *testing.T, exp *tracetest.InMemoryExporter, stage trace.Span, upstream string, status int64, received []string) {
	t.Helper()
	var call tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name == upstream {
			call = s
		}
	}
	if call.Parent.SpanID() != stage.SpanContext().SpanID() {
		t.Fatalf("no %s call span under the stage's span: %v", upstream, exp.GetSpans())
	}
	attrs := map[string]int64{}
	for _, kv := range call.Attributes {
		attrs[string(kv.Key)] = kv.Value.AsInt64()
	}
	if attrs["http.response.status_code"] != status {
		t.Errorf("%s call span: http.response.status_code = %d, want %d", upstream, attrs["http.response.status_code"], status)
	}
	for _, s := range exp.GetSpans() {
		if s.Parent.SpanID() != call.SpanContext.SpanID() {
			continue
		}
		want := "00-" + s.SpanContext.TraceID().String() + "-" + s.SpanContext.SpanID().String() + "-01"
		for _, got := range received {
			if got == want {
				return
			}
		}
	}
	t.Errorf("%s received traceparents %v, none of an HTTP span under the call's span", upstream, received)
}

// A KFP call carries traceparent and its call span records what KFP answered, however the
// backend's HTTP client was made.
func TestKFPCallIsTraced(t *testing.T) {
	var received []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received = append(received, r.Header.Get("traceparent"))
		_, _ = w.Write([]byte(`{"run_id":"r-1","state":"RUNNING"}`))
	}))
	t.Cleanup(srv.Close)
	k := &kfpBackend{http: srv.Client(), base: srv.URL, brk: breaker.New(StageName, upstreamKFP, breaker.Settings{})}
	ctx, stage, exp := recordedSpan(t)
	if _, err := k.observe(ctx, &Run{Name: "nightly-1"}, "r-1"); err != nil {
		t.Fatal(err)
	}
	stage.End()
	checkCallSpan(t, exp, stage, upstreamKFP, http.StatusOK, received)
}
