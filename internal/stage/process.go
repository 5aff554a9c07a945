package stage

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/telemetry"
)

// completion is a handled message whose outputs are published and whose publish acks are
// awaited before the message is acked.
type completion struct {
	ctx      context.Context //nolint:containedctx // the message's handler context, carried to the completer
	deadline time.Time       // when to stop waiting for the publish acks
	span     trace.Span
	msg      jetstream.Msg
	in       Input
	pub      publisher
	futures  []jetstream.PubAckFuture
}

// consumerSpan starts every message's span. The messaging attributes are added only to a span
// that records: building them cost allocations per message for spans that are dropped.
var consumerSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}

// process handles one message from decode to the publication of its outputs. It finishes (ack,
// nak or dead letter) a message that produced nothing to wait for, and returns nil; otherwise it
// returns the completion that acks it once its outputs are stored.
func (s *Stage) process(ctx context.Context, msg jetstream.Msg, l *lease) *completion {
	meta, err := msg.Metadata()
	if err != nil {
		// Not a JetStream delivery: nothing to ack. Cannot happen on a pull consumer.
		s.log.Error("message without JetStream metadata", "subject", msg.Subject(), "error", err)
		return nil
	}
	// The completion holds the input and its publisher too: one allocation for the three.
	c := &completion{msg: msg}
	in := &c.in
	fillInput(in, msg, meta)
	c.pub = publisher{stage: s, in: in}
	in.pub = &c.pub
	ctx = telemetry.Extract(ctx, in.Header)
	ctx, span := s.tracer.Start(ctx, s.cfg.Name, consumerSpan...)
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", in.Subject),
			attribute.String("messaging.consumer.group.name", s.cfg.Consumer),
			attribute.Int64("messaging.nats.stream_sequence", int64(in.Sequence)),
			attribute.Int64("messaging.nats.delivered", int64(in.Delivered)),
		)
	}
	c.ctx, c.span = ctx, span
	s.ins.inFlight.Add(1)

	var outs []Output
	if len(in.Data) > s.cfg.MaxPayload {
		err = failure.Invalidf("payload of %d bytes exceeds the stage limit of %d bytes", len(in.Data), s.cfg.MaxPayload)
	} else {
		start := time.Now()
		outs, err = s.invoke(ctx, msg, in, l)
		s.ins.duration.Record(ctx, time.Since(start).Seconds(), s.ins.record...)
	}
	if err == nil && len(outs) > 0 {
		// As for a synchronous publish, the wait for the publish acks is bounded by the
		// JetStream context's default timeout.
		c.deadline = time.Now().Add(s.publishTimeout)
		if c.futures, err = c.pub.publishAsync(ctx, outs); err == nil {
			return c
		}
	}
	s.finish(c, err)
	return nil
}

// invoke runs the handler (in the runtime's middleware, see New), holding the message's lease
// so that the stage's heartbeat keeps it alive.
func (s *Stage) invoke(ctx context.Context, msg jetstream.Msg, in *Input, l *lease) ([]Output, error) {
	l.take(msg)
	defer l.release()
	return s.handler.Handle(ctx, in)
}

// finish acks the message when its outputs are stored (err == nil), and otherwise lets fail
// decide; then it closes the message's span and metrics.
func (s *Stage) finish(c *completion, err error) {
	defer c.span.End()
	defer s.ins.inFlight.Add(-1)
	if err == nil {
		if s.afterPublish != nil {
			s.afterPublish(&c.in)
		}
		// Every publish ack is in: the client will not send these outputs again. (After a
		// failure the buffers are left to the collector; a publish may still be retried.)
		for _, b := range c.pub.buffers {
			releaseBuffer(b)
		}
		if ackErr := c.msg.Ack(); ackErr != nil {
			// The outputs are out; a redelivery will find them deduplicated.
			s.log.Warn("ack failed after publishing outputs", "seq", c.in.Sequence, "error", ackErr)
		}
		s.ins.finished(outcomeAcked)
		return
	}
	c.span.RecordError(err)
	c.span.SetStatus(codes.Error, err.Error())
	s.fail(c.ctx, c.msg, &c.in, err)
}
