// Package tts is tts-module: a TtsRequest on ai.tts.request becomes audio on
// ai.result.tts.<request_id>, as sequenced chunks that each fit a NATS message, the last one
// marked. The first chunks are published while synthesis still runs. A voices list answers on
// ai.tts.voices (a NATS micro service).
package tts

import (
	"context"
	"fmt"
	"time"

	"github.com/jetflow-dev/jetflow/internal/audio/audiochunk"
	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/internal/upstream/speech"
	"github.com/jetflow-dev/jetflow/internal/worker"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// Synthesizer streams speech audio; *speech.Client implements it.
type Synthesizer interface {
	Stream(ctx context.Context, req speech.Request, fn func(speech.Chunk) error) (string, int64, error)
}

// Config tunes the worker. A zero field means the default stated on it (and an unset TTS_*
// variable means a zero field).
type Config struct {
	// Concurrency of the tts stage. 0 means 8.
	Concurrency int
	// ChunkBytes is the audio per result message. 0 means as much as a result message allows;
	// a larger value is cut to that, and an odd one rounded down so PCM16 samples stay whole
	// (audiochunk.ChunkBytesFor).
	ChunkBytes int
	// SampleRate reported for PCM audio, which carries no header. 0 means 24000, the rate of
	// OpenAI-compatible servers' pcm format.
	SampleRate int
	// Timeout bounds one synthesis. 0 means 2 minutes.
	Timeout time.Duration
}

func (c Config) withDefaults(maxPayload int64) Config {
	if c.Concurrency == 0 {
		c.Concurrency = 8
	}
	c.ChunkBytes = audiochunk.ChunkBytesFor(maxPayload, c.ChunkBytes)
	if c.SampleRate == 0 {
		c.SampleRate = 24000
	}
	if c.Timeout == 0 {
		c.Timeout = 2 * time.Minute
	}
	return c
}

// MaxRequestBytes is the largest TtsRequest the stage decodes: the text is at most 8 KiB
// (jetflowv1.MaxTtsTextBytes), the rest is small.
const MaxRequestBytes = 64 << 10

// Synthesis is the tts stage's handler.
type Synthesis struct {
	synth    Synthesizer
	breakers *breaker.Set
	cfg      Config
}

// NewSynthesis returns the handler; breakers guard the TTS upstream. maxPayload is the NATS
// server's max payload (nats.Conn.MaxPayload), which with AI_RESULTS' limit sizes the chunks.
func NewSynthesis(synth Synthesizer, breakers *breaker.Set, cfg Config, maxPayload int64) *Synthesis {
	return &Synthesis{synth: synth, breakers: breakers, cfg: cfg.withDefaults(maxPayload)}
}

// Spec is the tts stage, gated by the TTS upstream's breaker.
func (h *Synthesis) Spec() worker.StageSpec {
	return worker.StageSpec{
		Consumer: streams.ConsumerTTS, Handler: stage.Typed(h.Handle), Breakers: h.breakers,
		Concurrency: h.cfg.Concurrency, HandlerTimeout: h.cfg.Timeout, MaxPayload: MaxRequestBytes,
	}
}

var formats = map[jetflowv1.AudioFormat_Encoding]speech.Format{
	jetflowv1.AudioFormat_ENCODING_UNSPECIFIED: speech.FormatPCM,
	jetflowv1.AudioFormat_ENCODING_PCM16:       speech.FormatPCM,
	jetflowv1.AudioFormat_ENCODING_WAV:         speech.FormatWAV,
	jetflowv1.AudioFormat_ENCODING_MP3:         speech.FormatMP3,
	jetflowv1.AudioFormat_ENCODING_OPUS:        speech.FormatOpus,
	jetflowv1.AudioFormat_ENCODING_FLAC:        speech.FormatFLAC,
}

// Handle synthesizes one request and publishes its audio in chunks.
func (h *Synthesis) Handle(ctx context.Context, req *jetflowv1.TtsRequest, in *stage.Input) ([]stage.Output, error) {
	if req.GetText() == "" { // Validate says so too; this stage must never send nothing to speak
		return nil, failure.Invalidf("text is empty")
	}
	enc := req.GetFormat().GetEncoding()
	format, ok := formats[enc]
	if !ok {
		return nil, failure.Invalidf("format %v is not supported", enc)
	}
	outFormat := &jetflowv1.AudioFormat{Encoding: enc, Channels: 1}
	if format == speech.FormatPCM {
		outFormat.Encoding = jetflowv1.AudioFormat_ENCODING_PCM16
		outFormat.SampleRate = int32(h.cfg.SampleRate)
	}
	subject := streams.ResultSubject(streams.ResultKindTTS, req.GetRequestId())
	chunk := func(seq int, data []byte, last bool, total int64) stage.Output {
		return stage.Output{
			Subject: subject,
			Key:     fmt.Sprintf("chunk-%d", seq),
			Msg: &jetflowv1.TtsAudioChunk{
				RequestId: req.GetRequestId(), SessionId: req.GetSessionId(), Sequence: int32(seq),
				Audio: append([]byte(nil), data...), Last: last, Format: outFormat, TotalBytes: total,
			},
		}
	}
	var final *stage.Output
	split := audiochunk.New(h.cfg.ChunkBytes, func(ctx context.Context, seq int, data []byte, last bool) error {
		if last {
			out := chunk(seq, data, true, 0)
			final = &out
			return nil
		}
		// Published at once, so playback can start while synthesis goes on.
		return in.Emit(ctx, chunk(seq, data, false, 0))
	})
	_, err := breaker.Do(ctx, h.breakers.Get(breaker.TTS), func(ctx context.Context) (int64, error) {
		_, n, err := h.synth.Stream(ctx, speech.Request{
			Input: req.GetText(), Voice: req.GetVoice(), Format: format, Speed: float64(req.GetSpeed()),
		}, func(c speech.Chunk) error { return split.Write(ctx, c.Data) })
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("synthesizing %d characters: %w", len(req.GetText()), err)
	}
	_, total, err := split.Close(ctx)
	if err != nil {
		return nil, err
	}
	final.Msg.(*jetflowv1.TtsAudioChunk).TotalBytes = total
	return []stage.Output{*final}, nil
}
