package milvus_test

import (
	"context"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/jetflow-dev/jetflow/internal/telemetry/tracecontext"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval/milvus"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval/milvusfake"
)

// tracedSearch runs search inside a recorded span standing for the call's span, and returns it.
func tracedSearch(t *testing.T, search func(context.Context) error) (tracetest.SpanStub, []tracetest.SpanStub) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	c, span := tp.Tracer("test").Start(ctx(t, 10*time.Second), "milvus")
	_ = search(c)
	span.End()
	var call tracetest.SpanStub
	var rpcs []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		switch {
		case s.SpanContext.SpanID() == span.SpanContext().SpanID():
			call = s
		case s.SpanKind == trace.SpanKindClient:
			rpcs = append(rpcs, s)
		}
	}
	return call, rpcs
}

func retries(s tracetest.SpanStub) (int64, bool) {
	for _, kv := range s.Attributes {
		if kv.Key == tracecontext.AttrRetries {
			return kv.Value.AsInt64(), true
		}
	}
	return 0, false
}

// Every RPC of a search has a gRPC client span under the caller's and carries its traceparent
// to Milvus; a search answered at once records no retry.
func TestSearchCarriesTraceparent(t *testing.T) {
	srv, r := open(t, milvusfake.Collection{Records: records()}, milvus.Config{})
	call, rpcs := tracedSearch(t, func(c context.Context) error {
		_, err := r.Search(c, retrieval.Query{Vector: unit, TopK: 1})
		return err
	})
	if len(rpcs) != 2 { // DescribeCollection (first search), Search
		t.Fatalf("%d gRPC spans, want 2: %v", len(rpcs), rpcs)
	}
	parents := srv.Traceparents()
	if len(parents) != len(rpcs) {
		t.Fatalf("Milvus received %d calls, want %d", len(parents), len(rpcs))
	}
	for i, s := range rpcs {
		if s.Parent.SpanID() != call.SpanContext.SpanID() {
			t.Errorf("gRPC span %s: parent %s, want the call's span", s.Name, s.Parent.SpanID())
		}
		if want := "00-" + s.SpanContext.TraceID().String() + "-" + s.SpanContext.SpanID().String() + "-01"; !strings.Contains(strings.Join(parents, " "), want) {
			t.Errorf("Milvus did not receive %s's traceparent %s: %v (call %d)", s.Name, want, parents, i)
		}
	}
	if n, ok := retries(call); !ok || n != 0 {
		t.Errorf("%s = %d (%v), want 0", tracecontext.AttrRetries, n, ok)
	}
}

// The SDK retries a search the server could not take (Unavailable) as separate RPCs: the
// call's span says how many times.
func TestSearchRetriesAreRecorded(t *testing.T) {
	srv, r := open(t, milvusfake.Collection{Records: records()}, milvus.Config{})
	if _, err := r.Search(ctx(t, 5*time.Second), retrieval.Query{Vector: unit, TopK: 1}); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	// Let the connection notice that the server is gone: a call made before it has is repeated
	// once by gRPC itself (a transparent retry, not one of ours), which adds a span.
	_ = r.Ping(ctx(t, 300*time.Millisecond))
	call, rpcs := tracedSearch(t, func(c context.Context) error {
		_, err := r.Search(c, retrieval.Query{Vector: unit, TopK: 1})
		if err == nil {
			t.Fatal("Search succeeded against a stopped server")
		}
		return err
	})
	if n, _ := retries(call); n != 2 || len(rpcs) != 3 {
		t.Fatalf("%s = %d with %d gRPC spans, want 2 retries of 3 attempts (the search's retry budget)", tracecontext.AttrRetries, n, len(rpcs))
	}
}
