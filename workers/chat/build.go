package chat

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/upstream/embedding"
	"github.com/jetflow-dev/jetflow/internal/upstream/llm"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
	"github.com/jetflow-dev/jetflow/internal/upstream/rerank"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval/milvus"
	"github.com/jetflow-dev/jetflow/internal/worker"
)

// Build assembles chat-handler from the environment (README.md, "chat-handler").
func Build(ctx context.Context, env *worker.Env) ([]worker.Runner, error) {
	rag, err := RAGFromEnv(ctx, env)
	if err != nil {
		return nil, err
	}
	env.AtStop(rag.Close)
	r := env.Config
	d := defaultStageConfig
	cfg := StageConfig{
		RetrieveConcurrency: r.Int("CHAT_RETRIEVE_CONCURRENCY", d.RetrieveConcurrency, 1, 1024),
		GenerateConcurrency: r.Int("CHAT_GENERATE_CONCURRENCY", d.GenerateConcurrency, 1, 1024),
		RetrieveTimeout:     r.Duration("CHAT_RETRIEVE_TIMEOUT", d.RetrieveTimeout, time.Second, time.Hour),
		GenerateTimeout:     r.Duration("CHAT_GENERATE_TIMEOUT", d.GenerateTimeout, time.Second, time.Hour),
	}
	bs := breaker.SettingsFromEnv(r, "CHAT", breaker.Settings{})
	if err := r.Err(); err != nil {
		return nil, err
	}
	meter := env.Telemetry.Meter.Meter("jetflow/chat")
	w := New(rag, env.NC,
		breaker.NewSet("chat-retrieve", bs, breaker.WithLogger(env.Log), breaker.WithMeter(meter)),
		breaker.NewSet("chat-generate", bs, breaker.WithLogger(env.Log), breaker.WithMeter(meter)),
		cfg)
	stages, err := w.Stages(env.JS, env.StageOptions()...)
	if err != nil {
		return nil, err
	}
	runners := make([]worker.Runner, len(stages))
	for i, s := range stages {
		runners[i] = s
	}
	return runners, nil
}

// RAGFromEnv builds the model clients and the retriever: LLM_*, EMBEDDINGS_*, RERANKER_* (no
// RERANKER_URL: no reranking), MILVUS_* (no MILVUS_ADDR: the in-memory retriever over RAG_CORPUS,
// a JSONL file, or the built-in sample corpus), RAG_TOP_K, RAG_SYSTEM_PROMPT, RAG_MAX_TOKENS.
// voice-assistant uses it too. The RAG holds the Milvus connection: register its Close with
// env.AtStop.
func RAGFromEnv(ctx context.Context, env *worker.Env) (*RAG, error) {
	r := env.Config
	llmCfg := modelhttp.FromEnv(r, llm.EnvPrefix, modelhttp.Config{})
	embCfg := embedding.FromEnv(r, embedding.Config{})
	rerankCfg := rerank.FromEnv(r, rerank.Config{})
	ragCfg := RAGConfig{
		TopK:         r.Int("RAG_TOP_K", defaultTopK, 1, 100),
		SystemPrompt: r.String("RAG_SYSTEM_PROMPT", ""),
		MaxTokens:    r.Int("RAG_MAX_TOKENS", 0, 0, 131072),
	}
	corpus := r.File("RAG_CORPUS", "")
	if err := r.Err(); err != nil {
		return nil, err
	}
	llmClient, err := llm.New(llmCfg)
	if err != nil {
		return nil, fmt.Errorf("configuring the LLM client (LLM_URL): %w", err)
	}
	embedder, err := embedding.New(embCfg)
	if err != nil {
		return nil, fmt.Errorf("configuring the embeddings client (EMBEDDINGS_URL): %w", err)
	}
	var reranker Reranker
	if rerankCfg.HTTP.BaseURL != "" {
		rc, err := rerank.New(rerankCfg)
		if err != nil {
			return nil, fmt.Errorf("configuring the reranker client (RERANKER_URL): %w", err)
		}
		reranker = rc
	}
	retriever, err := retrieverFromEnv(ctx, env.Lookup, corpus, embedder)
	if err != nil {
		return nil, err
	}
	return NewRAG(embedder, retriever, reranker, llmClient, ragCfg), nil
}

func retrieverFromEnv(ctx context.Context, lookup envconfig.Lookup, corpus string, embedder Embedder) (retrieval.Retriever, error) {
	if v, ok := lookup("MILVUS_ADDR"); ok && v != "" {
		cfg, err := milvus.FromEnv(lookup)
		if err != nil {
			return nil, fmt.Errorf("configuring Milvus: %w", err)
		}
		return milvus.New(ctx, cfg)
	}
	src := retrieval.SampleCorpus()
	if corpus != "" {
		f, err := os.Open(corpus)
		if err != nil {
			return nil, fmt.Errorf("opening RAG_CORPUS: %w", err)
		}
		defer f.Close()
		src = f
	}
	// The corpus is embedded with the same model that embeds questions, at start.
	loadCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	records, err := retrieval.LoadJSONL(loadCtx, src, embedder.Embed)
	if err != nil {
		return nil, fmt.Errorf("loading the in-memory corpus: %w", err)
	}
	return retrieval.NewMemory(records)
}
