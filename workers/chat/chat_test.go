package chat

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/internal/upstream/embedding"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval/milvusfake"
	"github.com/jetflow-dev/jetflow/internal/worker"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

var corpus = []retrieval.Record{
	{ID: "keda", Text: "KEDA scales each worker on its consumer lag. It reads num_pending and num_ack_pending from the NATS monitoring endpoint."},
	{ID: "milvus", Text: "Milvus stores the document vectors. The chat worker searches it for the nearest passages."},
	{ID: "ray", Text: "Ray Serve hosts the model servers. Each app is mounted under its own route prefix."},
	{ID: "jetstream", Text: "JetStream keeps every stage's messages durable. A message is acked only after its output is published."},
}

// platform is chat-handler running through its own wiring (Build) against a real JetStream
// server, the stand-in models over HTTP and a fake Milvus under the real SDK.
type platform struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	ctx     context.Context
	models  *standin.Server
	milvus  *milvusfake.Server
	llmFail atomic.Int64 // chat completions still to answer with 503
	base    map[string]int64
}

func startPlatform(t *testing.T) *platform {
	t.Helper()
	tp := testplatform.New(t)
	p := &platform{nc: tp.NC, js: tp.JS, ctx: tp.Ctx}

	models, err := standin.New(standin.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	p.models = models
	httpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/chat/completions" && p.llmFail.Add(-1) >= 0 {
			http.Error(w, `{"error":{"message":"overloaded","code":503}}`, http.StatusServiceUnavailable)
			return
		}
		models.ServeHTTP(w, r)
	}))
	t.Cleanup(httpSrv.Close)

	// The corpus goes into the fake Milvus embedded by the same model that embeds questions.
	emb, err := embedding.New(embedding.Config{HTTP: modelhttp.Config{BaseURL: httpSrv.URL + "/v1"}})
	if err != nil {
		t.Fatal(err)
	}
	texts := make([]string, len(corpus))
	for i, r := range corpus {
		texts[i] = r.Text
	}
	vectors, err := emb.Embed(p.ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	records := make([]retrieval.Record, len(corpus))
	for i, r := range corpus {
		r.Vector = vectors[i]
		records[i] = r
	}
	p.milvus = milvusfake.Start(t, milvusfake.Collection{Name: "docs", Records: records})
	p.base = models.Stats().Calls // the corpus embedding above is the test's, not the worker's

	env := envconfig.Map(map[string]string{
		"NATS_URL":          tp.URL(),
		"HEALTH_ADDR":       "127.0.0.1:0",
		"LLM_URL":           httpSrv.URL + "/v1",
		"EMBEDDINGS_URL":    httpSrv.URL + "/v1",
		"RERANKER_URL":      httpSrv.URL,
		"MILVUS_ADDR":       p.milvus.Addr(),
		"MILVUS_COLLECTION": "docs",
		"RAG_TOP_K":         "2",
	})
	jstest.Run(t, p.ctx, func(ctx context.Context) error {
		return worker.Run(ctx, "chat-handler", env, slog.New(slog.DiscardHandler), Build)
	})
	return p
}

func (p *platform) ask(t *testing.T, req *jetflowv1.ChatRequest) {
	t.Helper()
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.js.PublishMsg(p.ctx, &nats.Msg{Subject: streams.SubjectChatRequest, Data: b,
		Header: nats.Header{jetstream.MsgIDHeader: {req.GetRequestId()}}}); err != nil {
		t.Fatal(err)
	}
}

func (p *platform) stored(t *testing.T, stream, subject string) []*jetstream.RawStreamMsg {
	t.Helper()
	return jstest.Stored(t, p.ctx, p.js, stream, subject)
}

func (p *platform) answer(t *testing.T, requestID string) *jetflowv1.ChatResponse {
	t.Helper()
	var resp jetflowv1.ChatResponse
	jstest.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		msgs := p.stored(t, streams.StreamResults, streams.ResultSubject(streams.ResultKindChat, requestID))
		if len(msgs) == 0 {
			return fmt.Errorf("no answer to %s yet", requestID)
		}
		return proto.Unmarshal(msgs[0].Data, &resp)
	})
	return &resp
}

// calls counts the worker's requests to a stand-in route.
func (p *platform) calls(route string) int64 { return p.models.Stats().Calls[route] - p.base[route] }

