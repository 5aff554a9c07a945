package stage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/failure"
)

// MaxDeliveriesAdvisory is the server's io.nats.jetstream.advisory.v1.max_deliver event, sent
// when a message used up its consumer's max_deliver without being acked or terminated: the
// worker crashed or hung on it every time, so the runtime never got to dead-letter it.
type MaxDeliveriesAdvisory struct {
	Type       string    `json:"type"`
	ID         string    `json:"id"`
	Timestamp  time.Time `json:"timestamp"`
	Stream     string    `json:"stream"`
	Consumer   string    `json:"consumer"`
	StreamSeq  uint64    `json:"stream_seq"`
	Deliveries uint64    `json:"deliveries"`
}

const maxDeliverAdvisoryType = "io.nats.jetstream.advisory.v1.max_deliver"

// ParseMaxDeliveriesAdvisory decodes and checks an advisory.
func ParseMaxDeliveriesAdvisory(data []byte) (MaxDeliveriesAdvisory, error) {
	var a MaxDeliveriesAdvisory
	if err := json.Unmarshal(data, &a); err != nil {
		return a, failure.Invalidf("decoding max-deliveries advisory: %v", err)
	}
	switch {
	case a.Type != maxDeliverAdvisoryType:
		return a, failure.Invalidf("advisory type %q is not %s", a.Type, maxDeliverAdvisoryType)
	case a.Stream == "" || a.Consumer == "":
		return a, failure.Invalidf("advisory names no stream or consumer")
	case a.StreamSeq == 0:
		return a, failure.Invalidf("advisory has no stream sequence")
	}
	return a, nil
}

// AdvisoryCatcher turns max-deliveries advisories into dead letters. It runs as the handler of
// an ordinary stage on the durable consumer of the stream that captures the advisories
// (AI_ADVISORIES), so an advisory raised while no worker was connected is still handled, and
// several replicas share the work. The dead letter goes to the consumer's dead-letter subject
// (streams.DeadLetterSubject) with the same Nats-Msg-Id the runtime would have used, so it lands
// once.
type AdvisoryCatcher struct {
	JS jetstream.JetStream
}

// Handle copies the message an advisory points at into the dead-letter stream, then removes it
// from a work-queue stream (where the server keeps max-delivered messages).
func (c AdvisoryCatcher) Handle(ctx context.Context, in *Input) ([]Output, error) {
	a, err := ParseMaxDeliveriesAdvisory(in.Data)
	if err != nil {
		return nil, err
	}
	stream, err := c.JS.Stream(ctx, a.Stream)
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, nil // the stream is gone, and its message with it
		}
		return nil, fmt.Errorf("looking up stream %s for advisory of seq %d: %w", a.Stream, a.StreamSeq, err)
	}
	raw, err := stream.GetMsg(ctx, a.StreamSeq)
	if err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			// Already dead-lettered and removed by another replica, or purged by an operator.
			return nil, nil
		}
		return nil, fmt.Errorf("reading %s seq %d: %w", a.Stream, a.StreamSeq, err)
	}
	d := DeadLetter{
		Stage:           a.Consumer,
		Kind:            KindMaxDeliveries,
		Reason:          fmt.Sprintf("delivered %d times without an ack, nak or term: the worker crashed or hung on it each time", a.Deliveries),
		OriginalSubject: raw.Subject,
		Stream:          a.Stream,
		Sequence:        a.StreamSeq,
		Deliveries:      a.Deliveries,
		Header:          raw.Header,
		Data:            raw.Data,
		FailedAt:        a.Timestamp,
	}
	if d.FailedAt.IsZero() {
		d.FailedAt = time.Now()
	}
	if err := publishDeadLetter(ctx, c.JS, d); err != nil {
		return nil, err
	}
	if stream.CachedInfo().Config.Retention == jetstream.WorkQueuePolicy {
		if err := stream.DeleteMsg(ctx, a.StreamSeq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil, fmt.Errorf("removing dead-lettered %s seq %d: %w", a.Stream, a.StreamSeq, err)
		}
	}
	return nil, nil
}
