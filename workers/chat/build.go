package chat

import (
	"context"
	"time"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/rag"
	"github.com/jetflow-dev/jetflow/internal/worker"
	"github.com/jetflow-dev/jetflow/streams"
)

// Build assembles chat-handler from the environment (README.md, "chat-handler"): the RAG
// (rag.FromEnv), CHAT_RETRIEVE_CONCURRENCY, CHAT_GENERATE_CONCURRENCY, CHAT_RETRIEVE_TIMEOUT,
// CHAT_GENERATE_TIMEOUT and CHAT_BREAKER_*.
func Build(ctx context.Context, env *worker.Env) ([]worker.Runner, error) {
	answers, err := rag.FromEnv(ctx, env.Config, env.Lookup)
	if err != nil {
		return nil, err
	}
	env.AtStop(answers.Close)
	w := New(answers, env.NC,
		env.Breakers(streams.ConsumerChatRetrieve, "CHAT"),
		env.Breakers(streams.ConsumerChatGenerate, "CHAT"),
		stageConfigFromEnv(env.Config))
	if err := env.Config.Err(); err != nil {
		return nil, err
	}
	return env.Stages(w.Specs()...)
}

// stageConfigFromEnv reads the CHAT_* tuning; unset means defaultStageConfig's.
func stageConfigFromEnv(r *envconfig.Reader) StageConfig {
	return StageConfig{
		RetrieveConcurrency: r.Int("CHAT_RETRIEVE_CONCURRENCY", 0, 1, 1024),
		GenerateConcurrency: r.Int("CHAT_GENERATE_CONCURRENCY", 0, 1, 1024),
		RetrieveTimeout:     r.Duration("CHAT_RETRIEVE_TIMEOUT", 0, time.Second, time.Hour),
		GenerateTimeout:     r.Duration("CHAT_GENERATE_TIMEOUT", 0, time.Second, time.Hour),
	}
}
