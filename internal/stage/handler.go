package stage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/jetflow-dev/jetflow/internal/failure"
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

	pub *publisher // nil for an Input made outside the runtime
}

// Emit publishes an output at once and waits for its publish ack, for progress that must be
// visible before the handler returns (pipeline status updates, audio chunks). Outputs emitted
// this way are deduplicated like returned ones, so a redelivered input does not repeat them.
func (in *Input) Emit(ctx context.Context, out Output) error {
	if in.pub == nil {
		return errors.New("emitting an output: the input was not delivered by a stage")
	}
	return in.pub.emit(ctx, out)
}

// Output is one message a handler asks the runtime to publish. The runtime publishes every
// output and waits for the publish acks before it acks the input.
type Output struct {
	Subject string
	Msg     proto.Message
	// Key tells apart the outputs of one input in their Nats-Msg-Id. It must be stable across
	// redeliveries (a chunk number, a status phase). Empty means the output's position.
	Key string
	// ID, when set, replaces the input-derived id: the Nats-Msg-Id is <stage>:<ID>. Use it for
	// an output that more than one input may produce (an STT segment closed while handling one
	// chunk and published, after a crash, while handling another): it must land once whichever
	// input publishes it.
	ID string
	// Header holds extra headers; the runtime adds Nats-Msg-Id, content type and trace context.
	Header nats.Header
}

// Handler handles one input. Returning an error hands the decision to the runtime: an error
// marked failure.Permanent dead-letters the message, any other error retries it after a delay.
type Handler interface {
	Handle(ctx context.Context, in *Input) ([]Output, error)
}

// HandlerFunc adapts a function to Handler. It sees the raw payload; most stages use Typed.
type HandlerFunc func(ctx context.Context, in *Input) ([]Output, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, in *Input) ([]Output, error) { return f(ctx, in) }

type requestIdentified interface{ GetRequestId() string }

type deadlined interface {
	GetDeadline() *timestamppb.Timestamp
}

type validated interface{ Validate() error }

// Typed decodes each input into a new T (protobuf, or protojson when the input says so),
// validates it (when T has a Validate() error method), refuses it when its deadline has passed,
// and calls fn with a context bounded by that deadline.
func Typed[T proto.Message](fn func(ctx context.Context, msg T, in *Input) ([]Output, error)) Handler {
	var zero T
	mt := zero.ProtoReflect().Type()
	name := string(mt.Descriptor().FullName())
	return HandlerFunc(func(ctx context.Context, in *Input) ([]Output, error) {
		msg := mt.New().Interface().(T)
		if err := Decode(in.Header, in.Data, msg); err != nil {
			return nil, err
		}
		if v, ok := any(msg).(validated); ok {
			if err := v.Validate(); err != nil {
				// The schema says what is wrong; the runtime decides that it is permanent.
				return nil, failure.Invalid(fmt.Errorf("validating %s: %w", name, err))
			}
		}
		if d, ok := any(msg).(deadlined); ok && d.GetDeadline() != nil {
			deadline := d.GetDeadline().AsTime()
			if !time.Now().Before(deadline) {
				return nil, fmt.Errorf("request deadline %s: %w", deadline.Format(time.RFC3339Nano), failure.ErrExpired)
			}
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, deadline)
			defer cancel()
			outs, err := fn(ctx, msg, in)
			if err != nil && !time.Now().Before(deadline) {
				return nil, fmt.Errorf("request deadline %s passed while handling (%v): %w", deadline.Format(time.RFC3339Nano), err, failure.ErrExpired)
			}
			return outs, err
		}
		return fn(ctx, msg, in)
	})
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
