package stage

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
)

// Input is one delivered message as a handler sees it.
type Input struct {
	Subject string
	Header  nats.Header
	Data    []byte
	// Stream, Sequence and Delivered come from the JetStream metadata of the delivery.
	Stream    string
	Sequence  uint64
	Delivered uint64
	// Attempt is the number of this attempt at the message's work, counted across the copies
	// the runtime requeued it as: the attempts of earlier copies (HeaderAttempts) plus Delivered.
	// A copy is requeued only when its work was not attempted, or after a failure that found the
	// stage's breaker open; a delivery refused without trying does not count. The runtime
	// dead-letters the message once Attempt reaches the consumer's max_deliver.
	Attempt uint64
	// OriginalSequence is the stream sequence of the message as first published: for a requeued
	// copy the sequence named by HeaderRequeuedFrom, otherwise Sequence. It identifies the
	// message whichever copy of it is delivered. The runtime sets Attempt and OriginalSequence;
	// an Input made outside it has what its maker set.
	OriginalSequence uint64
	// JSON is true when the input was protojson (HeaderContentType); outputs are then protojson
	// too.
	JSON bool
	// origin is "<stream>:<sequence>" of the message as first published, which a requeued copy
	// keeps; output ids derive from it.
	origin string

	// deadline is the decoded message's own deadline, when hasDeadline; Typed sets both.
	deadline    time.Time
	hasDeadline bool
	// decoded is the message Typed decoded, handed to its function through Deadline.
	decoded proto.Message

	pub *publisher // nil for an Input made outside the runtime
}

// Deadline is the deadline the input's message carries, and whether it carries one. Typed reads
// it from the decoded message's deadline field; an Input no Typed handler decoded has none.
func (in *Input) Deadline() (deadline time.Time, ok bool) { return in.deadline, in.hasDeadline }

// Emit publishes an output at once and waits for its publish ack, for progress that must be
// visible before the handler returns (pipeline status updates, audio chunks). Outputs emitted
// this way are deduplicated like returned ones, so a redelivered input does not repeat them.
func (in *Input) Emit(ctx context.Context, out Output) error {
	if in.pub == nil {
		return fmt.Errorf("emitting an output to %s: %w", out.Subject, ErrNotDelivered)
	}
	return in.pub.emit(ctx, out)
}

// fillInput fills in the handler's view of a delivery.
func fillInput(in *Input, msg jetstream.Msg, meta *jetstream.MsgMetadata) {
	h := msg.Headers()
	in.OriginalSequence = meta.Sequence.Stream
	in.origin = h.Get(HeaderRequeuedFrom)
	if in.origin == "" {
		in.origin = meta.Stream + ":" + strconv.FormatUint(meta.Sequence.Stream, 10)
	} else if seq, err := strconv.ParseUint(in.origin[strings.LastIndexByte(in.origin, ':')+1:], 10, 64); err == nil {
		// A malformed header (not the runtime's) leaves OriginalSequence at this copy's sequence.
		in.OriginalSequence = seq
	}
	var prior uint64
	if a := h.Get(HeaderAttempts); a != "" {
		prior, _ = strconv.ParseUint(a, 10, 32)
	}
	in.Subject = msg.Subject()
	in.Header = h
	in.Data = msg.Data()
	in.Stream = meta.Stream
	in.Sequence = meta.Sequence.Stream
	in.Delivered = meta.NumDelivered
	in.Attempt = prior + meta.NumDelivered
	in.JSON = isJSON(h)
}
