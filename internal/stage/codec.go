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

// decode fills msg from the input, failing permanently with a reason an operator can act on.
func decode(in *Input, name string, msg proto.Message) error {
	if len(in.Data) == 0 {
		return failure.Invalidf("empty payload, expected %s", name)
	}
	if t := in.Header.Get(HeaderType); t != "" && t != name {
		return failure.Invalidf("payload is a %s (%s header), this stage takes %s", t, HeaderType, name)
	}
	if in.JSON {
		if err := (protojson.UnmarshalOptions{}).Unmarshal(in.Data, msg); err != nil {
			return failure.Invalidf("decoding protojson %s: %v", name, err)
		}
		return nil
	}
	if err := proto.Unmarshal(in.Data, msg); err != nil {
		return failure.Invalidf("decoding protobuf %s (%d bytes; truncated, or not protobuf?): %v", name, len(in.Data), err)
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

// encode serialises an output in the input's encoding and returns its content type. A binary
// output is encoded into a pooled buffer, returned as buf for releaseBuffer once it is
// published; buf is nil for protojson.
func encode(msg proto.Message, asJSON bool) (data []byte, buf *[]byte, contentType string, err error) {
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
