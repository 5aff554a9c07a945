package stt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/session"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/internal/upstream/transcribe"
	"github.com/jetflow-dev/jetflow/internal/worker"
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

// Worker holds what the stage and the sweeper of one process share: the JetStream connection,
// the transcription client and its breaker, and the session bucket. It is safe for concurrent
// use.
type Worker struct {
	js       jetstream.JetStream
	stt      transcribe.Transcriber
	cfg      Config
	log      *slog.Logger
	breakers *breaker.Set

	locks    keyLock
	sessions *worker.Lazy[*session.Store[sessionState]]
	audio    *worker.Lazy[jetstream.Stream] // AI_STT, where chunks are read back

	// Test hooks.
	onDelivery        func(seq int64, delivered uint64)
	crashAfterPublish func() bool
}

// New returns a worker that reads chunks through js and transcribes with t, through breakers
// (the stage stops pulling while one is open). log nil discards logs. It does no I/O: the
// session bucket and the audio stream are looked up on first use, so the process may start
// before streams.Apply has created them.
func New(js jetstream.JetStream, t transcribe.Transcriber, breakers *breaker.Set, cfg Config, log *slog.Logger) (*Worker, error) {
	if js == nil || t == nil || breakers == nil {
		return nil, errors.New("configuring stt worker: JetStream, transcriber and breakers are required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuring stt worker: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{
		js: js, stt: t, breakers: breakers, cfg: cfg.withDefaults(), log: log,
		sessions: worker.NewLazy(func(ctx context.Context) (*session.Store[sessionState], error) {
			return session.Open[sessionState](ctx, js, streams.BucketSTTSessions,
				session.WithMaxAttempts(sessionAttempts), session.WithBackoff(casBackoffBase, casBackoffMax))
		}),
		audio: worker.LazyStream(js, streams.StreamSTT),
	}, nil
}

// Spec is the stage that consumes the chunks.
func (w *Worker) Spec() worker.StageSpec {
	return worker.StageSpec{
		Consumer:    StageName,
		Handler:     stage.Typed(w.handle),
		Breakers:    w.breakers,
		Concurrency: w.cfg.Concurrency,
		MaxPayload:  MaxChunkBytes,
		Backoff:     w.cfg.Backoff,
		GracePeriod: w.cfg.GracePeriod,
	}
}

// Sweeper returns the runner that closes idle segments and publishes abandoned outboxes.
func (w *Worker) Sweeper() *Sweeper { return &Sweeper{w: w} }

// update applies fn to session id by CAS, one update per session at a time in this process.
func (w *Worker) update(ctx context.Context, id string, fn session.UpdateFunc[sessionState]) (session.Entry[sessionState], error) {
	store, err := w.sessions.Get(ctx)
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
