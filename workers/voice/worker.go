package voice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/metric"

	"github.com/jetflow-dev/jetflow/internal/audio/audiochunk"
	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/rag"
	"github.com/jetflow-dev/jetflow/internal/session"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/internal/upstream/speech"
	"github.com/jetflow-dev/jetflow/internal/upstream/transcribe"
	"github.com/jetflow-dev/jetflow/internal/worker"
	"github.com/jetflow-dev/jetflow/streams"
)

// Stage names, which are also their consumers' names.
const (
	StageTranscribe = streams.ConsumerVoiceTranscribe
	StageAnswer     = streams.ConsumerVoiceAnswer
	StageSynthesize = streams.ConsumerVoiceSynthesize
)

// AllStages lists the stages in workflow order.
var AllStages = []string{StageTranscribe, StageAnswer, StageSynthesize}

// Clients are the model clients of the stages. A stage's client may be nil when the process
// does not run that stage.
type Clients struct {
	STT transcribe.Transcriber
	RAG *rag.RAG
	TTS Synthesizer
}

// Synthesizer streams speech audio; *speech.Client implements it.
type Synthesizer interface {
	Stream(ctx context.Context, req speech.Request, fn func(speech.Chunk) error) (string, int64, error)
}

// Option tunes a Worker.
type Option func(*Worker)

// WithLogger sets the logger; nil, like the default, discards logs.
func WithLogger(l *slog.Logger) Option {
	return func(w *Worker) {
		if l != nil {
			w.log = l
		}
	}
}

// WithMeter sets where the breakers report their state; the default exports nothing.
func WithMeter(m metric.Meter) Option { return func(w *Worker) { w.meter = m } }

// Worker holds the three voice stages, their breakers and the process's turn registry.
type Worker struct {
	js         jetstream.JetStream
	clients    Clients
	cfg        Config
	log        *slog.Logger
	meter      metric.Meter
	turns      *Turns
	chunkBytes int

	transcribeBreakers, answerBreakers, synthesizeBreakers *breaker.Set

	mu       sync.Mutex
	sessions *sessions        // opened on first use: the bucket may appear after the start
	results  jetstream.Stream // AI_RESULTS, looked up on first use
}

// New assembles the worker. It does no I/O.
func New(js jetstream.JetStream, clients Clients, cfg Config, opts ...Option) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuring voice-assistant: %w", err)
	}
	w := &Worker{js: js, clients: clients, cfg: cfg.withDefaults(), log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(w)
	}
	bopts := []breaker.Option{breaker.WithLogger(w.log), breaker.WithMeter(w.meter)}
	w.transcribeBreakers = breaker.NewSet(StageTranscribe, w.cfg.Breaker, bopts...)
	w.answerBreakers = breaker.NewSet(StageAnswer, w.cfg.Breaker, bopts...)
	w.synthesizeBreakers = breaker.NewSet(StageSynthesize, w.cfg.Breaker, bopts...)
	w.turns = NewTurns(js, streams.BucketVoiceSessions, w.log)
	var serverMaxPayload int64 // unknown without a connection (tests of the pure logic)
	if js != nil && js.Conn() != nil {
		serverMaxPayload = js.Conn().MaxPayload()
	}
	w.chunkBytes = audiochunk.ChunkBytesFor(serverMaxPayload, w.cfg.ChunkBytes)
	return w, nil
}

// Turns is the process's turn registry; run it (Runners does) for barge-in across replicas.
func (w *Worker) Turns() *Turns { return w.turns }

// Stage builds one stage, by name (StageTranscribe, StageAnswer, StageSynthesize), on its
// durable consumer, gated by its own breakers.
func (w *Worker) Stage(name string, opts ...stage.Option) (*stage.Stage, error) {
	cfg := stage.Config{Name: name, Stream: streams.StreamVoice, Consumer: name, GracePeriod: w.cfg.GracePeriod}
	var h stage.Handler
	var gate *breaker.Set
	switch name {
	case StageTranscribe:
		if w.clients.STT == nil {
			return nil, errors.New("configuring voice-transcribe: no transcription client")
		}
		cfg.Concurrency, cfg.HandlerTimeout = w.cfg.TranscribeConcurrency, w.cfg.TranscribeTimeout
		cfg.MaxPayload = MaxRequestBytes
		h, gate = stage.Typed(w.Transcribe), w.transcribeBreakers
	case StageAnswer:
		if w.clients.RAG == nil {
			return nil, errors.New("configuring voice-answer: no RAG")
		}
		cfg.Concurrency, cfg.HandlerTimeout = w.cfg.AnswerConcurrency, w.cfg.AnswerTimeout
		h, gate = stage.Typed(w.Answer), w.answerBreakers
	case StageSynthesize:
		if w.clients.TTS == nil {
			return nil, errors.New("configuring voice-synthesize: no speech client")
		}
		cfg.Concurrency, cfg.HandlerTimeout = w.cfg.SynthesizeConcurrency, w.cfg.SynthesizeTimeout
		h, gate = stage.Typed(w.Synthesize), w.synthesizeBreakers
	default:
		return nil, fmt.Errorf("voice stage %q is not one of %v", name, AllStages)
	}
	return stage.New(w.js, cfg, h, append(opts, stage.WithGate(gate))...)
}

// Runners returns the named stages (all three when names is empty) and the turn registry.
func (w *Worker) Runners(names []string, opts ...stage.Option) ([]worker.Runner, error) {
	if len(names) == 0 {
		names = AllStages
	}
	runners := make([]worker.Runner, 0, len(names)+1)
	for _, name := range names {
		st, err := w.Stage(name, opts...)
		if err != nil {
			return nil, err
		}
		runners = append(runners, st)
	}
	return append(runners, w.turns), nil
}

// sessionStore opens the voice-sessions bucket on first use.
func (w *Worker) sessionStore(ctx context.Context) (*sessions, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sessions != nil {
		return w.sessions, nil
	}
	st, err := session.Open[sessionState](ctx, w.js, streams.BucketVoiceSessions)
	if err != nil {
		return nil, err
	}
	w.sessions = &sessions{store: st, historyMessages: w.cfg.HistoryMessages, orderWindow: w.cfg.TurnOrderWindow}
	return w.sessions, nil
}

// resultStream looks AI_RESULTS up on first use.
func (w *Worker) resultStream(ctx context.Context) (jetstream.Stream, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.results != nil {
		return w.results, nil
	}
	s, err := w.js.Stream(ctx, streams.StreamResults)
	if err != nil {
		return nil, fmt.Errorf("looking up stream %s: %w", streams.StreamResults, err)
	}
	w.results = s
	return s, nil
}
