package stage

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
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
		{name: "message of another type", data: mustMarshal(t, wrapperspb.Int64(42)), reasonHas: "unknown to google.protobuf.StringValue"},
		{name: "type header of another type", data: valid, hdr: []string{HeaderType, "jetflow.v1.TtsRequest"}, reasonHas: "is a jetflow.v1.TtsRequest"},
		{name: "payload above the stage limit", data: mustMarshal(t, wrapperspb.String(strings.Repeat("x", 2000))), reasonHas: "exceeds the stage limit of 1024 bytes"},
		{name: "bad json", data: []byte(`{"value": 1`), hdr: []string{HeaderContentType, "application/json"}, reasonHas: "decoding protojson"},
	}
	for i, tt := range tests {
		e.publishRaw("work.bad"+strconv.Itoa(i), tt.data, tt.hdr...)
	}
	e.publish("work.good", wrapperspb.String("good"))
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
	out := e.waitCount("OUT", 1)
	if out[0].Subject != "out.good" {
		t.Fatalf("the worker stopped serving: output on %s", out[0].Subject)
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
		{name: "message of another type", data: mustMarshal(t, wrapperspb.Int64(42)), reasonHas: "unknown to google.protobuf.StringValue"},
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
