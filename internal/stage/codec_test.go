package stage

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/jetflow-dev/jetflow/internal/failure"
)

func TestBadInputIsDeadLetteredWithAReason(t *testing.T) {
	e := newEnv(t, envOpts{})
	var calls counter
	cfg := e.cfg()
	cfg.MaxPayload = 1024
	e.run(cfg, echo(&calls))
	valid := mustMarshal(t, wrapperspb.String("hello"))
	tests := []struct {
		name      string
		data      []byte
		hdr       []string
		reasonHas string
	}{
		{name: "garbage bytes", data: []byte{0xff, 0xff, 0xff, 0xff, 0x0f}, reasonHas: "decoding protobuf google.protobuf.StringValue"},
		{name: "empty payload", data: nil, reasonHas: "empty payload"},
		{name: "truncated protobuf", data: valid[:len(valid)-2], reasonHas: "truncated"},
		{name: "message of another type", data: mustMarshal(t, wrapperspb.Int64(42)), reasonHas: "is not a google.protobuf.StringValue"},
		{name: "type header of another type", data: valid, hdr: []string{HeaderType, "jetflow.v1.TtsRequest"}, reasonHas: "is a jetflow.v1.TtsRequest"},
		// A newer producer's message under another message's name is still refused by the name.
		{name: "type header of another type, newer producer", data: withNewerField(valid), hdr: []string{HeaderType, "jetflow.v1.TtsRequest"}, reasonHas: "is a jetflow.v1.TtsRequest"},
		{name: "payload above the stage limit", data: mustMarshal(t, wrapperspb.String(strings.Repeat("x", 2000))), reasonHas: "exceeds the stage limit of 1024 bytes"},
		{name: "bad json", data: []byte(`{"value": 1`), hdr: []string{HeaderContentType, "application/json"}, reasonHas: "decoding protojson"},
	}
	for i, tt := range tests {
		e.publishRaw("work.bad"+strconv.Itoa(i), tt.data, tt.hdr...)
	}
	e.publish("work.good", wrapperspb.String("good"))
	// A producer one schema version ahead, naming its type as jetflow's publishers do.
	e.publishRaw("work.newer", withNewerField(mustMarshal(t, wrapperspb.String("newer"))), HeaderType, "google.protobuf.StringValue")
	dls := e.waitCount("DLQ", len(tests))
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dl *jetstream.RawStreamMsg
			for _, m := range dls {
				if m.Header.Get(HeaderOriginalSubject) == "work.bad"+strconv.Itoa(i) {
					dl = m
				}
			}
			if dl == nil {
				t.Fatal("no dead letter")
			}
			if !strings.Contains(dl.Header.Get(HeaderError), tt.reasonHas) {
				t.Errorf("%s = %q, want it to say %q", HeaderError, dl.Header.Get(HeaderError), tt.reasonHas)
			}
			if dl.Header.Get(HeaderErrorKind) != KindPermanent || !bytes.Equal(dl.Data, tt.data) {
				t.Errorf("kind %q, payload kept %v", dl.Header.Get(HeaderErrorKind), bytes.Equal(dl.Data, tt.data))
			}
		})
	}
	var subjects []string
	for _, m := range e.waitCount("OUT", 2) {
		subjects = append(subjects, m.Subject)
	}
	slices.Sort(subjects)
	if !slices.Equal(subjects, []string{"out.good", "out.newer"}) {
		t.Fatalf("outputs on %v, want out.good (the worker still serves) and out.newer (a newer producer is served)", subjects)
	}
}

func TestDecodeRefusesWhatItCannotUnderstand(t *testing.T) {
	valid := mustMarshal(t, wrapperspb.String("hello"))
	tests := []struct {
		name      string
		h         nats.Header
		data      []byte
		reasonHas string
	}{
		{name: "empty payload", reasonHas: "empty payload"},
		{name: "type header of another type", h: nats.Header{HeaderType: {"jetflow.v1.TtsRequest"}}, data: valid, reasonHas: "is a jetflow.v1.TtsRequest"},
		{name: "message of another type", data: mustMarshal(t, wrapperspb.Int64(42)),
			reasonHas: "field 1 (value) arrives as a varint, but google.protobuf.StringValue declares it string"},
		{name: "bad json", h: nats.Header{HeaderContentType: {"application/json"}}, data: []byte(`{"value": 1`), reasonHas: "decoding protojson"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Decode(tt.h, tt.data, &wrapperspb.StringValue{})
			if !errors.Is(err, failure.ErrInvalid) || !failure.IsPermanent(err) || !strings.Contains(err.Error(), tt.reasonHas) {
				t.Fatalf("Decode = %v, want a permanent invalid-input error saying %q", err, tt.reasonHas)
			}
		})
	}
	for _, c := range []struct {
		h    nats.Header
		data []byte
	}{
		{h: nats.Header{HeaderType: {"google.protobuf.StringValue"}}, data: valid},
		{h: nats.Header{HeaderContentType: {"application/json; charset=utf-8"}}, data: []byte(`"hello"`)},
		{h: nats.Header{HeaderType: {"google.protobuf.StringValue"}}, data: withNewerField(valid)},
		{data: withNewerField(valid)},
	} {
		var got wrapperspb.StringValue
		if err := Decode(c.h, c.data, &got); err != nil || got.GetValue() != "hello" {
			t.Errorf("Decode(%v) = %q, %v", c.h, got.GetValue(), err)
		}
	}
}

