package stage

import (
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

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
// payload, a HeaderType naming another message, and a binary payload that gives one of msg's
// own fields another wire type (another message type: no compatible schema change does that).
// Fields msg does not declare are kept as unknown fields and otherwise ignored, as protobuf
// intends: they come from a producer a schema version ahead, and refusing them would make every
// field addition a breaking change. Every failure is a failure.Invalid error (so permanent)
// whose text an operator can act on. Typed decodes its inputs with it.
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
	if clash := wireTypeClash(msg.ProtoReflect()); clash != "" {
		return failure.Invalidf("payload is not a %s (another message type?): %s", name, clash)
	}
	return nil
}

// wireTypeClash describes the first field of m, or of a message within it, that the payload
// sent with a wire type other than its declared one ("" when there is none). proto.Unmarshal
// keeps such a field as unknown, like a field from a newer schema; but buf breaking (WIRE_JSON)
// forbids changing a field's wire type, so only a payload of another message type has one.
func wireTypeClash(m protoreflect.Message) string {
	fields := m.Descriptor().Fields()
	for b := m.GetUnknown(); len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "" // proto.Unmarshal parsed these bytes; nothing to add
		}
		if fd := fields.ByNumber(num); fd != nil {
			return fmt.Sprintf("field %d (%s) arrives as %s, but %s declares it %s", num, fd.Name(), wireTypeName(typ), m.Descriptor().FullName(), fd.Kind())
		}
		v := protowire.ConsumeFieldValue(num, typ, b[n:])
		if v < 0 {
			return ""
		}
		b = b[n+v:]
	}
	var clash string
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				clash = wireTypeClash(mv.Message())
				return clash == ""
			})
		case fd.IsList() && fd.Message() != nil:
			for i, l := 0, v.List(); i < l.Len() && clash == ""; i++ {
				clash = wireTypeClash(l.Get(i).Message())
			}
		case !fd.IsMap() && !fd.IsList() && fd.Message() != nil:
			clash = wireTypeClash(v.Message())
		}
		return clash == ""
	})
	return clash
}

func wireTypeName(t protowire.Type) string {
	switch t {
	case protowire.VarintType:
		return "a varint"
	case protowire.Fixed32Type:
		return "a fixed32"
	case protowire.Fixed64Type:
		return "a fixed64"
	case protowire.BytesType:
		return "length-delimited bytes"
	case protowire.StartGroupType, protowire.EndGroupType:
		return "a group"
	}
	return fmt.Sprintf("wire type %d", t)
}
