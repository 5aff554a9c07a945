package chat

import (
	"context"
	"time"

	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/rag"
	"github.com/jetflow-dev/jetflow/internal/worker"
)

// Build assembles chat-handler from the environment (README.md, "chat-handler").
func Build(ctx context.Context, env *worker.Env) ([]worker.Runner, error) {
	answers, err := rag.FromEnv(ctx, env.Config, env.Lookup)
	if err != nil {
		return nil, err
	}
	env.AtStop(answers.Close)
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
	w := New(answers, env.NC,
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
