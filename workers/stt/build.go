package stt

import (
	"context"

	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
	"github.com/jetflow-dev/jetflow/internal/upstream/transcribe"
	"github.com/jetflow-dev/jetflow/internal/worker"
)

// Build assembles the stt-module from the environment: the transcription endpoint from
// STT_URL (required, up to and including /v1), STT_MODEL, STT_API_KEY and STT_TIMEOUT, and the
// tuning read by ConfigFromEnv. It runs two runners: the stage and the sweeper.
func Build(ctx context.Context, env *worker.Env) ([]worker.Runner, error) {
	r := env.Config
	cfg := ConfigFromEnv(r)
	endpoint := modelhttp.FromEnv(r, transcribe.EnvPrefix, modelhttp.Config{})
	if endpoint.BaseURL == "" {
		r.Fail(transcribe.EnvPrefix+"_URL", "is required: the transcription server's base URL, up to and including /v1")
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	client, err := transcribe.New(endpoint)
	if err != nil {
		return nil, err
	}
	w, err := New(env.JS, client, cfg,
		WithLogger(env.Log.With("stage", StageName)),
		WithMeter(env.Telemetry.Meter.Meter("github.com/jetflow-dev/jetflow/workers/stt")))
	if err != nil {
		return nil, err
	}
	st, err := w.Stage(env.StageOptions()...)
	if err != nil {
		return nil, err
	}
	env.Log.Info("stt configured", "transcription", endpoint, "gap_timeout", w.cfg.GapTimeout,
		"idle_timeout", w.cfg.VAD.IdleTimeout, "concurrency", w.cfg.Concurrency)
	return []worker.Runner{st, w.Sweeper()}, nil
}
