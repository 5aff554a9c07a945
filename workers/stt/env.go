package stt

import (
	"github.com/jetflow-dev/jetflow/internal/audio/vad"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/upstream/transcribe"
	"github.com/jetflow-dev/jetflow/internal/worker"
)

// Env lists every variable Build reads besides the shell's, for stt-module --help:
// the transcription server, ConfigFromEnv's tuning and STT_BREAKER_*.
var Env = []envconfig.Section{
	{Title: "Transcription server", Vars: worker.ModelServerEnv(transcribe.EnvPrefix, "transcription server (OpenAI /audio/transcriptions)", "")},
	{Title: "Ordering and publishing", Vars: []envconfig.Var{
		{Name: "STT_CONCURRENCY", Default: DefaultConcurrency, Usage: "chunks one replica handles at once"},
		{Name: "STT_GAP_TIMEOUT", Default: DefaultGapTimeout, Usage: "how long chunks wait for a missing one before a GAP transcript skips it (at most 1m)"},
		{Name: "STT_SWEEP_INTERVAL", Default: DefaultSweepInterval, Usage: "how often the sweeper looks for timed-out gaps, idle sessions and abandoned outboxes"},
		{Name: "STT_PUBLISH_LEASE", Default: DefaultPublishLease, Usage: "how long a replica publishing a session's results has them to itself"},
		{Name: "STT_RETRY_BACKOFF", Default: defaultBackoff, Usage: "retry schedule of the stage, comma-separated durations"},
		{Name: "STT_GRACE_PERIOD", Default: "the runtime's, 20s", Usage: "time in-flight chunks get at shutdown"},
	}},
	{Title: "Voice activity detection", Vars: []envconfig.Var{
		{Name: "VAD_THRESHOLD_DBFS", Default: vad.DefaultThreshold, Usage: "speech level in dBFS"},
		{Name: "VAD_MIN_SPEECH", Default: vad.DefaultMinSpeech, Usage: "shortest speech that opens a segment"},
		{Name: "VAD_MIN_SILENCE", Default: vad.DefaultMinSilence, Usage: "silence that closes a segment"},
		{Name: "VAD_MAX_SEGMENT", Default: vad.DefaultMaxSegment, Usage: "longest segment sent for transcription"},
		{Name: "VAD_IDLE_TIMEOUT", Default: vad.DefaultIdleTimeout, Usage: "a session without audio this long has its segment closed"},
		{Name: "VAD_PRE_ROLL", Default: vad.DefaultPreRoll, Usage: "audio kept before speech starts; negative: none"},
		{Name: "VAD_POST_ROLL", Default: vad.DefaultPostRoll, Usage: "audio kept after speech ends; negative: none"},
	}},
	{Title: "Breaker", Vars: worker.BreakerEnv("STT", "breaker of the transcription server")},
}
