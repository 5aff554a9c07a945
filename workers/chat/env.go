package chat

import (
	"slices"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/worker"
)

// Env lists every variable Build reads besides the shell's, for chat-handler --help:
// the RAG's (rag.FromEnv) and the stages' (stageConfigFromEnv, CHAT_BREAKER_*).
var Env = slices.Concat(worker.RAGEnv, []envconfig.Section{
	{Title: "Stages", Vars: slices.Concat([]envconfig.Var{
		{Name: "CHAT_RETRIEVE_CONCURRENCY", Default: defaultStageConfig.RetrieveConcurrency, Usage: "messages chat-retrieve handles at once"},
		{Name: "CHAT_GENERATE_CONCURRENCY", Default: defaultStageConfig.GenerateConcurrency, Usage: "messages chat-generate handles at once"},
		{Name: "CHAT_RETRIEVE_TIMEOUT", Default: defaultStageConfig.RetrieveTimeout, Usage: "limit on one chat-retrieve handler call"},
		{Name: "CHAT_GENERATE_TIMEOUT", Default: defaultStageConfig.GenerateTimeout, Usage: "limit on one chat-generate handler call"},
	}, worker.BreakerEnv("CHAT", "breakers of both stages"))},
})
