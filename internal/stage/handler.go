package stage

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/jetflow-dev/jetflow/internal/failure"
)

// Handler handles one input. Returning an error hands the decision to the runtime: an error
// marked failure.Permanent dead-letters the message, any other error retries it after a delay.
type Handler interface {
	Handle(ctx context.Context, in *Input) ([]Output, error)
}

// HandlerFunc adapts a function to Handler. It sees the raw payload; most stages use Typed.
type HandlerFunc func(ctx context.Context, in *Input) ([]Output, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, in *Input) ([]Output, error) { return f(ctx, in) }

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

type requestIdentified interface{ GetRequestId() string }

type deadlined interface {
	GetDeadline() *timestamppb.Timestamp
}

type validated interface{ Validate() error }

// Typed decodes each input into a new T (protobuf, or protojson when the input says so) and
// validates it (when T has a Validate() error method); a failure of either is permanent
// (failure.ErrInvalid). It then calls fn through the Deadline middleware, with the message's
// deadline (when T has one) recorded on the Input: Deadline refuses a message whose deadline
// has passed and bounds fn's context by it. Deadline is applied here and not by the runtime
// because the deadline is known only once the payload is decoded.
func Typed[T proto.Message](fn func(ctx context.Context, msg T, in *Input) ([]Output, error)) Handler {
	var zero T
	mt := zero.ProtoReflect().Type()
	name := string(mt.Descriptor().FullName())
	// Built once: the decoded message reaches fn through the Input, so no closure is made per
	// message.
	call := Deadline(HandlerFunc(func(ctx context.Context, in *Input) ([]Output, error) {
		return fn(ctx, in.decoded.(T), in)
	}))
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
		in.deadline, in.hasDeadline = time.Time{}, false
		if d, ok := any(msg).(deadlined); ok && d.GetDeadline() != nil {
			in.deadline, in.hasDeadline = d.GetDeadline().AsTime(), true
		}
		in.decoded = msg
		return call.Handle(ctx, in)
	})
}
