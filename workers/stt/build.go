package stt

import (
	"context"

	"github.com/jetflow-dev/jetflow/internal/upstream/transcribe"
	"github.com/jetflow-dev/jetflow/internal/worker"
)

// Build assembles the stt-module from the environment: the transcription endpoint from
// STT_URL (required, up to and including /v1), STT_MODEL, STT_API_KEY and STT_TIMEOUT, its
// breaker from STT_BREAKER_*, and the tuning read by ConfigFromEnv. It runs two runners: the
// stage and the sweeper.
func Build(_ context.Context, env *worker.Env) ([]worker.Runner, error) {
	cfg := ConfigFromEnv(env.Config)
	endpoint := env.ModelServer(transcribe.EnvPrefix, "the transcription server's base URL, up to and including /v1")
	breakers := env.Breakers(StageName, "STT")
	if err := env.Config.Err(); err != nil {
		return nil, err
	}
	client, err := transcribe.New(endpoint)
	if err != nil {
		return nil, err
	}
	w, err := New(env.JS, client, breakers, cfg, env.Log.With("stage", StageName))
	if err != nil {
		return nil, err
	}
	runners, err := env.Stages(w.Spec())
	if err != nil {
		return nil, err
	}
	env.Log.Info("stt configured", "transcription", endpoint, "gap_timeout", w.cfg.GapTimeout,
		"idle_timeout", w.cfg.VAD.IdleTimeout, "concurrency", w.cfg.Concurrency)
	return append(runners, w.Sweeper()), nil
}
