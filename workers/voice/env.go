package voice

import (
	"slices"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/upstream/speech"
	"github.com/jetflow-dev/jetflow/internal/upstream/transcribe"
	"github.com/jetflow-dev/jetflow/internal/worker"
)

// Env lists every variable Build reads besides the shell's, for voice-assistant --help: the
// stages it runs, the model servers of each (only those of the stages that run are read), the
// RAG and ConfigFromEnv's tuning.
var Env = slices.Concat([]envconfig.Section{
	{Title: "Stages", Vars: []envconfig.Var{
		{Name: "VOICE_STAGES", Default: "transcribe,answer,synthesize", Usage: "the stages this process runs, comma-separated, so each can be its own Deployment"},
	}},
	{Title: "Speech servers", Vars: slices.Concat(
		worker.ModelServerEnv(transcribe.EnvPrefix, "transcription server (transcribe)", ""),
		worker.ModelServerEnv(speech.EnvPrefix, "speech server (synthesize)", ""),
	)},
}, worker.RAGEnv, []envconfig.Section{
	{Title: "Tuning", Vars: slices.Concat([]envconfig.Var{
		{Name: "VOICE_TRANSCRIBE_CONCURRENCY", Default: defaults.TranscribeConcurrency, Usage: "requests voice-transcribe handles at once"},
		{Name: "VOICE_ANSWER_CONCURRENCY", Default: defaults.AnswerConcurrency, Usage: "turns voice-answer handles at once"},
		{Name: "VOICE_SYNTHESIZE_CONCURRENCY", Default: defaults.SynthesizeConcurrency, Usage: "turns voice-synthesize handles at once"},
		{Name: "VOICE_TRANSCRIBE_TIMEOUT", Default: defaults.TranscribeTimeout, Usage: "limit on one voice-transcribe handler call"},
		{Name: "VOICE_ANSWER_TIMEOUT", Default: defaults.AnswerTimeout, Usage: "limit on one voice-answer handler call"},
		{Name: "VOICE_SYNTHESIZE_TIMEOUT", Default: defaults.SynthesizeTimeout, Usage: "limit on one voice-synthesize handler call"},
		{Name: "VOICE_GRACE_PERIOD", Default: "the runtime's, 20s", Usage: "time in-flight turns get at shutdown"},
		{Name: "VOICE_HISTORY_MESSAGES", Default: defaults.HistoryMessages, Usage: "messages of history kept per session and shown to the LLM; 0: none"},
		{Name: "VOICE_SYSTEM_PROMPT", Default: "the RAG's", Usage: "system prompt of voice turns"},
		{Name: "VOICE_TURN_ORDER_WINDOW", Default: defaults.TurnOrderWindow, Usage: "how long a turn's stream sequence orders the session's later requests"},
		{Name: "TTS_VOICE", Default: "the server's", Usage: "voice of requests that name none"},
		{Name: "TTS_SAMPLE_RATE", Default: defaults.SampleRate, Usage: "rate of the speech server's PCM output"},
		{Name: "TTS_CHUNK_BYTES", Default: "as much as a message allows", Usage: "audio bytes per chunk message (even)"},
		{Name: "TTS_MAX_INPUT_CHARS", Default: defaults.MaxSpeechChars, Usage: "characters per speech call; longer answers are spoken in pieces"},
	}, worker.BreakerEnv("VOICE", "breakers, one set per stage"))},
})
