// Package rag is retrieval-augmented generation over the model servers: embed the question,
// search the retriever, rerank, build the prompt from the kept sources and ask the LLM, each call
// behind a breaker the caller's stage owns. chat-handler runs retrieval and generation as two
// stages; voice-assistant runs both in its answer stage. A library, so no worker imports another.
package rag

import (
	"cmp"
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/upstream/llm"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

// Embedder turns texts into vectors; *embedding.Client implements it.
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// Reranker scores documents against a query, aligned to the input; *rerank.Client implements it.
type Reranker interface {
	Rerank(ctx context.Context, query string, documents []string) ([]float64, error)
}

// LLM answers a chat completion, whole or streamed; *llm.Client implements it.
type LLM interface {
	Complete(ctx context.Context, req llm.Request) (llm.Response, error)
	Stream(ctx context.Context, req llm.Request, fn func(llm.Delta) error) (llm.Response, error)
}

// Config holds the defaults a request may override.
type Config struct {
	// TopK sources kept for the prompt. 0 means defaultTopK.
	TopK int
	// SystemPrompt opens every conversation. Empty means DefaultSystemPrompt.
	SystemPrompt string
	// MaxTokens bounds an answer. 0 means the server's limit.
	MaxTokens int
}

// defaultTopK is how many sources the prompt gets when neither the configuration nor the
// request says.
const defaultTopK = 5

// DefaultSystemPrompt tells the model how sources are given and to cite them.
const DefaultSystemPrompt = "You are a helpful assistant. Answer from the sources below when they are relevant, " +
	"and cite them as [source N]. If they do not contain the answer, say so."

const (
	// candidateFactor is how many candidates per kept source the retriever returns when a
	// reranker picks among them: enough for reranking to change the order, few enough to keep
	// the rerank call small.
	candidateFactor = 3
	// historyInQuery is how many of the latest user turns are folded into the search query: a
	// follow-up needs the turn it follows, older turns drift the search off the question.
	historyInQuery = 2
	// maxSourceBytes bounds each source's text in the prompt, so that one long passage cannot
	// crowd the others (and the question) out of the model's context.
	maxSourceBytes = 2000
)

func (c Config) withDefaults() Config {
	c.TopK = cmp.Or(c.TopK, defaultTopK)
	c.SystemPrompt = cmp.Or(c.SystemPrompt, DefaultSystemPrompt)
	return c
}

// RAG is retrieval-augmented generation over the model servers, each call behind the breaker of
// the stage that makes it.
type RAG struct {
	embedder  Embedder
	retriever retrieval.Retriever
	reranker  Reranker // nil: keep the retriever's order
	llm       LLM
	cfg       Config
}

// New assembles a RAG; reranker may be nil.
func New(e Embedder, r retrieval.Retriever, rr Reranker, l LLM, cfg Config) *RAG {
	return &RAG{embedder: e, retriever: r, reranker: rr, llm: l, cfg: cfg.withDefaults()}
}

// Question is what retrieval and generation need of a request.
type Question struct {
	Query        string
	History      []*jetflowv1.ChatMessage
	TopK         int
	Collection   string
	SystemPrompt string
	Options      *jetflowv1.ModelOptions
}

// searchText folds the latest user turns of the history into the query, so that a follow-up
// ("and how does it scale?") finds what the conversation is about.
func (r *RAG) searchText(q Question) string {
	var turns []string
	for i := len(q.History) - 1; i >= 0 && len(turns) < historyInQuery; i-- {
		if m := q.History[i]; m.GetRole() == jetflowv1.RoleUser && strings.TrimSpace(m.GetContent()) != "" {
			turns = append([]string{m.GetContent()}, turns...)
		}
	}
	return strings.Join(append(turns, q.Query), "\n")
}

func timing(stage string, d time.Duration) *jetflowv1.StageTiming {
	return &jetflowv1.StageTiming{Stage: stage, Duration: durationpb.New(d)}
}

// Retrieve finds the sources for a question: embed, search, rerank. breakers guard the calls.
func (r *RAG) Retrieve(ctx context.Context, q Question, breakers *breaker.Set) ([]*jetflowv1.Source, []*jetflowv1.StageTiming, error) {
	topK := r.cfg.TopK
	if q.TopK > 0 {
		topK = q.TopK
	}
	var timings []*jetflowv1.StageTiming
	text := r.searchText(q)

	start := time.Now()
	vectors, err := breaker.Do(ctx, breakers.Get(breaker.Embeddings), func(ctx context.Context) ([][]float32, error) {
		return r.embedder.Embed(ctx, []string{text})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("embedding the question: %w", err)
	}
	if len(vectors) != 1 {
		return nil, nil, fmt.Errorf("embedding the question: got %d vectors for 1 text", len(vectors))
	}
	timings = append(timings, timing("embed", time.Since(start)))

	candidates := topK
	if r.reranker != nil {
		candidates = min(topK*candidateFactor, retrieval.MaxTopK)
	}
	start = time.Now()
	docs, err := breaker.Do(ctx, breakers.Get(breaker.Milvus), func(ctx context.Context) ([]retrieval.Document, error) {
		return r.retriever.Search(ctx, retrieval.Query{Vector: vectors[0], TopK: candidates, Collection: q.Collection})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("searching %d candidates: %w", candidates, err)
	}
	timings = append(timings, timing("search", time.Since(start)))

	scores := make([]float64, len(docs))
	for i, d := range docs {
		scores[i] = float64(d.Score)
	}
	if r.reranker != nil && len(docs) > 1 {
		start = time.Now()
		texts := make([]string, len(docs))
		for i, d := range docs {
			texts[i] = d.Text
		}
		scores, err = breaker.Do(ctx, breakers.Get(breaker.Reranker), func(ctx context.Context) ([]float64, error) {
			return r.reranker.Rerank(ctx, q.Query, texts)
		})
		if err != nil {
			return nil, nil, fmt.Errorf("reranking %d candidates: %w", len(docs), err)
		}
		if len(scores) != len(docs) {
			return nil, nil, fmt.Errorf("reranking: %d scores for %d documents", len(scores), len(docs))
		}
		timings = append(timings, timing("rerank", time.Since(start)))
	}
	order := make([]int, len(docs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return scores[order[a]] > scores[order[b]] })
	if len(order) > topK {
		order = order[:topK]
	}
	sources := make([]*jetflowv1.Source, 0, len(order))
	for _, i := range order {
		d := docs[i]
		sources = append(sources, &jetflowv1.Source{
			Id: d.ID, Text: d.Text, Score: float32(scores[i]), Collection: q.Collection, Metadata: d.Metadata,
		})
	}
	return sources, timings, nil
}

// Answer is what generation produced.
type Answer struct {
	Text   string
	Model  string
	Usage  *jetflowv1.Usage
	Timing *jetflowv1.StageTiming
}

// Prompt builds the chat messages: the system prompt with the sources, one per line as
// "[source N] text" in ranked order (the convention the stand-in LLM reads too), the history,
// and the question.
func (r *RAG) Prompt(q Question, sources []*jetflowv1.Source) []llm.Message {
	system := r.cfg.SystemPrompt
	if q.SystemPrompt != "" {
		system = q.SystemPrompt
	}
	var b strings.Builder
	b.WriteString(system)
	if len(sources) > 0 {
		b.WriteString("\n\nSources:\n")
		for i, s := range sources {
			text := TruncateUTF8(strings.Join(strings.Fields(s.GetText()), " "), maxSourceBytes)
			fmt.Fprintf(&b, "[source %d] %s\n", i+1, text)
		}
	}
	msgs := []llm.Message{{Role: llm.RoleSystem, Content: b.String()}}
	for _, m := range q.History {
		msgs = append(msgs, llm.Message{Role: m.GetRole(), Content: m.GetContent()})
	}
	return append(msgs, llm.Message{Role: llm.RoleUser, Content: q.Query})
}

// Generate asks the LLM, calling onToken with each piece of the answer as it streams. With a
// nil onToken the answer is asked for whole: one JSON response to decode instead of an event
// per word, which was a sixth of chat-handler's CPU in cmd/jetflow-bench's scenario 3 when
// nobody watched the tokens. Cancelling ctx closes the connection either way.
func (r *RAG) Generate(ctx context.Context, q Question, sources []*jetflowv1.Source, breakers *breaker.Set, onToken func(string)) (Answer, error) {
	req := llm.Request{Messages: r.Prompt(q, sources), MaxCompletionTokens: r.cfg.MaxTokens}
	if o := q.Options; o != nil {
		if o.MaxTokens != nil {
			req.MaxCompletionTokens = int(o.GetMaxTokens())
		}
		if o.Temperature != nil {
			t := float64(o.GetTemperature())
			req.Temperature = &t
		}
		if o.TopP != nil {
			p := float64(o.GetTopP())
			req.TopP = &p
		}
	}
	start := time.Now()
	resp, err := breaker.Do(ctx, breakers.Get(breaker.LLM), func(ctx context.Context) (llm.Response, error) {
		if onToken == nil {
			return r.llm.Complete(ctx, req)
		}
		return r.llm.Stream(ctx, req, func(d llm.Delta) error {
			if d.Text != "" {
				onToken(d.Text)
			}
			return nil
		})
	})
	if err != nil {
		return Answer{}, fmt.Errorf("asking the LLM: %w", err)
	}
	return Answer{
		Text:  resp.Text,
		Model: resp.Model,
		Usage: &jetflowv1.Usage{
			PromptTokens: int32(resp.Usage.PromptTokens), CompletionTokens: int32(resp.Usage.CompletionTokens), TotalTokens: int32(resp.Usage.TotalTokens),
		},
		Timing: timing("llm", time.Since(start)),
	}, nil
}

// Close releases what the retriever holds: the Milvus connection, after waiting for the
// searches in flight (from then on a search fails with a retryable error, so its message goes
// back to the stream). The in-memory retriever holds nothing.
func (r *RAG) Close(ctx context.Context) error {
	c, ok := r.retriever.(interface{ Close(context.Context) error })
	if !ok {
		return nil
	}
	if err := c.Close(ctx); err != nil {
		return fmt.Errorf("closing the retriever: %w", err)
	}
	return nil
}
