package voice

import (
	"errors"
	"fmt"
	"time"

	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
)

// Config tunes the worker. Zero values are replaced by the defaults stated per field.
type Config struct {
	// TranscribeConcurrency, AnswerConcurrency and SynthesizeConcurrency size the three stages.
	// 0 means 8, 32 and 8: the answer stage waits on the LLM most of the time.
	TranscribeConcurrency, AnswerConcurrency, SynthesizeConcurrency int
	// TranscribeTimeout, AnswerTimeout and SynthesizeTimeout bound one handler call. 0 means
	// 2 min, 5 min and 2 min.
	TranscribeTimeout, AnswerTimeout, SynthesizeTimeout time.Duration
	// GracePeriod is how long in-flight handlers may finish at shutdown. 0 means the stage
	// runtime's default (20 s).
	GracePeriod time.Duration
	// HistoryMessages is how many messages (user and assistant, oldest dropped first) a
	// session's history keeps and the LLM sees. 0 means 20; negative means no history.
	HistoryMessages int
	// SystemPrompt replaces the RAG's system prompt for voice turns (a voice answer should be
	// short and free of markup). Empty keeps the RAG's.
	SystemPrompt string
	// Voice answers requests that name none. Empty leaves it to the TTS server.
	Voice string
	// SampleRate is the rate of the TTS server's pcm output, reported in the audio format: raw
	// PCM carries no header. 0 means 24000 (OpenAI-compatible servers).
	SampleRate int
	// ChunkBytes is the audio per TtsAudioChunk. 0 means as much as a message allows; more is
	// cut to that.
	ChunkBytes int
	// MaxSpeechChars bounds the text of one TTS call; longer answers are spoken in pieces cut at
	// sentence ends. 0 means 4096, OpenAI's limit on the speech input.
	MaxSpeechChars int
	// TurnOrderWindow is how long the stream sequence of a session's current turn orders later
	// requests: a request older than the current turn is dropped as superseded, unless the
	// current turn started longer ago than this, in which case sequences are not trusted
	// (AI_VOICE may have been recreated, restarting them) and the request starts a new turn.
	// 0 means 10 min.
	TurnOrderWindow time.Duration
	// Breaker configures the breakers of the three stages (one per stage and upstream).
	Breaker breaker.Settings
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.TranscribeConcurrency, 8)
	def(&c.AnswerConcurrency, 32)
	def(&c.SynthesizeConcurrency, 8)
	defDur(&c.TranscribeTimeout, 2*time.Minute)
	defDur(&c.AnswerTimeout, 5*time.Minute)
	defDur(&c.SynthesizeTimeout, 2*time.Minute)
	def(&c.HistoryMessages, 20)
	def(&c.SampleRate, 24000)
	def(&c.MaxSpeechChars, 4096)
	defDur(&c.TurnOrderWindow, 10*time.Minute)
	return c
}

// Validate reports every field out of range.
func (c Config) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int
	}{
		{"TranscribeConcurrency", c.TranscribeConcurrency},
		{"AnswerConcurrency", c.AnswerConcurrency},
		{"SynthesizeConcurrency", c.SynthesizeConcurrency},
	} {
		if f.v < 0 || f.v > 10000 {
			errs = append(errs, fmt.Errorf("%s %d is outside [0, 10000]", f.name, f.v))
		}
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"TranscribeTimeout", c.TranscribeTimeout},
		{"AnswerTimeout", c.AnswerTimeout},
		{"SynthesizeTimeout", c.SynthesizeTimeout},
		{"GracePeriod", c.GracePeriod},
		{"TurnOrderWindow", c.TurnOrderWindow},
	} {
		if f.d < 0 {
			errs = append(errs, fmt.Errorf("%s %v is negative", f.name, f.d))
		}
	}
	if c.SampleRate != 0 && (c.SampleRate < 8000 || c.SampleRate > 48000) {
		errs = append(errs, fmt.Errorf("SampleRate %d is outside [8000, 48000]", c.SampleRate))
	}
	if c.ChunkBytes < 0 || c.ChunkBytes%2 != 0 {
		errs = append(errs, fmt.Errorf("ChunkBytes %d must be even and not negative (PCM16 samples are 2 bytes)", c.ChunkBytes))
	}
	if c.MaxSpeechChars < 0 {
		errs = append(errs, fmt.Errorf("MaxSpeechChars %d is negative", c.MaxSpeechChars))
	}
	return errors.Join(errs...)
}

