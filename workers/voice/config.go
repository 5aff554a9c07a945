package voice

import (
	"errors"
	"fmt"
	"time"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
)

// Config tunes the worker. A zero field takes the default its comment states (held in defaults).
type Config struct {
	// TranscribeConcurrency, AnswerConcurrency and SynthesizeConcurrency size the three stages.
	// 0 means 8, 32 and 8: the answer stage waits on the LLM most of the time.
	TranscribeConcurrency, AnswerConcurrency, SynthesizeConcurrency int
	// TranscribeTimeout, AnswerTimeout and SynthesizeTimeout bound one handler call. 0 means
	// 2 min, 5 min and 2 min.
	TranscribeTimeout, AnswerTimeout, SynthesizeTimeout time.Duration
	// GracePeriod is how long in-flight handlers may finish at shutdown. 0 means the stage
	// runtime's default.
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
}

// defaults holds the value each field takes when it is zero, as its comment states.
// ConfigFromEnv starts from the same values.
var defaults = Config{
	TranscribeConcurrency: 8,
	AnswerConcurrency:     32,
	SynthesizeConcurrency: 8,
	TranscribeTimeout:     2 * time.Minute,
	AnswerTimeout:         5 * time.Minute,
	SynthesizeTimeout:     2 * time.Minute,
	HistoryMessages:       20,
	SampleRate:            24000,
	MaxSpeechChars:        4096,
	TurnOrderWindow:       10 * time.Minute,
}

func (c Config) withDefaults() Config {
	orDefault(&c.TranscribeConcurrency, defaults.TranscribeConcurrency)
	orDefault(&c.AnswerConcurrency, defaults.AnswerConcurrency)
	orDefault(&c.SynthesizeConcurrency, defaults.SynthesizeConcurrency)
	orDefault(&c.TranscribeTimeout, defaults.TranscribeTimeout)
	orDefault(&c.AnswerTimeout, defaults.AnswerTimeout)
	orDefault(&c.SynthesizeTimeout, defaults.SynthesizeTimeout)
	orDefault(&c.HistoryMessages, defaults.HistoryMessages)
	orDefault(&c.SampleRate, defaults.SampleRate)
	orDefault(&c.MaxSpeechChars, defaults.MaxSpeechChars)
	orDefault(&c.TurnOrderWindow, defaults.TurnOrderWindow)
	return c
}

// orDefault sets *v to def when it is zero.
func orDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
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

// ConfigFromEnv reads the worker's own variables; an unset one takes the default of the field
// it sets. Problems are recorded in r.
//
//	VOICE_TRANSCRIBE_CONCURRENCY, VOICE_ANSWER_CONCURRENCY, VOICE_SYNTHESIZE_CONCURRENCY
//	VOICE_TRANSCRIBE_TIMEOUT, VOICE_ANSWER_TIMEOUT, VOICE_SYNTHESIZE_TIMEOUT
//	VOICE_GRACE_PERIOD         shutdown grace for in-flight turns
//	VOICE_HISTORY_MESSAGES     messages of history kept per session, 0 for none
//	VOICE_SYSTEM_PROMPT        system prompt for voice turns
//	VOICE_TURN_ORDER_WINDOW    see Config.TurnOrderWindow
//	TTS_VOICE                  default voice
//	TTS_SAMPLE_RATE            rate of the TTS server's pcm output
//	TTS_CHUNK_BYTES            audio bytes per chunk message
//	TTS_MAX_INPUT_CHARS        characters per TTS call
func ConfigFromEnv(r *envconfig.Reader) Config {
	d := defaults
	c := Config{
		TranscribeConcurrency: r.Int("VOICE_TRANSCRIBE_CONCURRENCY", d.TranscribeConcurrency, 1, 1024),
		AnswerConcurrency:     r.Int("VOICE_ANSWER_CONCURRENCY", d.AnswerConcurrency, 1, 1024),
		SynthesizeConcurrency: r.Int("VOICE_SYNTHESIZE_CONCURRENCY", d.SynthesizeConcurrency, 1, 1024),
		TranscribeTimeout:     r.Duration("VOICE_TRANSCRIBE_TIMEOUT", d.TranscribeTimeout, time.Second, time.Hour),
		AnswerTimeout:         r.Duration("VOICE_ANSWER_TIMEOUT", d.AnswerTimeout, time.Second, time.Hour),
		SynthesizeTimeout:     r.Duration("VOICE_SYNTHESIZE_TIMEOUT", d.SynthesizeTimeout, time.Second, time.Hour),
		GracePeriod:           r.Duration("VOICE_GRACE_PERIOD", d.GracePeriod, time.Second, time.Hour),
		HistoryMessages:       r.Int("VOICE_HISTORY_MESSAGES", d.HistoryMessages, 0, 200),
		SystemPrompt:          r.String("VOICE_SYSTEM_PROMPT", d.SystemPrompt),
		TurnOrderWindow:       r.Duration("VOICE_TURN_ORDER_WINDOW", d.TurnOrderWindow, time.Second, 24*time.Hour),
		Voice:                 r.String("TTS_VOICE", d.Voice),
		SampleRate:            r.Int("TTS_SAMPLE_RATE", d.SampleRate, 8000, 48000),
		ChunkBytes:            r.Int("TTS_CHUNK_BYTES", d.ChunkBytes, 0, 1<<20),
		MaxSpeechChars:        r.Int("TTS_MAX_INPUT_CHARS", d.MaxSpeechChars, 16, 1<<20),
	}
	if c.HistoryMessages == 0 {
		c.HistoryMessages = -1 // 0 in the environment means none; 0 in Config means the default
	}
	if c.ChunkBytes%2 != 0 {
		r.Fail("TTS_CHUNK_BYTES", "must be even: PCM16 samples are 2 bytes")
	}
	return c
}