func TestAnswerCitesRetrievedSourcesAndTokensConcatenate(t *testing.T) {
	p := startPlatform(t)
	var mu sync.Mutex
	var tokens []string
	done := make(chan struct{})
	sub, err := p.nc.Subscribe(streams.TokenStreamSubject("q-keda"), func(m *nats.Msg) {
		var c jetflowv1.TokenChunk
		if err := proto.Unmarshal(m.Data, &c); err != nil {
			t.Errorf("token chunk: %v", err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if c.GetDone() {
			close(done)
			return
		}
		if int(c.GetIndex()) != len(tokens) {
			t.Errorf("token %d arrived as number %d", c.GetIndex(), len(tokens))
		}
		tokens = append(tokens, c.GetText())
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()

	p.ask(t, &jetflowv1.ChatRequest{RequestId: "q-keda", Query: "How does KEDA scale each worker?", StreamTokens: true})
	resp := p.answer(t, "q-keda")
	if len(resp.GetSources()) != 2 || resp.GetSources()[0].GetId() != "keda" {
		t.Fatalf("sources = %v, want keda first of 2", resp.GetSources())
	}
	want := "According to [source 1]: KEDA scales each worker on its consumer lag."
	if resp.GetAnswer() != want {
		t.Fatalf("answer = %q, want %q", resp.GetAnswer(), want)
	}
	if !resp.GetStandIn() || resp.GetUsage().GetTotalTokens() == 0 {
		t.Errorf("stand_in=%v usage=%v", resp.GetStandIn(), resp.GetUsage())
	}
	stages := map[string]bool{}
	for _, tm := range resp.GetTimings() {
		stages[tm.GetStage()] = true
	}
	for _, s := range []string{"embed", "search", "rerank", "llm"} {
		if !stages[s] {
			t.Errorf("no timing for %s in %v", s, resp.GetTimings())
		}
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the token stream never said done")
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(tokens, ""); got != resp.GetAnswer() {
		t.Fatalf("tokens concatenate to %q, answer is %q", got, resp.GetAnswer())
	}
}

func TestRAGOffSkipsRetrieval(t *testing.T) {
	p := startPlatform(t)
	p.ask(t, &jetflowv1.ChatRequest{RequestId: "q-norag", Query: "What is two plus two?", DisableRag: true})
	resp := p.answer(t, "q-norag")
	if len(resp.GetSources()) != 0 || !strings.HasPrefix(resp.GetAnswer(), "I have no sources to answer from.") {
		t.Fatalf("answer %q with sources %v", resp.GetAnswer(), resp.GetSources())
	}
	if n := p.calls("POST /v1/embeddings"); n != 0 {
		t.Errorf("%d embedding calls with RAG off", n)
	}
	// Nobody asked for the tokens: the answer was asked for whole, not streamed.
	if n, streamed := p.calls("POST /v1/chat/completions"), p.models.Stats().StreamedChats; n != 1 || streamed != 0 {
		t.Errorf("%d chat completions, %d of them streamed, for a request without stream_tokens; want 1, 0", n, streamed)
	}
	for _, c := range p.milvus.Calls() {
		if strings.Contains(c, "Search") {
			t.Errorf("Milvus was searched with RAG off: %v", p.milvus.Calls())
		}
	}
}

func TestLLM503IsRetriedAndAnsweredOnce(t *testing.T) {
	p := startPlatform(t)
	p.llmFail.Store(1)
	p.ask(t, &jetflowv1.ChatRequest{RequestId: "q-503", Query: "Where are the vectors stored?"})
	resp := p.answer(t, "q-503")
	if !strings.HasPrefix(resp.GetAnswer(), "According to [source 1]: Milvus stores the document vectors.") {
		t.Fatalf("answer = %q", resp.GetAnswer())
	}
	// Once both stages acked their inputs (AI_CHAT is a work queue: it empties), nothing more
	// can be published for this request: count then.
	jstest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n := len(p.stored(t, streams.StreamChat, "")); n != 0 {
			return fmt.Errorf("AI_CHAT still holds %d messages", n)
		}
		return nil
	})
	if n := len(p.stored(t, streams.StreamResults, streams.ResultSubject(streams.ResultKindChat, "q-503"))); n != 1 {
		t.Fatalf("%d answers, want exactly 1", n)
	}
	if n := p.calls("POST /v1/chat/completions"); n != 1 {
		t.Fatalf("the stand-in answered %d completions after the 503, want 1", n)
	}
	if n := p.calls("POST /v1/embeddings"); n != 1 {
		t.Fatalf("retrieval ran %d times: the LLM retry must not repeat it", n)
	}
}

func TestExpiredRequestIsDeadLetteredNotAnswered(t *testing.T) {
	p := startPlatform(t)
	p.ask(t, &jetflowv1.ChatRequest{RequestId: "q-late", Query: "Too late?", Deadline: timestamppb.New(time.Now().Add(-time.Second))})
	var dl *jetstream.RawStreamMsg
	jstest.Eventually(t, 20*time.Second, 20*time.Millisecond, func() error {
		msgs := p.stored(t, streams.StreamDeadLetter, streams.DeadLetterSubject(streams.ConsumerChatRetrieve))
		if len(msgs) == 0 {
			return fmt.Errorf("not dead-lettered yet")
		}
		dl = msgs[0]
		return nil
	})
	if !strings.Contains(dl.Header.Get(stage.HeaderError), "deadline") || dl.Header.Get(stage.HeaderErrorKind) != stage.KindPermanent {
		t.Fatalf("dead letter: %v", dl.Header)
	}
	if n := len(p.stored(t, streams.StreamResults, streams.ResultSubject(streams.ResultKindChat, "q-late"))); n != 0 {
		t.Fatalf("an expired request was answered")
	}
	if n := p.calls("POST /v1/embeddings") + p.calls("POST /v1/chat/completions"); n != 0 {
		t.Fatalf("%d model calls for an expired request", n)
	}
}

// A Build that fails after connecting to Milvus closes the connection again (TestMain's leak
// check sees the gRPC goroutines otherwise).
func TestBuildFailingOnConfigurationClosesTheRetriever(t *testing.T) {
	srv := jstest.Server(t)
	env := envconfig.Map(map[string]string{
		"NATS_URL":                  srv.ClientURL(),
		"HEALTH_ADDR":               "127.0.0.1:0",
		"LLM_URL":                   "http://127.0.0.1:1/v1",
		"EMBEDDINGS_URL":            "http://127.0.0.1:1/v1",
		"MILVUS_ADDR":               "127.0.0.1:1", // the retriever dials lazily
		"MILVUS_COLLECTION":         "docs",
		"CHAT_RETRIEVE_CONCURRENCY": "0",
	})
	err := worker.Run(jstest.Context(t), "chat-handler", env, slog.New(slog.DiscardHandler), Build)
	if err == nil || !strings.Contains(err.Error(), "CHAT_RETRIEVE_CONCURRENCY") {
		t.Fatalf("worker.Run = %v, want a CHAT_RETRIEVE_CONCURRENCY error", err)
	}
}
