package stage

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// loop is the state one Run shares between its goroutines, whose bodies are its methods: the
// puller (pull) asks the server for messages on one subscription, a fixed pool of workers
// (serve) takes them off that subscription and handles them, a worker whose message produced
// outputs hands it to the completer (complete), and one heartbeat goroutine (leases.beat) keeps
// long-running messages alive. Run starts and stops them.
type loop struct {
	s *Stage
	// slots are the free places for messages: the stage holds at most Concurrency
	// unacknowledged messages, and pulls no more than it has free places for.
	slots slots
	// in is the pull subscription's channel: the server's deliveries and statuses. The workers
	// read it themselves, a fixed pool rather than a goroutine per message (a new goroutine
	// starts on a small stack and grows it, copying, on every message), and with no goroutine
	// between them and the connection: a puller that handed each message on cost a goroutine
	// switch and a channel operation per message (the profile in the README).
	in chan *nats.Msg
	// pulls is what the puller and the workers share about the subscription and its requests.
	pulls pulls
	// trouble carries a status that ends the subscription's requests (a deleted consumer, a
	// leadership change), which a worker read, to the puller.
	trouble chan error
	// completions carries handled messages whose outputs are published to the completer, which
	// waits for their publish acks and acks them, while the worker goes on with its next
	// message. Publishes of several workers then reach the connection's buffer together and
	// leave in one write, and the completer acks in a burst as the publish acks arrive in one
	// read; a worker that blocked on its own publish ack made the connection write each publish
	// and each ack on its own (the write loop was a third of the runtime's CPU per message in
	// cmd/jetflow-bench's profile). The slot stays taken until the ack.
	completions chan *completion
	leases      *leases
	// handlerCtx is the context handlers run under, the loop's own lifetime rather than a
	// request's: shutdown stops pulling at once but gives in-flight work the grace period before
	// cancelling it. Its cause tells fail that a cancellation was the end of the grace period.
	handlerCtx     context.Context //nolint:containedctx // the loop's lifetime, cancelled by Run
	cancelHandlers context.CancelCauseFunc
}

func newLoop(ctx context.Context, s *Stage) *loop {
	handlerCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	return &loop{
		s:     s,
		slots: newSlots(s.cfg.Concurrency),
		// At most one message per slot, and at most one status per request (each asks for one
		// slot or more), plus the odd heartbeat: a full channel would drop messages.
		in:             make(chan *nats.Msg, 2*s.cfg.Concurrency+16),
		trouble:        make(chan error, 1),
		completions:    make(chan *completion, s.cfg.Concurrency),
		leases:         newLeases(s.cfg.Concurrency, s.heartbeatEvery()),
		handlerCtx:     handlerCtx,
		cancelHandlers: cancel,
	}
}

// serve is one worker: it takes messages off the pull subscription and handles them until ctx
// ends. A message taken while shutting down goes straight back (nak) without being handled.
func (l *loop) serve(ctx context.Context, lease *lease) {
	for {
		var m *nats.Msg
		select {
		case <-ctx.Done():
			return
		case m = <-l.in:
		}
		msg, ok := l.admit(m)
		if !ok {
			continue
		}
		if ctx.Err() != nil {
			l.s.nak(msg, "shutting down before it started")
			l.settled()
			continue
		}
		// Handlers run under the loop's handler context, which is ctx without its cancellation.
		if c := l.s.process(l.handlerCtx, msg, lease); c != nil { //nolint:contextcheck // see loop.handlerCtx
			l.completions <- c
			continue
		}
		l.settled()
	}
}

// complete is the completer: it acks each handled message once its outputs' publish acks are
// in, until Run closes the completions channel.
func (l *loop) complete() {
	var failing sync.WaitGroup
	defer failing.Wait()
	w := newWaiter()
	for c := range l.completions {
		if err := w.published(c.ctx, c.deadline, c.futures); err != nil {
			// What a failure means may take a dead letter or a requeued copy and its publish ack
			// (seconds, in an outage): decide it aside so the acks of the others go on.
			failing.Go(func() {
				l.s.finish(c, err)
				l.settled()
			})
			continue
		}
		l.s.finish(c, nil)
		l.settled()
	}
}

// settled frees a message's slot once it is acked, naked, requeued or dead-lettered.
func (l *loop) settled() { l.slots.give(1) }

// settle waits for drain, which returns once every message in flight is settled, for at most
// the grace period, then cancels the handlers and waits for the rest (a cancelled handler
// returns at once, and its message is naked).
func (l *loop) settle(drain func()) {
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		drain()
	}()
	grace := time.NewTimer(l.s.cfg.GracePeriod)
	defer grace.Stop()
	select {
	case <-finished:
	case <-grace.C:
		l.s.log.Warn("grace period over, cancelling in-flight handlers", "grace", l.s.cfg.GracePeriod)
		l.cancelHandlers(errGraceOver)
		<-finished
	}
}
