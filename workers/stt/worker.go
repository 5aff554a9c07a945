package stt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/metric"

	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/session"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/internal/upstream/transcribe"
	"github.com/jetflow-dev/jetflow/streams"
)

// StageName is the stage's name: its consumer, its dead-letter subject (ai.dlq.stt), the prefix
// of its breaker's name and of its results' Nats-Msg-Ids ("stt:<segment id>").
const StageName = streams.ConsumerSTT

// SweeperName names the sweeper runner in logs.
const SweeperName = "stt-sweeper"

// sessionAttempts bounds the CAS attempts of one session update: every chunk of a session
// updates the same key, so concurrent handlers of one session race often, and a lost race that
// gives up costs a redelivery.
const sessionAttempts = 25

// Pauses between CAS attempts: short, since the contenders are handlers of the same session
// whose updates take a round trip or two.
const (
	casBackoffBase = time.Millisecond
	casBackoffMax  = 20 * time.Millisecond
)

// Option tunes a Worker.
type Option func(*Worker)

// WithLogger sets the logger; the default discards logs.
func WithLogger(l *slog.Logger) Option {
	return func(w *Worker) {
		if l != nil {
			w.log = l
		}
	}
}

// WithMeter exports the transcription breaker's state; the default exports nothing.
func WithMeter(m metric.Meter) Option { return func(w *Worker) { w.meter = m } }

// Worker holds what the stage and the sweeper of one process share: the JetStream connection,
// the transcription client and its breaker, and the session bucket. It is safe for concurrent
// use.
type Worker struct {
	js       jetstream.JetStream
	stt      transcribe.Transcriber
	cfg      Config
	log      *slog.Logger
	meter    metric.Meter
	breakers *breaker.Set

	locks    keyLock
	mu       sync.Mutex
	sessions *session.Store[sessionState]
	audio    jetstream.Stream

	// Test hooks.
	onDelivery        func(seq int64, delivered uint64)
	crashAfterPublish func() bool
}

// New returns a worker that reads chunks through js and transcribes with t. It does no I/O:
// the session bucket and the audio stream are looked up on first use, so the process may start
// before streams.Apply has created them.
func New(js jetstream.JetStream, t transcribe.Transcriber, cfg Config, opts ...Option) (*Worker, error) {
	if js == nil || t == nil {
		return nil, errors.New("configuring stt worker: JetStream and transcriber are required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuring stt worker: %w", err)
	}
	w := &Worker{js: js, stt: t, cfg: cfg.withDefaults(), log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(w)
	}
	w.breakers = breaker.NewSet(StageName, w.cfg.Breaker, breaker.WithLogger(w.log), breaker.WithMeter(w.meter))
	return w, nil
}

// Stage returns the stage that consumes the chunks. It stops pulling while the transcription
// breaker is open.
func (w *Worker) Stage(opts ...stage.Option) (*stage.Stage, error) {
	cfg := stage.Config{
		Name:        StageName,
		Stream:      streams.StreamSTT,
		Consumer:    streams.ConsumerSTT,
		Concurrency: w.cfg.Concurrency,
		MaxPayload:  MaxChunkBytes,
		Backoff:     w.cfg.Backoff,
		GracePeriod: w.cfg.GracePeriod,
	}
	return stage.New(w.js, cfg, stage.Typed(w.handle), append([]stage.Option{stage.WithGate(w.breakers)}, opts...)...)
}

// Sweeper returns the runner that closes idle segments and publishes abandoned outboxes.
func (w *Worker) Sweeper() *Sweeper { return &Sweeper{w: w} }

// update applies fn to session id by CAS, one update per session at a time in this process.
func (w *Worker) update(ctx context.Context, id string, fn session.UpdateFunc[sessionState]) (session.Entry[sessionState], error) {
	store, err := w.store(ctx)
	if err != nil {
		return session.Entry[sessionState]{}, err
	}
	unlock, err := w.locks.lock(ctx, id)
	if err != nil {
		return session.Entry[sessionState]{}, fmt.Errorf("waiting to update session %s: %w", id, err)
	}
	defer unlock()
	return store.Update(ctx, id, fn)
}

// store returns the session store, opening the bucket on first use.
func (w *Worker) store(ctx context.Context) (*session.Store[sessionState], error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sessions != nil {
		return w.sessions, nil
	}
	s, err := session.Open[sessionState](ctx, w.js, streams.BucketSTTSessions, session.WithMaxAttempts(sessionAttempts), session.WithBackoff(casBackoffBase, casBackoffMax))
	if err != nil {
		return nil, err
	}
	w.sessions = s
	return s, nil
}

// audioStream returns the AI_STT stream, looked up on first use.
func (w *Worker) audioStream(ctx context.Context) (jetstream.Stream, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.audio != nil {
		return w.audio, nil
	}
	s, err := w.js.Stream(ctx, streams.StreamSTT)
	if err != nil {
		return nil, fmt.Errorf("opening stream %s: %w", streams.StreamSTT, err)
	}
	w.audio = s
	return s, nil
}
