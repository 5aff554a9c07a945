package integration

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/telemetry"
	"github.com/jetflow-dev/jetflow/internal/worker"
	"github.com/jetflow-dev/jetflow/platform"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// tracedChat is chat-handler on stand-in models (reranker included), its spans recorded in
// memory.
type tracedChat struct {
	p      *testplatform.Platform
	models *standin.Server
	spans  *tracetest.InMemoryExporter
	tp     trace.TracerProvider
}

// startTracedChat runs chat-handler, through its own Build and worker.Run as its binary does,
// with the test's tracer provider, until the test ends.
func startTracedChat(t *testing.T) *tracedChat {
	t.Helper()
	p := testplatform.New(t)
	models, err := standin.New(standin.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	modelSrv := httptest.NewServer(models)
	t.Cleanup(modelSrv.Close)
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	handler, ok := platform.ByName("chat-handler")
	if !ok {
		t.Fatal("platform.All has no chat-handler")
	}
	env := envconfig.Map(map[string]string{
		"NATS_URL":               p.URL(),
		"HEALTH_ADDR":            "127.0.0.1:0",
		"LLM_URL":                modelSrv.URL + "/v1",
		"EMBEDDINGS_URL":         modelSrv.URL + "/v1",
		"RERANKER_URL":           modelSrv.URL,
		"DEAD_LETTER_ADVISORIES": "false",
	})
	jstest.Run(t, p.Ctx, func(ctx context.Context) error {
		return worker.Run(ctx, handler.Name, env, slog.New(slog.DiscardHandler), handler.Build,
			worker.WithTelemetry(telemetry.WithTracerProvider(tp)))
	})
	return &tracedChat{p: p, models: models, spans: spans, tp: tp}
}

// send publishes req as a client would, inside the client's own span, and returns that span's
// context and the headers sent.
func (c *tracedChat) send(t *testing.T, req *jetflowv1.ChatRequest) (trace.SpanContext, nats.Header) {
	t.Helper()
	ctx, span := c.tp.Tracer("client").Start(c.p.Ctx, "ask", trace.WithSpanKind(trace.SpanKindProducer))
	defer span.End()
	data, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	h := nats.Header{}
	telemetry.Inject(ctx, h)
	if _, err := c.p.JS.PublishMsg(ctx, &nats.Msg{Subject: streams.SubjectChatRequest, Header: h, Data: data}); err != nil {
		t.Fatal(err)
	}
	return span.SpanContext(), h
}

// waitForSpans polls until every name has an ended span in trace id, and returns the trace's
// spans.
func (c *tracedChat) waitForSpans(t *testing.T, id trace.TraceID, names ...string) []tracetest.SpanStub {
	t.Helper()
	var inTrace []tracetest.SpanStub
	jstest.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		inTrace = inTrace[:0]
		for _, s := range c.spans.GetSpans() {
			if s.SpanContext.TraceID() == id {
				inTrace = append(inTrace, s)
			}
		}
		for _, name := range names {
			if !slices.ContainsFunc(inTrace, func(s tracetest.SpanStub) bool { return s.Name == name }) {
				return fmt.Errorf("no %q span in trace %s yet (%d spans)", name, id, len(inTrace))
			}
		}
		return nil
	})
	return inTrace
}

func named(spans []tracetest.SpanStub, name string) tracetest.SpanStub {
	for _, s := range spans {
		if s.Name == name {
			return s
		}
	}
	return tracetest.SpanStub{}
}

