package tts

import (
	"context"
	"fmt"
	"time"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/upstream/speech"
	"github.com/jetflow-dev/jetflow/internal/worker"
	"github.com/jetflow-dev/jetflow/streams"
)

// DefaultVoices are the voices of the stand-in TTS and OpenAI's first ones.
const DefaultVoices = "alloy:en,echo:en,standin:en"

// Build assembles tts-module from the environment: TTS_URL (required), TTS_MODEL, TTS_API_KEY,
// TTS_TIMEOUT (one call to the speech server), TTS_SYNTHESIS_TIMEOUT (one synthesis),
// TTS_CONCURRENCY, TTS_SAMPLE_RATE, TTS_CHUNK_BYTES, TTS_VOICES and TTS_BREAKER_*.
func Build(_ context.Context, env *worker.Env) ([]worker.Runner, error) {
	r := env.Config
	endpoint := env.ModelServer(speech.EnvPrefix, "the speech server's base URL, up to and including /v1")
	cfg := configFromEnv(r)
	voices, err := ParseVoices(r.String("TTS_VOICES", DefaultVoices))
	if err != nil {
		r.Fail("TTS_VOICES", "%v", err)
	}
	breakers := env.Breakers(streams.ConsumerTTS, "TTS")
	if err := r.Err(); err != nil {
		return nil, err
	}
	client, err := speech.New(endpoint)
	if err != nil {
		return nil, fmt.Errorf("configuring the TTS client (TTS_URL): %w", err)
	}
	svc, err := NewVoicesService(env.NC, voices)
	if err != nil {
		return nil, err
	}
	runners, err := env.Stages(NewSynthesis(client, breakers, cfg, env.NC.MaxPayload()).Spec())
	if err != nil {
		return nil, err
	}
	return append(runners, svc), nil
}

// configFromEnv reads the TTS_* tuning; unset means Config's zero, so the default stated there.
func configFromEnv(r *envconfig.Reader) Config {
	return Config{
		Concurrency: r.Int("TTS_CONCURRENCY", 0, 1, 1024),
		SampleRate:  r.Int("TTS_SAMPLE_RATE", 0, 8000, 48000),
		ChunkBytes:  r.Int("TTS_CHUNK_BYTES", 0, 0, 1<<20),
		Timeout:     r.Duration("TTS_SYNTHESIS_TIMEOUT", 0, time.Second, time.Hour),
	}
}
