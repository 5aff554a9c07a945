package stage

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// maxGateWait is the longest the puller trusts an open gate's OpenFor before asking again: a
// half-open breaker may let work through before the time it first announced.
const maxGateWait = time.Second

// pull is the puller: it fetches as many messages as there are free slots, never more, so
// nothing waits in a client buffer while its ack wait runs out. It closes the work channel when
// ctx ends.
func (l *loop) pull(ctx context.Context) {
	defer close(l.work)
	errWait := firstRetryWait
	for l.s.waitGate(ctx) && l.slots.take(ctx) {
		n := l.claim()
		fetchCtx, cancel := context.WithTimeout(ctx, l.s.cfg.FetchWait)
		batch, err := l.s.consumer.Fetch(n, jetstream.FetchContext(fetchCtx))
		if err != nil {
			cancel()
			l.slots.give(n)
			if !l.s.pause(ctx, "pulling", err, &errWait) {
				return
			}
			continue
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			l.inflight.Add(1)
			l.work <- msg
		}
		cancel()
		l.slots.give(n - got)
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			if !l.s.pause(ctx, "fetching", err, &errWait) {
				return
			}
			continue
		}
		errWait = firstRetryWait
	}
}

// claim adds to the one slot the puller took the other free ones, and returns how many
// messages to ask for. A busy stage gathers slots for a moment first (slots.gather); a probing
// gate (a half-open breaker) gets one message at a time.
func (l *loop) claim() int {
	if l.s.probing() {
		return 1
	}
	n, concurrency := 1, l.s.cfg.Concurrency
	if busy := concurrency - l.slots.free() - 1; busy > concurrency/2 {
		n = l.slots.gather(n, concurrency/2)
	}
	return l.slots.takeFree(n, concurrency)
}

// pause logs a pull error and waits with exponential backoff. A deleted consumer or a lost
// connection must not spin: the stage keeps trying (readiness, Check, fails meanwhile).
func (s *Stage) pause(ctx context.Context, what string, err error, wait *time.Duration) bool {
	s.log.Warn("pull failed, retrying", "doing", what, "error", err, "retry_in", *wait)
	if !sleep(ctx, *wait) {
		return false
	}
	*wait = min(*wait*2, maxRetryWait)
	return true
}

func (s *Stage) probing() bool {
	p, ok := s.gate.(prober)
	return ok && p.Probing()
}

// waitGate blocks while the gate is open. It returns false when ctx ends.
func (s *Stage) waitGate(ctx context.Context) bool {
	if s.gate == nil {
		return ctx.Err() == nil
	}
	for {
		d := s.gate.OpenFor()
		if d <= 0 {
			return ctx.Err() == nil
		}
		if !sleep(ctx, min(d, maxGateWait)) {
			return false
		}
	}
}
