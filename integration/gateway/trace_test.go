package gateway

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/gateway"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/proto/jetflow/v1/jetflowv1connect"
)

// The caller's trace goes on through the gateway into the stages: the gateway's span for the
// call is in the caller's trace, and the model servers the stages call receive it.
func TestTraceContinuesIntoTheStages(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	h := newHarness(t, harnessOptions{config: func(c *gateway.Config) { c.Tracer = tp }})

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	traceparent := connect.WithInterceptors(headerInterceptor{"traceparent", "00-" + traceID + "-00f067aa0ba902b7-01"})
	if _, err := jetflowv1connect.NewChatServiceClient(h.http, h.url, traceparent).Chat(h.p.Ctx,
		&jetflowv1.ChatRequest{RequestId: "traced", Query: "How does KEDA scale the workers?"}); err != nil {
		t.Fatal(err)
	}
	jstest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error { // the span ends after the answer is sent
		ended := spans.Ended()
		if !slices.ContainsFunc(ended, func(s sdktrace.ReadOnlySpan) bool {
			return s.Name() == "jetflow.v1.ChatService/Chat" && s.SpanContext().TraceID().String() == traceID
		}) {
			return fmt.Errorf("no gateway span for the call in trace %s among %d spans", traceID, len(ended))
		}
		return nil
	})
	jstest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		for _, route := range []string{"POST /v1/embeddings", "POST /v1/chat/completions"} {
			if !slices.Contains(h.models.TraceIDs(route), traceID) {
				return fmt.Errorf("the stand-in has not received trace %s on %s", traceID, route)
			}
		}
		return nil
	})
}

// headerInterceptor sets one request header on every call.
type headerInterceptor struct{ name, value string }

func (i headerInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set(i.name, i.value)
		return next(ctx, req)
	}
}

func (i headerInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set(i.name, i.value)
		return conn
	}
}

func (i headerInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
