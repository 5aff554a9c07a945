package stage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/failure"
)

// settlePublishTimeout bounds the publish of a dead letter or a requeued copy, after which the
// message is naked to try again later. 10 s rides out a JetStream leader election (a few
// seconds) and stays well under the default 30 s ack wait: the message's lease is released
// before it is settled, so a settle that outlived the ack wait would race a redelivery of it.
const settlePublishTimeout = 10 * time.Second

// fail decides what a failure means for the message: nak at shutdown, dead letter when
// permanent or out of attempts, requeue when the work was not attempted or the stage's breaker
// is now open, delayed nak otherwise.
func (s *Stage) fail(ctx context.Context, msg jetstream.Msg, in *Input, err error) {
	attempts := in.Attempt
	switch {
	case errors.Is(context.Cause(ctx), errGraceOver):
		s.nak(msg, "grace period over")
		s.ins.finished(outcomeNaked)
	case failure.IsPermanent(err):
		s.deadLetter(ctx, msg, in, KindPermanent, err)
	case failure.WasNotAttempted(err):
		s.requeue(ctx, msg, in, attempts-1, err) // this delivery did not try the work
	case s.maxDeliver > 0 && attempts >= uint64(s.maxDeliver):
		s.deadLetter(ctx, msg, in, KindExhausted, fmt.Errorf("giving up after %d attempts: %w", attempts, err))
	case s.gate != nil && s.gate.OpenFor() > 0:
		// The failure opened (or met) an open breaker: an outage, not this message's fault. A
		// delayed nak would hold the message in ack pending for the whole outage.
		s.requeue(ctx, msg, in, attempts, err)
	default:
		hint, _ := failure.RetryDelay(err)
		delay := retryDelay(s.cfg.Backoff, in.Delivered, hint)
		if !errors.Is(err, context.Canceled) {
			s.log.Info("retrying later", "seq", in.Sequence, "delivered", in.Delivered, "delay", delay, "error", err)
		}
		if nakErr := msg.NakWithDelay(delay); nakErr != nil {
			s.log.Warn("nak failed; the server redelivers after the ack wait", "seq", in.Sequence, "error", nakErr)
		}
		s.countRetried(ctx)
	}
}

// requeue puts a message whose work could not be attempted (an open breaker) back into its
// stream as a fresh copy and acks the original. A nak would keep it in the consumer's ack pending
// set and spend a delivery each time; the copy waits as ordinary pending work, with its whole
// delivery budget, for a replica whose breaker lets it through.
func (s *Stage) requeue(ctx context.Context, msg jetstream.Msg, in *Input, attempts uint64, cause error) {
	h := withoutServerHeaders(in.Header)
	h.Set(HeaderRequeuedFrom, in.origin)
	h.Set(HeaderAttempts, strconv.FormatUint(attempts, 10))
	h.Set(jetstream.MsgIDHeader, "requeue:"+in.Stream+":"+strconv.FormatUint(in.Sequence, 10))
	pubCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settlePublishTimeout)
	defer cancel()
	if _, err := s.js.PublishMsg(pubCtx, &nats.Msg{Subject: in.Subject, Header: h, Data: in.Data}); err != nil {
		hint, _ := failure.RetryDelay(cause)
		s.log.Warn("requeueing failed, naking instead", "seq", in.Sequence, "error", err)
		_ = msg.NakWithDelay(retryDelay(s.cfg.Backoff, in.Delivered, hint))
		s.countRetried(ctx)
		return
	}
	if err := msg.Ack(); err != nil {
		s.log.Warn("acking a requeued message; its copy is deduplicated by origin", "seq", in.Sequence, "error", err)
	}
	s.log.Info("requeued: upstream unavailable", "seq", in.Sequence, "origin", in.origin, "error", cause)
	s.ins.finished(outcomeRequeued)
}

func (s *Stage) nak(msg jetstream.Msg, why string) {
	if err := msg.Nak(); err != nil {
		s.log.Warn("nak failed; the server redelivers after the ack wait", "why", why, "error", err)
	}
}

// deadLetter copies the message to the dead-letter stream, waits for the publish ack, and only
// then terminates the original: in a work-queue stream Term deletes it.
func (s *Stage) deadLetter(ctx context.Context, msg jetstream.Msg, in *Input, kind string, cause error) {
	d := DeadLetter{
		Stage:           s.cfg.Name,
		Kind:            kind,
		Reason:          cause.Error(),
		OriginalSubject: in.Subject,
		Stream:          in.Stream,
		Sequence:        in.Sequence,
		Deliveries:      in.Attempt,
		Header:          in.Header,
		Data:            in.Data,
		FailedAt:        time.Now(),
	}
	pubCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settlePublishTimeout)
	defer cancel()
	if err := publishDeadLetter(pubCtx, s.js, d); err != nil {
		// Keep the original: it comes back after a delay and we try again.
		s.log.Error("dead-lettering failed, retrying the message later", "seq", in.Sequence, "error", err)
		_ = msg.NakWithDelay(retryDelay(s.cfg.Backoff, 1, 0))
		s.countRetried(ctx)
		return
	}
	s.log.Warn("dead-lettered", "seq", in.Sequence, "kind", kind, "delivered", in.Delivered, "error", cause)
	if err := msg.TermWithReason(kind + ": " + truncate(cause.Error(), 200)); err != nil {
		s.log.Warn("terminating dead-lettered message", "seq", in.Sequence, "error", err)
	}
	s.ins.deadLettered.Add(ctx, 1, s.ins.add...)
	s.ins.finished(outcomeDeadLettered)
}

// countRetried counts a message given back for a later try, in both counters that say so.
func (s *Stage) countRetried(ctx context.Context) {
	s.ins.retried.Add(ctx, 1, s.ins.add...)
	s.ins.finished(outcomeRetried)
}

// retryDelay is the delay before the next delivery after a retryable failure on delivery n
// (1-based). A delay attached to the error (failure.RetryAfter) wins when it is longer.
func retryDelay(schedule []time.Duration, delivered uint64, hinted time.Duration) time.Duration {
	i := int(delivered) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(schedule) {
		i = len(schedule) - 1
	}
	d := schedule[i]
	if hinted > d {
		d = hinted
	}
	return d
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