// ConfigFromEnv reads the worker's own variables; problems are recorded in r:
//
//	VOICE_TRANSCRIBE_CONCURRENCY, VOICE_ANSWER_CONCURRENCY, VOICE_SYNTHESIZE_CONCURRENCY (8, 32, 8)
//	VOICE_TRANSCRIBE_TIMEOUT, VOICE_ANSWER_TIMEOUT, VOICE_SYNTHESIZE_TIMEOUT (2m, 5m, 2m)
//	VOICE_GRACE_PERIOD         shutdown grace for in-flight turns (20s)
//	VOICE_HISTORY_MESSAGES     messages of history kept per session, 0 for none (20)
//	VOICE_SYSTEM_PROMPT        system prompt for voice turns (the RAG's)
//	VOICE_TURN_ORDER_WINDOW    see Config.TurnOrderWindow (10m)
//	VOICE_BREAKER_*            breaker.SettingsFromEnv with prefix VOICE
//	TTS_VOICE                  default voice (the server's)
//	TTS_SAMPLE_RATE            rate of the TTS server's pcm output (24000)
//	TTS_CHUNK_BYTES            audio bytes per chunk message (as many as fit)
//	TTS_MAX_INPUT_CHARS        characters per TTS call (4096)
func ConfigFromEnv(r *envconfig.Reader) Config {
	c := Config{
		TranscribeConcurrency: r.Int("VOICE_TRANSCRIBE_CONCURRENCY", 8, 1, 1024),
		AnswerConcurrency:     r.Int("VOICE_ANSWER_CONCURRENCY", 32, 1, 1024),
		SynthesizeConcurrency: r.Int("VOICE_SYNTHESIZE_CONCURRENCY", 8, 1, 1024),
		TranscribeTimeout:     r.Duration("VOICE_TRANSCRIBE_TIMEOUT", 2*time.Minute, time.Second, time.Hour),
		AnswerTimeout:         r.Duration("VOICE_ANSWER_TIMEOUT", 5*time.Minute, time.Second, time.Hour),
		SynthesizeTimeout:     r.Duration("VOICE_SYNTHESIZE_TIMEOUT", 2*time.Minute, time.Second, time.Hour),
		GracePeriod:           r.Duration("VOICE_GRACE_PERIOD", 20*time.Second, time.Second, time.Hour),
		HistoryMessages:       r.Int("VOICE_HISTORY_MESSAGES", 20, 0, 200),
		SystemPrompt:          r.String("VOICE_SYSTEM_PROMPT", ""),
		TurnOrderWindow:       r.Duration("VOICE_TURN_ORDER_WINDOW", 10*time.Minute, time.Second, 24*time.Hour),
		Voice:                 r.String("TTS_VOICE", ""),
		SampleRate:            r.Int("TTS_SAMPLE_RATE", 24000, 8000, 48000),
		ChunkBytes:            r.Int("TTS_CHUNK_BYTES", 0, 0, 1<<20),
		MaxSpeechChars:        r.Int("TTS_MAX_INPUT_CHARS", 4096, 16, 1<<20),
		Breaker:               breaker.SettingsFromEnv(r, "VOICE", breaker.Settings{}),
	}
	if c.HistoryMessages == 0 {
		c.HistoryMessages = -1 // 0 in the environment means none; 0 in Config means the default
	}
	if c.ChunkBytes%2 != 0 {
		r.Fail("TTS_CHUNK_BYTES", "must be even: PCM16 samples are 2 bytes")
	}
	return c
}
