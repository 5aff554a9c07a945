// Package stage is the durable stage runtime: one loop that serves every stage of every worker.
// It pulls from a durable JetStream consumer with bounded concurrency and no read-ahead, runs the
// handler, publishes the outputs with deterministic Nats-Msg-Ids, and acks only after their
// publish acks. Retryable failures are naked with a computed delay; permanent failures and the
// last delivery are copied to the dead-letter stream before the original is terminated.
package stage

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

const (
	// serverDefaultAckWait is the server's ack wait for a consumer configured without one.
	serverDefaultAckWait = 30 * time.Second
	// firstRetryWait and maxRetryWait bound the backoff of a stage waiting for its consumer to
	// appear or for pulls to work again. 5 s: a worker started before its streams are applied,
	// or cut off from the server, resumes within 5 s of the fix, while a missing consumer or a
	// dead connection costs the server at most one lookup or pull per stage every 5 s.
	firstRetryWait = 100 * time.Millisecond
	maxRetryWait   = 5 * time.Second
	// shutdownFlushTimeout bounds the flush of acks and naks at shutdown. 5 s is many round
	// trips to a loaded server, and the default grace period (20 s) plus 5 s stays under the
	// 30 s a Kubernetes pod gets between SIGTERM and SIGKILL.
	shutdownFlushTimeout = 5 * time.Second
)

// Stage runs one handler on one durable consumer.
type Stage struct {
	cfg           Config
	js            jetstream.JetStream
	handler       Handler // the caller's handler in the runtime's middleware
	log           *slog.Logger
	tracer        trace.Tracer
	meterProvider metric.MeterProvider
	gate          Gate
	ins           *instruments

	ackWait    time.Duration
	maxDeliver int
	// publishTimeout bounds the wait for the publish acks of a message's outputs, as the
	// JetStream context's default timeout bounds a synchronous publish.
	publishTimeout time.Duration

	afterPublish func(*Input) // test hook: runs between the outputs' publish acks and the ack
}

// New prepares a stage. It does no I/O; Run binds to the consumer. The handler runs inside the
// runtime's middleware: Recoverer outermost (a panic anywhere becomes a dead letter), then
// Timeout(cfg.HandlerTimeout).
func New(js jetstream.JetStream, cfg Config, h Handler, opts ...Option) (*Stage, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuring stage: %w", err)
	}
	if h == nil {
		return nil, fmt.Errorf("configuring stage %s: %w", cfg.Name, ErrNoHandler)
	}
	s := &Stage{
		cfg:           cfg.withDefaults(),
		js:            js,
		log:           slog.New(slog.DiscardHandler),
		tracer:        otel.GetTracerProvider().Tracer(instrumentationName),
		meterProvider: otel.GetMeterProvider(),
	}
	for _, o := range opts {
		o(s)
	}
	meter := s.meterProvider.Meter(instrumentationName)
	ins, err := newInstruments(meter, s.cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("configuring stage %s: %w", s.cfg.Name, err)
	}
	s.ins = ins
	if err := s.registerProgress(meter); err != nil {
		return nil, fmt.Errorf("configuring stage %s: %w", s.cfg.Name, err)
	}
	s.log = s.log.With("stage", s.cfg.Name, "stream", s.cfg.Stream, "consumer", s.cfg.Consumer)
	s.handler = chain(h, Recoverer(s.log), Timeout(s.cfg.HandlerTimeout))
	return s, nil
}

// Name is the stage's name.
func (s *Stage) Name() string { return s.cfg.Name }

// Check asks the server whether the stage's consumer exists, for readiness probes.
func (s *Stage) Check(ctx context.Context) error {
	if _, err := s.js.Consumer(ctx, s.cfg.Stream, s.cfg.Consumer); err != nil {
		return fmt.Errorf("looking up consumer %s on %s: %w", s.cfg.Consumer, s.cfg.Stream, err)
	}
	return nil
}

// Run pulls and handles messages until ctx is cancelled, then stops pulling, lets in-flight
// handlers finish within the grace period, cancels and naks the rest, and returns. Every
// goroutine it starts has ended when it returns. It returns nil after a clean shutdown, and at
// once, having started nothing, when ctx ends before the consumer is found.
func (s *Stage) Run(ctx context.Context) error {
	if !s.bind(ctx) {
		return nil
	}
	l := newLoop(ctx, s)
	defer l.cancelHandlers(nil)

	var workers, background sync.WaitGroup
	for i := range s.cfg.Concurrency {
		workers.Go(func() { l.serve(ctx, &l.leases.held[i]) })
	}
	completed := make(chan struct{})
	go func() {
		defer close(completed)
		l.complete()
	}()
	stopBeats := make(chan struct{})
	background.Go(func() { l.leases.beat(stopBeats, s.log) })
	pulled := make(chan struct{})
	go func() {
		defer close(pulled)
		l.pull(ctx)
	}()

	<-ctx.Done()
	<-pulled // the puller ended the subscription: nothing more comes for the workers
	// The workers end once their messages are handled, and the completer once it has settled
	// what they handed it: then nothing is in flight.
	l.settle(func() {
		workers.Wait()
		close(l.completions)
		<-completed
	})
	close(stopBeats)
	background.Wait()
	s.flush()
	return nil
}

// bind looks up the consumer and reads the settings the runtime depends on. It retries until
// the consumer exists, so a worker can start before the streams are applied, and reports false
// when ctx ended first.
func (s *Stage) bind(ctx context.Context) bool {
	wait := firstRetryWait
	for {
		cons, err := s.js.Consumer(ctx, s.cfg.Stream, s.cfg.Consumer)
		if err == nil {
			s.bound(cons)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		s.log.Warn("waiting for consumer", "error", err, "retry_in", wait)
		if !sleep(ctx, wait) {
			return false
		}
		wait = min(wait*2, maxRetryWait)
	}
}

func (s *Stage) bound(cons jetstream.Consumer) {
	info := cons.CachedInfo()
	s.ackWait = info.Config.AckWait
	if s.ackWait <= 0 {
		s.ackWait = serverDefaultAckWait
	}
	s.maxDeliver = info.Config.MaxDeliver
	if len(info.Config.BackOff) > 0 {
		s.log.Warn("consumer has a server-side backoff list: it replaces ack_wait with its first value; the runtime computes retry delays itself, so remove it", "backoff", info.Config.BackOff)
		s.ackWait = min(s.ackWait, info.Config.BackOff[0])
	}
	s.publishTimeout = s.js.Options().DefaultTimeout
}

// flush makes sure the acks and naks, which are fire-and-forget, reached the server before Run
// says it is done.
func (s *Stage) flush() {
	if nc := s.js.Conn(); nc != nil && nc.IsConnected() {
		if err := nc.FlushTimeout(shutdownFlushTimeout); err != nil {
			s.log.Warn("flushing acks at shutdown", "error", err)
		}
	}
}

// heartbeatEvery is how often a message whose handler runs long is reported in progress: a
// third of the ack wait, so that two beats may be late before the server redelivers it.
func (s *Stage) heartbeatEvery() time.Duration { return max(s.ackWait/3, 10*time.Millisecond) }

// sleep waits for d, or less when ctx ends first; it reports whether ctx is still alive.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