func TestJSONInputGivesJSONOutput(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.run(e.cfg(), echo(&counter{}))
	e.publishRaw("work.j", []byte(`"j"`), HeaderContentType, "application/json")
	out := e.waitCount("OUT", 1)[0]
	if ct := out.Header.Get(HeaderContentType); ct != "application/json" {
		t.Fatalf("content type %q", ct)
	}
	var got wrapperspb.StringValue
	if err := protojson.Unmarshal(out.Data, &got); err != nil || got.GetValue() != "echo: j" {
		t.Fatalf("output %s: %v", out.Data, err)
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withNewerField is msg's encoding as a producer one schema version ahead sends it: the same
// fields plus ones msg's schema does not have yet (a varint and a nested message).
func withNewerField(msg []byte) []byte {
	b := protowire.AppendTag(slices.Clone(msg), 1000, protowire.VarintType)
	b = protowire.AppendVarint(b, 7)
	b = protowire.AppendTag(b, 1001, protowire.BytesType)
	return protowire.AppendBytes(b, protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1))
}

// Unknown fields deep inside a message are a newer producer's too, while a field of a nested
// message sent with another wire type is another message type, found in a map value as in a
// list element.
func TestDecodeLooksIntoNestedMessages(t *testing.T) {
	// google.protobuf.Value's field 2 is number_value, a double (fixed64).
	clashingValue := protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 1)
	newerValue := withNewerField(mustMarshal(t, structpb.NewStringValue("x")))
	// Struct{fields: {"k": value}} and ListValue{values: [value]}, by hand.
	inStruct := func(value []byte) []byte {
		entry := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "k")
		entry = protowire.AppendBytes(protowire.AppendTag(entry, 2, protowire.BytesType), value)
		return protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), entry)
	}
	inList := func(value []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), value)
	}
	for _, c := range []struct {
		name string
		data []byte
		msg  proto.Message
	}{
		{"map value", inStruct(clashingValue), &structpb.Struct{}},
		{"list element", inList(clashingValue), &structpb.ListValue{}},
		{"list in a map value", inStruct(protowire.AppendBytes(protowire.AppendTag(nil, 6, protowire.BytesType), inList(clashingValue))), &structpb.Struct{}},
	} {
		err := Decode(nil, c.data, c.msg)
		if !errors.Is(err, failure.ErrInvalid) || !strings.Contains(err.Error(), "field 2 (number_value) arrives as a varint") {
			t.Errorf("%s: Decode = %v, want the clash on number_value", c.name, err)
		}
	}
	var s structpb.Struct
	if err := Decode(nil, inStruct(newerValue), &s); err != nil || s.GetFields()["k"].GetStringValue() != "x" {
		t.Fatalf("newer fields in a map value: Decode = %v, %v; want them ignored", &s, err)
	}
}

// FuzzDecode: whatever the bytes, Decode ends in a message or a permanent invalid-input error,
// and a payload it accepted, re-encoded with the unknown fields it kept (what a stage hands on),
// is accepted again.
func FuzzDecode(f *testing.F) {
	seed, err := structpb.NewStruct(map[string]any{"a": "x", "b": []any{1.5, true, map[string]any{"c": nil}}})
	if err != nil {
		f.Fatal(err)
	}
	b, err := proto.Marshal(seed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(withNewerField(b))
	f.Add(protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m structpb.Struct
		if err := Decode(nil, data, &m); err != nil {
			if !errors.Is(err, failure.ErrInvalid) || !failure.IsPermanent(err) {
				t.Fatalf("Decode = %v, want a permanent invalid-input error", err)
			}
			return
		}
		again, err := proto.Marshal(&m)
		if err != nil {
			t.Fatalf("re-encoding an accepted payload: %v", err)
		}
		if len(again) == 0 {
			return // an empty message re-encodes to nothing, which Decode refuses as empty
		}
		if err := Decode(nil, again, &structpb.Struct{}); err != nil {
			t.Fatalf("an accepted payload, re-encoded, is refused: %v", err)
		}
	})
}
