package chat

import (
	"cmp"
	"context"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/rag"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/internal/worker"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// StageConfig sizes the two stages.
type StageConfig struct {
	// RetrieveConcurrency and GenerateConcurrency; 0 means defaultStageConfig's.
	RetrieveConcurrency, GenerateConcurrency int
	// RetrieveTimeout and GenerateTimeout bound one handler call; 0 means defaultStageConfig's.
	RetrieveTimeout, GenerateTimeout time.Duration
}

// defaultStageConfig is what an unset StageConfig field (and so an unset CHAT_* variable) means.
// Generation waits on the LLM most of the time, so it runs more handlers, and longer, than
// retrieval, which is quick.
var defaultStageConfig = StageConfig{
	RetrieveConcurrency: 16,
	GenerateConcurrency: 64,
	RetrieveTimeout:     30 * time.Second,
	GenerateTimeout:     5 * time.Minute,
}

func (c StageConfig) withDefaults() StageConfig {
	d := defaultStageConfig
	return StageConfig{
		RetrieveConcurrency: cmp.Or(c.RetrieveConcurrency, d.RetrieveConcurrency),
		GenerateConcurrency: cmp.Or(c.GenerateConcurrency, d.GenerateConcurrency),
		RetrieveTimeout:     cmp.Or(c.RetrieveTimeout, d.RetrieveTimeout),
		GenerateTimeout:     cmp.Or(c.GenerateTimeout, d.GenerateTimeout),
	}
}

// MaxRequestBytes is the largest ChatRequest chat-retrieve decodes (a question with a long
// history); chat-generate's task adds the sources, so it may take the whole message.
const MaxRequestBytes = 512 << 10

// Worker holds chat-handler's two stages.
type Worker struct {
	rag      *rag.RAG
	nc       *nats.Conn
	retrieve *breaker.Set
	generate *breaker.Set
	cfg      StageConfig
}

// New assembles the worker. nc carries the live token stream (core NATS).
func New(r *rag.RAG, nc *nats.Conn, retrieveBreakers, generateBreakers *breaker.Set, cfg StageConfig) *Worker {
	return &Worker{rag: r, nc: nc, retrieve: retrieveBreakers, generate: generateBreakers, cfg: cfg.withDefaults()}
}

// Specs are chat-retrieve and chat-generate, each gated by its own breakers.
func (w *Worker) Specs() []worker.StageSpec {
	return []worker.StageSpec{
		{
			Consumer: streams.ConsumerChatRetrieve, Handler: stage.Typed(w.Retrieve), Breakers: w.retrieve,
			Concurrency: w.cfg.RetrieveConcurrency, HandlerTimeout: w.cfg.RetrieveTimeout, MaxPayload: MaxRequestBytes,
		},
		{
			Consumer: streams.ConsumerChatGenerate, Handler: stage.Typed(w.Generate), Breakers: w.generate,
			Concurrency: w.cfg.GenerateConcurrency, HandlerTimeout: w.cfg.GenerateTimeout,
		},
	}
}

func question(req *jetflowv1.ChatRequest) rag.Question {
	return rag.Question{
		Query: req.GetQuery(), History: req.GetHistory(), TopK: int(req.GetTopK()), Collection: req.GetCollection(),
		SystemPrompt: req.GetSystemPrompt(), Options: req.GetModelOptions(),
	}
}

// Retrieve is chat-retrieve: it finds the sources (unless the request switched RAG off) and hands
// the request on to chat-generate.
func (w *Worker) Retrieve(ctx context.Context, req *jetflowv1.ChatRequest, _ *stage.Input) ([]stage.Output, error) {
	task := &jetflowv1.ChatGenerateTask{
		RequestId: req.GetRequestId(), SessionId: req.GetSessionId(), Deadline: req.GetDeadline(), UserId: req.GetUserId(),
		Request: req,
	}
	if !req.GetDisableRag() {
		sources, timings, err := w.rag.Retrieve(ctx, question(req), w.retrieve)
		if err != nil {
			return nil, err
		}
		task.Sources, task.Timings = sources, timings
	}
	return []stage.Output{{Subject: streams.SubjectChatGenerate, Msg: task}}, nil
}

// Generate is chat-generate: it asks the LLM, streams the tokens live on ai.stream.<request_id>
// and returns the final answer for ai.result.chat.<request_id>.
func (w *Worker) Generate(ctx context.Context, task *jetflowv1.ChatGenerateTask, in *stage.Input) ([]stage.Output, error) {
	req := task.GetRequest()
	tokens := w.tokenStream(req, in.JSON)
	answer, err := w.rag.Generate(ctx, question(req), task.GetSources(), w.generate, tokens.onToken())
	if err != nil {
		return nil, err
	}
	tokens.finish()
	resp := &jetflowv1.ChatResponse{
		RequestId: req.GetRequestId(), SessionId: req.GetSessionId(),
		Answer: answer.Text, Sources: task.GetSources(), Usage: answer.Usage,
		Timings: append(append([]*jetflowv1.StageTiming(nil), task.GetTimings()...), answer.Timing),
		Model:   answer.Model, StandIn: strings.HasPrefix(answer.Model, "jetflow-standin-"),
	}
	return []stage.Output{{Subject: streams.ResultSubject(streams.ResultKindChat, req.GetRequestId()), Msg: resp}}, nil
}

// tokenStream publishes the answer's pieces on core NATS: at most once, for live display. A
// retried generation streams again from index 0; the durable answer is the ChatResponse.
//
// It has no lock: llm.Client.Stream calls send from the calling goroutine, one piece after the
// other, and finish runs after Stream has returned.
type tokenStream struct {
	nc        *nats.Conn
	subject   string
	requestID string
	asJSON    bool
	header    nats.Header
	enabled   bool
	index     int32
}

// Every token chunk carries the same headers. nats.Conn.PublishMsg only reads a message's
// header, so all streams share these two.
var (
	tokenChunkType       = string(proto.MessageName(&jetflowv1.TokenChunk{}))
	tokenChunkHeaderJSON = nats.Header{stage.HeaderType: {tokenChunkType}, stage.HeaderContentType: {"application/json"}}
	tokenChunkHeader     = nats.Header{stage.HeaderType: {tokenChunkType}}
)

func (w *Worker) tokenStream(req *jetflowv1.ChatRequest, asJSON bool) *tokenStream {
	header := tokenChunkHeader
	if asJSON {
		header = tokenChunkHeaderJSON
	}
	return &tokenStream{
		nc: w.nc, subject: streams.TokenStreamSubject(req.GetRequestId()), requestID: req.GetRequestId(),
		asJSON: asJSON, header: header, enabled: req.GetStreamTokens() && w.nc != nil,
	}
}

func (t *tokenStream) publish(chunk *jetflowv1.TokenChunk) {
	var data []byte
	var err error
	if t.asJSON {
		data, err = protojson.Marshal(chunk)
	} else {
		data, err = proto.Marshal(chunk)
	}
	if err != nil {
		return
	}
	// Live display only: a lost token is acceptable, the final answer is durable.
	_ = t.nc.PublishMsg(&nats.Msg{Subject: t.subject, Header: t.header, Data: data})
}

// onToken is send when the tokens are streamed, and nil otherwise, so that the LLM is asked for
// the whole answer (rag.Generate) instead of a stream nobody reads.
func (t *tokenStream) onToken() func(string) {
	if !t.enabled {
		return nil
	}
	return t.send
}

func (t *tokenStream) send(text string) {
	t.publish(&jetflowv1.TokenChunk{RequestId: t.requestID, Index: t.index, Text: text})
	t.index++
}

func (t *tokenStream) finish() {
	if !t.enabled {
		return
	}
	t.publish(&jetflowv1.TokenChunk{RequestId: t.requestID, Index: t.index, Done: true})
}