// One chat request is one trace: the client's span, both stages, and under them a span per
// model call (embeddings, search, rerank, LLM), each with the HTTP span that carried traceparent
// to the model server, which received the request's trace id.
func TestOneChatRequestIsOneTrace(t *testing.T) {
	c := startTracedChat(t)
	client, _ := c.send(t, &jetflowv1.ChatRequest{RequestId: "traced-1", Query: "How does KEDA scale the workers?"})
	id := client.TraceID()

	jstest.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		if got := jstest.Stored(t, c.p.Ctx, c.p.JS, streams.StreamResults, streams.ResultSubject(streams.ResultKindChat, "traced-1")); len(got) != 1 {
			return errors.New("no answer yet")
		}
		return nil
	})
	spans := c.waitForSpans(t, id, streams.ConsumerChatRetrieve, streams.ConsumerChatGenerate,
		breaker.Embeddings, breaker.Milvus, breaker.Reranker, breaker.LLM)

	retrieve, generate := named(spans, streams.ConsumerChatRetrieve), named(spans, streams.ConsumerChatGenerate)
	parents := map[string]tracetest.SpanStub{
		streams.ConsumerChatGenerate: retrieve, // through the traceparent of chat-retrieve's output
		breaker.Embeddings:           retrieve,
		breaker.Milvus:               retrieve,
		breaker.Reranker:             retrieve,
		breaker.LLM:                  generate,
	}
	if retrieve.Parent.SpanID() != client.SpanID() {
		t.Errorf("chat-retrieve's parent is %s, want the client's span %s", retrieve.Parent.SpanID(), client.SpanID())
	}
	for name, parent := range parents {
		s := named(spans, name)
		if s.Parent.SpanID() != parent.SpanContext.SpanID() {
			t.Errorf("%s's parent is %s, want %s (%s)", name, s.Parent.SpanID(), parent.SpanContext.SpanID(), parent.Name)
		}
		if name == streams.ConsumerChatGenerate {
			continue
		}
		if got := attr(s, breaker.AttrDecision).AsString(); got != breaker.DecisionAllowed {
			t.Errorf("%s: %s = %q, want %q", name, breaker.AttrDecision, got, breaker.DecisionAllowed)
		}
		if s.Status.Code == codes.Error {
			t.Errorf("%s failed: %v", name, s.Status)
		}
		if name == breaker.Milvus {
			continue // the in-memory retriever: no HTTP
		}
		if got := attr(s, "http.response.status_code").AsInt64(); got != 200 {
			t.Errorf("%s: http.response.status_code = %d, want 200", name, got)
		}
		if !slices.ContainsFunc(spans, func(h tracetest.SpanStub) bool {
			return h.Parent.SpanID() == s.SpanContext.SpanID() && h.SpanKind == trace.SpanKindClient
		}) {
			t.Errorf("%s has no HTTP client span under it", name)
		}
	}
	for _, route := range []string{"POST /v1/embeddings", "POST /rerank", "POST /v1/chat/completions"} {
		if ids := c.models.TraceIDs(route); !slices.Contains(ids, id.String()) {
			t.Errorf("the stand-in received trace ids %v on %s, want the request's %s", ids, route, id)
		}
	}
}

// A dead letter keeps the traceparent the stage received (the producer's), so the operator who
// reads it finds the request's trace, in which the stage's span holds the failure.
func TestDeadLetterKeepsTheTraceparent(t *testing.T) {
	c := startTracedChat(t)
	client, sent := c.send(t, &jetflowv1.ChatRequest{Query: "no request id: refused"})

	var letter nats.Header
	jstest.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		letters := jstest.Stored(t, c.p.Ctx, c.p.JS, streams.StreamDeadLetter, "")
		if len(letters) != 1 {
			return fmt.Errorf("%d dead letters, want 1", len(letters))
		}
		letter = letters[0].Header
		return nil
	})
	if got, want := letter.Get("traceparent"), sent.Get("traceparent"); got == "" || got != want {
		t.Fatalf("dead letter traceparent = %q, want the producer's %q", got, want)
	}
	spans := c.waitForSpans(t, client.TraceID(), streams.ConsumerChatRetrieve)
	if s := named(spans, streams.ConsumerChatRetrieve); s.Status.Code != codes.Error {
		t.Errorf("chat-retrieve's span status = %v, want the failure", s.Status)
	}
}

func attr(s tracetest.SpanStub, key attribute.Key) attribute.Value {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// chat-handler as it runs by default (worker.Run, no OTEL_* exporter: spans are not recorded)
// still hands the request's trace context on: the model servers receive the trace id the
// client sent, so their own traces join the client's.
func TestModelServersReceiveTheTraceWithoutAnExporter(t *testing.T) {
	p := testplatform.New(t)
	models, err := standin.New(standin.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	modelSrv := httptest.NewServer(models)
	t.Cleanup(modelSrv.Close)
	env := map[string]string{}
	for _, kv := range workerEnv(p.URL(), modelSrv.URL) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	handler, ok := platform.ByName("chat-handler")
	if !ok {
		t.Fatal("platform.All has no chat-handler")
	}
	jstest.Run(t, p.Ctx, func(ctx context.Context) error {
		return worker.Run(ctx, handler.Name, envconfig.Map(env), slog.New(slog.DiscardHandler), handler.Build)
	})

	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, span := tp.Tracer("client").Start(p.Ctx, "ask")
	data, err := proto.Marshal(&jetflowv1.ChatRequest{RequestId: "untraced-1", Query: "How does KEDA scale the workers?"})
	if err != nil {
		t.Fatal(err)
	}
	h := nats.Header{}
	telemetry.Inject(ctx, h)
	span.End()
	if _, err := p.JS.PublishMsg(ctx, &nats.Msg{Subject: streams.SubjectChatRequest, Header: h, Data: data}); err != nil {
		t.Fatal(err)
	}
	id := span.SpanContext().TraceID().String()
	jstest.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		for _, route := range []string{"POST /v1/embeddings", "POST /rerank", "POST /v1/chat/completions"} {
			if !slices.Contains(models.TraceIDs(route), id) {
				return fmt.Errorf("the stand-in has not received trace %s on %s", id, route)
			}
		}
		return nil
	})
}
