package rag

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/upstream/embedding"
	"github.com/jetflow-dev/jetflow/internal/upstream/llm"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
	"github.com/jetflow-dev/jetflow/internal/upstream/rerank"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval/milvus"
)

// corpusLoadTimeout bounds embedding the in-memory corpus at start.
const corpusLoadTimeout = 2 * time.Minute

// FromEnv builds the model clients and the retriever: LLM_*, EMBEDDINGS_*, RERANKER_* (no
// RERANKER_URL: no reranking), MILVUS_* (no MILVUS_ADDR: the in-memory retriever over RAG_CORPUS,
// a JSONL file, or the built-in sample corpus), RAG_TOP_K, RAG_SYSTEM_PROMPT, RAG_MAX_TOKENS.
// r collects the configuration problems; lookup is the same environment, for the Milvus
// settings, which read it themselves. The RAG holds the Milvus connection: the caller closes it
// (worker.Env.AtStop(rag.Close)).
func FromEnv(ctx context.Context, r *envconfig.Reader, lookup envconfig.Lookup) (*RAG, error) {
	llmCfg := modelhttp.FromEnv(r, llm.EnvPrefix, modelhttp.Config{})
	embCfg := embedding.FromEnv(r, embedding.Config{})
	rerankCfg := rerank.FromEnv(r, rerank.Config{})
	cfg := Config{
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
	retriever, err := retrieverFromEnv(ctx, lookup, corpus, embedder)
	if err != nil {
		return nil, err
	}
	return New(embedder, retriever, reranker, llmClient, cfg), nil
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
	loadCtx, cancel := context.WithTimeout(ctx, corpusLoadTimeout)
	defer cancel()
	records, err := retrieval.LoadJSONL(loadCtx, src, embedder.Embed)
	if err != nil {
		return nil, fmt.Errorf("loading the in-memory corpus: %w", err)
	}
	return retrieval.NewMemory(records)
}
