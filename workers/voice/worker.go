package voice

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"

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

// Breakers are the breaker sets of the stages, one set per stage: a stage stops pulling while
// one of its upstreams' breakers is open, and the other stages go on. A stage's set may be nil
// when the process does not run that stage.
type Breakers struct {
	Transcribe, Answer, Synthesize *breaker.Set
}

// Worker holds the three voice stages, their breakers and the process's turn registry.
type Worker struct {
	js         jetstream.JetStream
	clients    Clients
	breakers   Breakers
	cfg        Config
	log        *slog.Logger
	turns      *Turns
	chunkBytes int

	// Opened on first use: the bucket and the stream may appear after the process starts.
	sessionStore *worker.Lazy[*sessions]
	resultStream *worker.Lazy[jetstream.Stream] // AI_RESULTS
}

// New assembles the worker. log nil discards logs. It does no I/O.
func New(js jetstream.JetStream, clients Clients, breakers Breakers, cfg Config, log *slog.Logger) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuring voice-assistant: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	w := &Worker{
		js: js, clients: clients, breakers: breakers, cfg: cfg, log: log,
		turns: NewTurns(js, streams.BucketVoiceSessions, log),
		sessionStore: worker.NewLazy(func(ctx context.Context) (*sessions, error) {
			st, err := session.Open[sessionState](ctx, js, streams.BucketVoiceSessions)
			if err != nil {
				return nil, err
			}
			return &sessions{store: st, historyMessages: cfg.HistoryMessages, orderWindow: cfg.TurnOrderWindow}, nil
		}),
		resultStream: worker.LazyStream(js, streams.StreamResults),
	}
	var serverMaxPayload int64 // unknown without a connection (tests of the pure logic)
	if js != nil && js.Conn() != nil {
		serverMaxPayload = js.Conn().MaxPayload()
	}
	w.chunkBytes = audiochunk.ChunkBytesFor(serverMaxPayload, w.cfg.ChunkBytes)
	return w, nil
}

// Turns is the process's turn registry; run it beside the stages for barge-in across replicas.
func (w *Worker) Turns() *Turns { return w.turns }

// Specs returns the named stages (all three when names is empty), in the order named, each on
// its durable consumer and gated by its own breakers.
func (w *Worker) Specs(names ...string) ([]worker.StageSpec, error) {
	if len(names) == 0 {
		names = AllStages
	}
	specs := make([]worker.StageSpec, 0, len(names))
	for _, name := range names {
		spec, err := w.spec(name)
		if err != nil {
			return nil, err
		}
		specs = append(specs, spec)
	}
	return specs, nil
}

func (w *Worker) spec(name string) (worker.StageSpec, error) {
	spec := worker.StageSpec{Consumer: name, GracePeriod: w.cfg.GracePeriod}
	var missing string
	switch name {
	case StageTranscribe:
		if w.clients.STT == nil {
			missing = "transcription client"
		}
		spec.Handler, spec.Breakers = stage.Typed(w.Transcribe), w.breakers.Transcribe
		spec.Concurrency, spec.HandlerTimeout = w.cfg.TranscribeConcurrency, w.cfg.TranscribeTimeout
		spec.MaxPayload = MaxRequestBytes
	case StageAnswer:
		if w.clients.RAG == nil {
			missing = "RAG"
		}
		spec.Handler, spec.Breakers = stage.Typed(w.Answer), w.breakers.Answer
		spec.Concurrency, spec.HandlerTimeout = w.cfg.AnswerConcurrency, w.cfg.AnswerTimeout
	case StageSynthesize:
		if w.clients.TTS == nil {
			missing = "speech client"
		}
		spec.Handler, spec.Breakers = stage.Typed(w.Synthesize), w.breakers.Synthesize
		spec.Concurrency, spec.HandlerTimeout = w.cfg.SynthesizeConcurrency, w.cfg.SynthesizeTimeout
	default:
		return worker.StageSpec{}, fmt.Errorf("voice stage %q is not one of %v", name, AllStages)
	}
	if missing == "" && spec.Breakers == nil {
		missing = "breakers"
	}
	if missing != "" {
		return worker.StageSpec{}, fmt.Errorf("configuring %s: no %s", name, missing)
	}
	return spec, nil
}
