package tts

import (
	"context"
	"fmt"
	"time"

	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
	"github.com/jetflow-dev/jetflow/internal/upstream/speech"
	"github.com/jetflow-dev/jetflow/internal/worker"
)

// DefaultVoices are the voices of the stand-in TTS and OpenAI's first ones.
const DefaultVoices = "alloy:en,echo:en,standin:en"

// Build assembles tts-module from the environment: TTS_URL, TTS_MODEL, TTS_API_KEY, TTS_TIMEOUT,
// TTS_CONCURRENCY, TTS_SAMPLE_RATE, TTS_CHUNK_BYTES, TTS_VOICES and TTS_BREAKER_*.
func Build(_ context.Context, env *worker.Env) ([]worker.Runner, error) {
	r := env.Config
	httpCfg := modelhttp.FromEnv(r, speech.EnvPrefix, modelhttp.Config{})
	cfg := Config{
		Concurrency: r.Int("TTS_CONCURRENCY", 8, 1, 1024),
		SampleRate:  r.Int("TTS_SAMPLE_RATE", 24000, 8000, 48000),
		ChunkBytes:  r.Int("TTS_CHUNK_BYTES", 0, 0, 1<<20),
		Timeout:     r.Duration("TTS_SYNTHESIS_TIMEOUT", 2*time.Minute, time.Second, time.Hour),
	}
	voices, err := ParseVoices(r.String("TTS_VOICES", DefaultVoices))
	if err != nil {
		r.Fail("TTS_VOICES", "%v", err)
	}
	bs := breaker.SettingsFromEnv(r, "TTS", breaker.Settings{})
	if err := r.Err(); err != nil {
		return nil, err
	}
	client, err := speech.New(httpCfg)
	if err != nil {
		return nil, fmt.Errorf("configuring the TTS client (TTS_URL): %w", err)
	}
	breakers := breaker.NewSet("tts", bs, breaker.WithLogger(env.Log), breaker.WithMeter(env.Telemetry.Meter.Meter("jetflow/tts")))
	st, err := NewStage(env.JS, NewSynthesis(client, breakers, cfg, env.NC.MaxPayload()), env.StageOptions()...)
	if err != nil {
		return nil, err
	}
	svc, err := NewVoicesService(env.NC, voices)
	if err != nil {
		return nil, err
	}
	return []worker.Runner{st, svc}, nil
}
