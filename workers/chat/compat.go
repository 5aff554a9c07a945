package chat

import (
	"context"

	"github.com/jetflow-dev/jetflow/internal/rag"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval"
	"github.com/jetflow-dev/jetflow/internal/worker"
)

// Until voice-assistant imports internal/rag itself, these keep the names it used. Remove this
// file then: no worker imports another.
type (
	RAG       = rag.RAG
	RAGConfig = rag.Config
	Question  = rag.Question
)

// NewRAG is rag.New, for voice-assistant until it imports internal/rag.
func NewRAG(e rag.Embedder, r retrieval.Retriever, rr rag.Reranker, l rag.LLM, cfg rag.Config) *rag.RAG {
	return rag.New(e, r, rr, l, cfg)
}

// TruncateUTF8 is rag.TruncateUTF8, for voice-assistant until it imports internal/rag.
func TruncateUTF8(s string, n int) string { return rag.TruncateUTF8(s, n) }

// RAGFromEnv is rag.FromEnv, for voice-assistant until it imports internal/rag.
func RAGFromEnv(ctx context.Context, env *worker.Env) (*rag.RAG, error) {
	return rag.FromEnv(ctx, env.Config, env.Lookup)
}
