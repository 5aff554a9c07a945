package stage

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/failure"
)

func isJSON(h nats.Header) bool {
	ct := h.Get(HeaderContentType)
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.EqualFold(strings.TrimSpace(ct), contentTypeJSON)
}

// Decode fills msg from a payload and its headers as a stage input: protojson when
// HeaderContentType says application/json, binary protobuf otherwise. It refuses an empty
// payload, a HeaderType naming another message, and a binary payload with fields unknown to msg
// (another message type, or a newer producer). Every failure is a failure.Invalid error (so
// permanent) whose text an operator can act on. Typed decodes its inputs with it.
func Decode(h nats.Header, data []byte, msg proto.Message) error {
	name := string(msg.ProtoReflect().Descriptor().FullName())
	if len(data) == 0 {
		return failure.Invalidf("empty payload, expected %s", name)
	}
	if t := h.Get(HeaderType); t != "" && t != name {
		return failure.Invalidf("payload is a %s (%s header), this stage takes %s", t, HeaderType, name)
	}
	if isJSON(h) {
		if err := (protojson.UnmarshalOptions{}).Unmarshal(data, msg); err != nil {
			return failure.Invalidf("decoding protojson %s: %v", name, err)
		}
		return nil
	}
	if err := proto.Unmarshal(data, msg); err != nil {
		return failure.Invalidf("decoding protobuf %s (%d bytes; truncated, or not protobuf?): %v", name, len(data), err)
	}
	// A payload of another message type usually decodes "successfully" into fields this type
	// does not have. Refuse it rather than act on a half-understood message.
	if unknown := msg.ProtoReflect().GetUnknown(); len(unknown) > 0 {
		return failure.Invalidf("payload has %d bytes of fields unknown to %s (another message type, or a newer producer)", len(unknown), name)
	}
	return nil
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
	if msg == nil {
		return nil, nil, "", errors.New("output has no message")
	}
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
