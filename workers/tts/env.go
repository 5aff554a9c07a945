package tts

import (
	"slices"
	"time"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/upstream/speech"
	"github.com/jetflow-dev/jetflow/internal/worker"
)

// Env lists every variable Build reads besides the shell's, for tts-module --help.
var Env = []envconfig.Section{
	{Title: "Speech server", Vars: slices.Concat(
		worker.ModelServerEnv(speech.EnvPrefix, "speech server (OpenAI /audio/speech)", ""),
		[]envconfig.Var{
			{Name: "TTS_VOICES", Default: DefaultVoices, Usage: "voices listed on ai.tts.voices: id[:language[:name]], comma-separated"},
		},
	)},
	{Title: "Stage and audio", Vars: slices.Concat([]envconfig.Var{
		{Name: "TTS_CONCURRENCY", Default: 8, Usage: "requests handled at once"},
		{Name: "TTS_SAMPLE_RATE", Default: 24000, Usage: "rate of the server's PCM output, reported with the audio (PCM has no header)"},
		{Name: "TTS_CHUNK_BYTES", Default: "as much as a result message allows", Usage: "audio bytes per TtsAudioChunk"},
		{Name: "TTS_SYNTHESIS_TIMEOUT", Default: 2 * time.Minute, Usage: "limit on one synthesis"},
	}, worker.BreakerEnv("TTS", "breaker of the speech server"))},
}
