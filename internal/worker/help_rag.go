package worker

import (
	"slices"
	"time"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
)

// RAGEnv lists what rag.FromEnv reads (the model servers, the retriever, the prompt), for the
// workers that answer with it: chat-handler and voice-assistant. It is plain data, so that the
// shell links none of the RAG; the defaults are those stated in internal/rag and
// internal/upstream, and integration/help_test.go checks the names against what the two
// workers really read.
var RAGEnv = []envconfig.Section{
	{Title: "Models of the RAG", Vars: slices.Concat(
		ModelServerEnv("LLM", "chat completions server (OpenAI, vLLM)", ""),
		ModelServerEnv("EMBEDDINGS", "embeddings server", ""),
		[]envconfig.Var{
			{Name: "EMBEDDINGS_API", Default: "openai", Usage: "openai (/embeddings) or tei (/embed, at the TEI root)"},
			{Name: "EMBEDDINGS_BATCH_SIZE", Default: 32, Usage: "most texts per request (TEI's max_client_batch_size)"},
			{Name: "EMBEDDINGS_TRUNCATE", Default: false, Usage: "ask TEI to cut inputs longer than the model's limit"},
		},
		ModelServerEnv("RERANKER", "reranker", "none: no reranking"),
		[]envconfig.Var{
			{Name: "RERANKER_API", Default: "tei", Usage: "tei (/rerank, bare array) or cohere (results[], also Jina and vLLM)"},
			{Name: "RERANKER_BATCH_SIZE", Default: 32, Usage: "most documents per request"},
			{Name: "RERANKER_TRUNCATE", Default: false, Usage: "ask TEI to cut pairs longer than the model's limit"},
		},
	)},
	{Title: "Retrieval and prompt", Vars: []envconfig.Var{
		{Name: "RAG_CORPUS", Default: "the built-in sample corpus", Usage: "JSONL corpus (id, text, vector, metadata) of the in-memory retriever, embedded at start"},
		{Name: "RAG_TOP_K", Default: 5, Usage: "sources kept per question, when a request names none"},
		{Name: "RAG_SYSTEM_PROMPT", Default: "built-in", Usage: "system prompt that opens every conversation"},
		{Name: "RAG_MAX_TOKENS", Default: "the server's limit", Usage: "bound on one answer"},
		{Name: "MILVUS_ADDR", Default: "the in-memory retriever", Usage: "Milvus proxy host:port; https:// turns TLS on, a path names the database"},
		{Name: "MILVUS_COLLECTION", Usage: "collection searched; required with MILVUS_ADDR"},
		{Name: "MILVUS_VECTOR_FIELD", Default: "embedding", Usage: "float-vector field searched"},
		{Name: "MILVUS_TEXT_FIELD", Default: "text", Usage: "field holding the document text"},
		{Name: "MILVUS_ID_FIELD", Default: "the primary key", Usage: "scalar field returned as the document id"},
		{Name: "MILVUS_OUTPUT_FIELDS", Usage: "scalar fields returned as metadata, comma-separated"},
		{Name: "MILVUS_METRIC", Default: "COSINE", Usage: "metric of the vector index: COSINE, IP or L2"},
		{Name: "MILVUS_TOP_K", Default: 5, Usage: "results per search when a query names none"},
		{Name: "MILVUS_FILTER", Usage: "filter expression used when a query has none"},
		{Name: "MILVUS_CONSISTENCY", Default: "the collection's", Usage: "consistency level of searches: Strong, Session, Bounded or Eventually"},
		{Name: "MILVUS_SEARCH_PARAMS", Default: "the index's", Usage: `index search parameters as a JSON object, e.g. {"nprobe":16} or {"ef":64}`},
		{Name: "MILVUS_TOKEN", Usage: "user:password or a Zilliz Cloud key (never logged); or MILVUS_USERNAME and MILVUS_PASSWORD"},
		{Name: "MILVUS_USERNAME", Usage: "user name"},
		{Name: "MILVUS_PASSWORD", Usage: "password (never logged)"},
		{Name: "MILVUS_TIMEOUT", Default: 10 * time.Second, Usage: "limit on one search"},
	}},
}
