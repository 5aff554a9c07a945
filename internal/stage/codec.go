package stage

import (
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
