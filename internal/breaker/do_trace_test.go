package breaker

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/jetflow-dev/jetflow/internal/telemetry/tracecontext"
)

// traced returns a context holding a stage-like parent span of a provider that records into the
// returned exporter.
func traced(t *testing.T) (context.Context, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, span := tp.Tracer("test").Start(t.Context(), "stage")
	t.Cleanup(func() { span.End() })
	return ctx, exp
}

// callSpans returns the ended spans of upstream calls (those named after an upstream).
func callSpans(exp *tracetest.InMemoryExporter, upstream string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name == upstream {
			out = append(out, s)
		}
	}
	return out
}

func attr(s tracetest.SpanStub, key attribute.Key) (attribute.Value, bool) {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func TestCallSpanRecordsTheDecision(t *testing.T) {
	ctx, exp := traced(t)
	b := New("chat-retrieve", Embeddings, Settings{ConsecutiveFailures: 1, Timeout: 300 * time.Millisecond, MaxRequests: 1})
	u := &upstream{}

	if _, err := Do(ctx, b, u.answer(nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := Do(ctx, b, u.answer(errUnavailable)); !errors.Is(err, errUnavailable) {
		t.Fatalf("err = %v", err)
	}
	if _, err := Do(ctx, b, u.answer(nil)); !errors.Is(err, ErrOpen) {
		t.Fatalf("err = %v, want ErrOpen", err)
	}
	waitHalfOpen(t, b)
	started, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _ = Do(ctx, b, func(context.Context) (string, error) {
			close(started)
			<-release
			return "ok", nil
		})
	})
	<-started
	if _, err := Do(ctx, b, u.answer(nil)); !errors.Is(err, ErrOpen) {
		t.Fatalf("err while probing = %v, want ErrOpen", err)
	}
	close(release)
	wg.Wait()

	spans := callSpans(exp, Embeddings)
	// In the order they ended: the refusal while probing ends before the probe it waited on.
	want := []struct {
		decision string
		failed   bool
	}{
		{DecisionAllowed, false},
		{DecisionAllowed, true},
		{DecisionRefusedOpen, true},
		{DecisionRefusedProbing, true},
		{DecisionProbe, false},
	}
	if len(spans) != len(want) {
		t.Fatalf("%d call spans, want %d", len(spans), len(want))
	}
	for i, w := range want {
		s := spans[i]
		if got, _ := attr(s, AttrDecision); got.AsString() != w.decision {
			t.Errorf("span %d: %s = %q, want %q", i, AttrDecision, got.AsString(), w.decision)
		}
		if got, _ := attr(s, AttrUpstream); got.AsString() != Embeddings {
			t.Errorf("span %d: %s = %q, want %q", i, AttrUpstream, got.AsString(), Embeddings)
		}
		if failed := s.Status.Code == codes.Error; failed != w.failed {
			t.Errorf("span %d: status %v, want failed=%v", i, s.Status, w.failed)
		}
		if s.Parent.SpanID() == [8]byte{} || s.SpanKind.String() != "internal" {
			t.Errorf("span %d: parent %v kind %v, want a child of the stage's span", i, s.Parent.SpanID(), s.SpanKind)
		}
	}
}

// A failing upstream behind the real HTTP instrumentation: its 503 is on the call's span, the
// HTTP client span is a child of it, and the next call, refused, says why.
func TestCallSpanOfAFailingUpstream(t *testing.T) {
	ctx, exp := traced(t)
	var gotTraceparent string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotTraceparent = r.Header.Get("traceparent")
		http.Error(w, "no healthy replicas", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	hc := &http.Client{Transport: tracecontext.Transport(nil)}
	b := New("chat-generate", LLM, Settings{ConsecutiveFailures: 1, Timeout: time.Minute})
	call := func(ctx context.Context) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, http.NoBody)
		if err != nil {
			return 0, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		return resp.StatusCode, errUnavailable
	}
	if _, err := Do(ctx, b, call); !errors.Is(err, errUnavailable) {
		t.Fatalf("err = %v", err)
	}
	if _, err := Do(ctx, b, call); !errors.Is(err, ErrOpen) {
		t.Fatalf("err = %v, want ErrOpen", err)
	}

	spans := callSpans(exp, LLM)
	if len(spans) != 2 {
		t.Fatalf("%d call spans, want 2", len(spans))
	}
	failed, refused := spans[0], spans[1]
	if got, ok := attr(failed, "http.response.status_code"); !ok || got.AsInt64() != http.StatusServiceUnavailable {
		t.Errorf("failed call: http.response.status_code = %v (%v), want 503", got.String(), ok)
	}
	if failed.Status.Code != codes.Error {
		t.Errorf("failed call: status %v, want an error", failed.Status)
	}
	if got, _ := attr(refused, AttrDecision); got.AsString() != DecisionRefusedOpen {
		t.Errorf("refused call: %s = %q, want %q", AttrDecision, got.AsString(), DecisionRefusedOpen)
	}
	if _, ok := attr(refused, "http.response.status_code"); ok {
		t.Error("refused call has an HTTP status: it must not have reached the upstream")
	}
	var httpSpans int
	for _, s := range exp.GetSpans() {
		if s.Parent.SpanID() == failed.SpanContext.SpanID() {
			httpSpans++
			if want := "00-" + s.SpanContext.TraceID().String() + "-" + s.SpanContext.SpanID().String() + "-01"; gotTraceparent != want {
				t.Errorf("upstream received traceparent %q, want %q (the HTTP span's)", gotTraceparent, want)
			}
		}
	}
	if httpSpans != 1 {
		t.Errorf("%d HTTP spans under the failed call, want 1", httpSpans)
	}
}
