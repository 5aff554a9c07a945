package modelhttp

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// Every call carries traceparent, from a client span under the caller's, and the status the
// server answered is set on the caller's span (the call's span breaker.Do starts), success or
// failure; a client given its own *http.Client instruments a copy of it.
func TestCallsCarryTraceparentAndRecordTheStatus(t *testing.T) {
	tests := []struct {
		name   string
		status int
		own    bool // WithHTTPClient
	}{
		{name: "ok", status: http.StatusOK},
		{name: "unavailable", status: http.StatusServiceUnavailable},
		{name: "bad request", status: http.StatusBadRequest},
		{name: "own client", status: http.StatusOK, own: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			received := make(chan string, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				received <- r.Header.Get("traceparent")
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(`{}`))
			}))
			t.Cleanup(srv.Close)
			var opts []Option
			own := srv.Client()
			ownTransport := own.Transport
			if tt.own {
				opts = append(opts, WithHTTPClient(own))
			}
			c := newTestClient(t, srv.URL, Config{}, opts...)

			exp := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
			t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			ctx, call := tp.Tracer("test").Start(t.Context(), "llm")
			_ = c.PostJSON(ctx, "/chat/completions", struct{}{}, decodeInto(new(map[string]any)))
			call.End()

			got := <-received
			spans := exp.GetSpans()
			var httpSpan, callSpan tracetest.SpanStub
			for _, s := range spans {
				switch s.SpanKind {
				case trace.SpanKindClient:
					httpSpan = s
				case trace.SpanKindInternal:
					callSpan = s
				}
			}
			if httpSpan.Parent.SpanID() != call.SpanContext().SpanID() {
				t.Fatalf("HTTP span's parent = %s, want the call's span %s (spans: %v)", httpSpan.Parent.SpanID(), call.SpanContext().SpanID(), spans)
			}
			if want := "00-" + call.SpanContext().TraceID().String() + "-" + httpSpan.SpanContext.SpanID().String() + "-01"; got != want {
				t.Errorf("traceparent = %q, want %q", got, want)
			}
			var status int64
			for _, kv := range callSpan.Attributes {
				if kv.Key == "http.response.status_code" {
					status = kv.Value.AsInt64()
				}
			}
			if status != int64(tt.status) {
				t.Errorf("call span's http.response.status_code = %d, want %d", status, tt.status)
			}
			if tt.own && own.Transport != ownTransport {
				t.Error("WithHTTPClient's client was changed; the model client must instrument a copy")
			}
		})
	}
}

// Without a span in the context (nothing traced) no traceparent is invented.
func TestNoTraceparentWithoutATrace(t *testing.T) {
	received := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received <- r.Header.Clone()
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	c := newTestClient(t, srv.URL, Config{})
	if err := c.PostJSON(t.Context(), "/embeddings", struct{}{}, decodeInto(new(map[string]any))); err != nil {
		t.Fatal(err)
	}
	if h := <-received; h.Get("traceparent") != "" {
		t.Fatalf("traceparent %q sent without a trace", h.Get("traceparent"))
	}
}
