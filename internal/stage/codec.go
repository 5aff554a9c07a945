package stage

import (
	"errors"
	"fmt"
	"strings"

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

// encode serialises an output in the input's encoding and returns its content type.
func encode(msg proto.Message, asJSON bool) ([]byte, string, error) {
	if msg == nil {
		return nil, "", errors.New("output has no message")
	}
	if asJSON {
		b, err := protojson.Marshal(msg)
		if err != nil {
			return nil, "", fmt.Errorf("encoding %s as protojson: %w", msg.ProtoReflect().Descriptor().FullName(), err)
		}
		return b, contentTypeJSON, nil
	}
	b, err := proto.Marshal(msg)
	if err != nil {
		return nil, "", fmt.Errorf("encoding %s: %w", msg.ProtoReflect().Descriptor().FullName(), err)
	}
	return b, contentTypeProtobuf, nil
}
