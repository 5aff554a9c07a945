package stage

import (
	"context"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/telemetry"
)

func (p *publisher) build(ctx context.Context, out Output, key string) (*nats.Msg, *[]byte, error) {
	id := p.msgID(key)
	if out.ID != "" {
		id = outputID(p.stage.cfg.Name, out.ID)
	}
	return newOutputMsg(ctx, id, out, p.in.JSON, true)
}

// outputID is the Nats-Msg-Id of an output with Output.ID set.
func outputID(stageName, id string) string { return stageName + ":" + id }

// BuildOutput builds the message the runtime of stage stageName publishes for out, for code
// that publishes such an output itself (outside a handler, or ahead of the runtime): the same
// Nats-Msg-Id "<stageName>:<out.ID>" (so either copy lands once), HeaderContentType (protojson
// when asJSON, binary protobuf otherwise), HeaderType, HeaderRequestID when the message has a
// request id, out.Header, and the trace context of ctx. out.ID is required: the runtime's other
// ids derive from the input being handled, which this function does not know. The message's
// Data belongs to the caller. Like the runtime, it fails permanently (ErrInvalidOutput) when
// out has no subject or out.Msg is nil or cannot be encoded.
func BuildOutput(ctx context.Context, stageName string, out Output, asJSON bool) (*nats.Msg, error) {
	if out.ID == "" {
		return nil, fmt.Errorf("building output for %s: output has no ID", out.Subject)
	}
	msg, _, err := newOutputMsg(ctx, outputID(stageName, out.ID), out, asJSON, false)
	if err != nil {
		return nil, fmt.Errorf("building output for %s: %w", out.Subject, err)
	}
	return msg, nil
}

// newOutputMsg builds an output message with Nats-Msg-Id id. With pooled, a binary payload is
// encoded into a pooled buffer, returned for releaseBuffer once no publish can resend it. An
// output without a subject or a message is a bug in its handler: the error is permanent, so the
// input is dead-lettered at once instead of being retried until its delivery budget is spent.
func newOutputMsg(ctx context.Context, id string, out Output, asJSON, pooled bool) (*nats.Msg, *[]byte, error) {
	if out.Subject == "" {
		return nil, nil, failure.Permanent(fmt.Errorf("%w: it has no subject", ErrInvalidOutput))
	}
	if out.Msg == nil {
		return nil, nil, failure.Permanent(fmt.Errorf("%w: it has no message", ErrInvalidOutput))
	}
	data, buf, ct, err := encode(out.Msg, asJSON, pooled)
	if err != nil {
		return nil, nil, failure.Permanent(fmt.Errorf("%w: %w", ErrInvalidOutput, err))
	}
	h := make(nats.Header, len(out.Header)+6)
	for k, v := range out.Header {
		h[k] = v
	}
	// The runtime's headers share one backing array instead of a slice each.
	vals := [...]string{id, ct, string(proto.MessageName(out.Msg)), ""}
	h[jetstream.MsgIDHeader] = vals[0:1:1]
	h[HeaderContentType] = vals[1:2:2]
	h[HeaderType] = vals[2:3:3]
	if rid, ok := out.Msg.(requestIdentified); ok && rid.GetRequestId() != "" {
		vals[3] = rid.GetRequestId()
		h[HeaderRequestID] = vals[3:4:4]
	}
	telemetry.Inject(ctx, h)
	return &nats.Msg{Subject: out.Subject, Header: h, Data: data}, buf, nil
}

// encodeBuffers recycles the buffers binary outputs are encoded into, so that a stage does not
// allocate (and zero, and collect) a new buffer the size of every output. A buffer goes back
// only once its output's publish ack has arrived: until then the JetStream client may send the
// message again.
var encodeBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBuffer keeps buffers larger than the server's default max payload out of the pool.
const maxPooledBuffer = 1 << 20

// encode serialises an output in the input's encoding and returns its content type. With
// pooled, a binary output is encoded into a pooled buffer, returned as buf for releaseBuffer
// once it is published; buf is nil for protojson and without pooled, and data is then the
// caller's.
func encode(msg proto.Message, asJSON, pooled bool) (data []byte, buf *[]byte, contentType string, err error) {
	if asJSON {
		b, err := protojson.Marshal(msg)
		if err != nil {
			return nil, nil, "", fmt.Errorf("encoding %s as protojson: %w", msg.ProtoReflect().Descriptor().FullName(), err)
		}
		return b, nil, contentTypeJSON, nil
	}
	if !pooled {
		b, err := proto.Marshal(msg)
		if err != nil {
			return nil, nil, "", fmt.Errorf("encoding %s: %w", msg.ProtoReflect().Descriptor().FullName(), err)
		}
		return b, nil, contentTypeProtobuf, nil
	}
	buf = encodeBuffers.Get().(*[]byte)
	b, err := proto.MarshalOptions{}.MarshalAppend((*buf)[:0], msg)
	if err != nil {
		encodeBuffers.Put(buf)
		return nil, nil, "", fmt.Errorf("encoding %s: %w", msg.ProtoReflect().Descriptor().FullName(), err)
	}
	*buf = b
	return b, buf, contentTypeProtobuf, nil
}

// releaseBuffer gives an encode buffer back once nothing refers to its bytes.
func releaseBuffer(buf *[]byte) {
	if buf == nil || cap(*buf) > maxPooledBuffer {
		return
	}
	encodeBuffers.Put(buf)
}
