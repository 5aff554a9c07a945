package bench

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/internal/telemetry"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

// The hot paths of one message, measured alone: go test -run '^$' -bench . -benchmem ./internal/bench

// ttsRequest is a realistic request of about size bytes: a TTS text with the ids and deadline a
// gateway sets.
func ttsRequest(size int) *jetflowv1.TtsRequest {
	return &jetflowv1.TtsRequest{
		RequestId: "req-0123456789abcdef",
		SessionId: "sess-0123456789",
		UserId:    "user-42",
		Deadline:  timestamppb.New(time.Now().Add(time.Hour)),
		Text:      strings.Repeat("Hello there, how are you today? ", size/32+1)[:size-64],
		Voice:     "alloy",
	}
}

func BenchmarkTypedDecode(b *testing.B) {
	noop := func(context.Context, proto.Message, *stage.Input) ([]stage.Output, error) { return nil, nil }
	tts := stage.Typed(func(ctx context.Context, m *jetflowv1.TtsRequest, in *stage.Input) ([]stage.Output, error) {
		return noop(ctx, m, in)
	})
	raw := stage.Typed(func(ctx context.Context, m *requestType, in *stage.Input) ([]stage.Output, error) {
		return noop(ctx, m, in)
	})
	ttsData, err := proto.Marshal(ttsRequest(1 << 10))
	if err != nil {
		b.Fatal(err)
	}
	ttsJSON, err := protojson.Marshal(ttsRequest(1 << 10))
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name    string
		handler stage.Handler
		typ     string
		data    []byte
		json    bool
	}{
		{name: "TtsRequest/1KiB", handler: tts, typ: "jetflow.v1.TtsRequest", data: ttsData},
		{name: "TtsRequest/1KiB/protojson", handler: tts, typ: "jetflow.v1.TtsRequest", data: ttsJSON, json: true},
	}
	for _, size := range []int{256, 1 << 10, 64 << 10, 512 << 10} {
		data, err := request(size)
		if err != nil {
			b.Fatal(err)
		}
		cases = append(cases, struct {
			name    string
			handler stage.Handler
			typ     string
			data    []byte
			json    bool
		}{name: "BytesValue/" + strings.ReplaceAll(formatSize(size), " ", ""), handler: raw, typ: requestTypeName, data: data})
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			h := nats.Header{stage.HeaderType: {c.typ}}
			if c.json {
				h.Set(stage.HeaderContentType, "application/json")
			}
			in := &stage.Input{Subject: "ai.tts.request", Header: h, Data: c.data, Stream: "AI_TTS", Sequence: 7, Delivered: 1, JSON: c.json}
			ctx := context.Background()
			b.SetBytes(int64(len(c.data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.handler.Handle(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHeaderPropagation measures the W3C trace context going into an output's headers and
// coming out of an input's, as every stage does once per message.
func BenchmarkHeaderPropagation(b *testing.B) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:     trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		TraceFlags: trace.FlagsSampled,
	})
	withSpan := trace.ContextWithSpanContext(context.Background(), sc)
	member, err := baggage.NewMember("tenant", "acme")
	if err != nil {
		b.Fatal(err)
	}
	bag, err := baggage.New(member)
	if err != nil {
		b.Fatal(err)
	}
	withBaggage := baggage.ContextWithBaggage(withSpan, bag)

	inject := []struct {
		name string
		ctx  context.Context
	}{
		{name: "Inject/no-span", ctx: context.Background()},
		{name: "Inject/span", ctx: withSpan},
		{name: "Inject/span+baggage", ctx: withBaggage},
	}
	for _, c := range inject {
		b.Run(c.name, func(b *testing.B) {
			h := nats.Header{} // the output's headers, which the runtime has made already
			b.ReportAllocs()
			for b.Loop() {
				clear(h)
				telemetry.Inject(c.ctx, h)
			}
		})
	}
	carried := nats.Header{}
	telemetry.Inject(withBaggage, carried)
	extract := []struct {
		name string
		h    nats.Header
	}{
		{name: "Extract/none", h: nats.Header{stage.HeaderType: {"jetflow.v1.TtsRequest"}}},
		{name: "Extract/span+baggage", h: carried},
	}
	for _, c := range extract {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if telemetry.Extract(ctx, c.h) == nil {
					b.Fatal("no context")
				}
			}
		})
	}
}

// BenchmarkDeadLetterMessage measures building the dead-letter copy of a failed message: when
// it fits the server's max payload (one build) and when it has to shrink (several).
func BenchmarkDeadLetterMessage(b *testing.B) {
	data, err := proto.Marshal(ttsRequest(1 << 10))
	if err != nil {
		b.Fatal(err)
	}
	d := stage.DeadLetter{
		Stage:           "tts",
		Kind:            stage.KindPermanent,
		Reason:          "validating jetflow.v1.TtsRequest: " + errors.New(strings.Repeat("text is not valid UTF-8 ", 8)).Error(),
		OriginalSubject: "ai.tts.request",
		Stream:          "AI_TTS",
		Sequence:        123456,
		Deliveries:      1,
		Header: nats.Header{
			jetstream.MsgIDHeader:   {"gateway:req-0123456789abcdef"},
			stage.HeaderType:        {"jetflow.v1.TtsRequest"},
			stage.HeaderRequestID:   {"req-0123456789abcdef"},
			"traceparent":           {"00-0102030405060708090a0b0c0d0e0f10-0102030405060708-01"},
			stage.HeaderContentType: {"application/protobuf"},
		},
		Data:     data,
		FailedAt: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC),
	}
	cases := []struct {
		name       string
		maxPayload int
	}{
		{name: "fits", maxPayload: 1 << 20},
		{name: "shrinks", maxPayload: len(data) + 256},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if m := d.Message("ai.dlq.tts", c.maxPayload); m == nil {
					b.Fatal("no message")
				}
			}
		})
	}
}
