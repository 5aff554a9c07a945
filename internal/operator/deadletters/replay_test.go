package deadletters

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/streams"
)

// The copy a replay publishes keeps what says how to read the payload and drops what would
// make it start with spent attempts or another message's identity.
func TestReplayMessageHeaders(t *testing.T) {
	original := nats.Header{
		stage.HeaderContentType:  {"application/json"},
		stage.HeaderType:         {"jetflow.v1.ChatRequest"},
		stage.HeaderRequestID:    {"r-1"},
		"traceparent":            {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		"tracestate":             {"vendor=1"},
		"X-Tenant":               {"acme"},
		stage.HeaderAttempts:     {"4"},
		stage.HeaderRequeuedFrom: {"AI_CHAT:7"},
		HeaderReplayedFrom:       {"AI_DLQ:1"},
		"Nats-Expected-Stream":   {"AI_CHAT"},
	}
	d := stage.DeadLetter{Stage: streams.ConsumerChatRetrieve, Kind: stage.KindPermanent, Reason: "bad", OriginalSubject: streams.SubjectChatRequest,
		Stream: streams.StreamChat, Sequence: 9, Deliveries: 5, Header: original, Data: []byte(`{"request_id":"r-1"}`), FailedAt: time.Now()}
	m := d.Message(streams.DeadLetterSubject(d.Stage), 0)
	l := NewLetter(42, m.Subject, time.Now(), m.Header, m.Data)

	got := ReplayMessage(l, 3)
	if got.Subject != streams.SubjectChatRequest || string(got.Data) != `{"request_id":"r-1"}` {
		t.Fatalf("copy to %s with %q", got.Subject, got.Data)
	}
	want := nats.Header{
		stage.HeaderContentType: {"application/json"},
		stage.HeaderType:        {"jetflow.v1.ChatRequest"},
		stage.HeaderRequestID:   {"r-1"},
		"traceparent":           {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		"tracestate":            {"vendor=1"},
		"X-Tenant":              {"acme"},
		HeaderReplayedFrom:      {"AI_DLQ:42"},
		jetstream.MsgIDHeader:   {"replay:AI_DLQ:42:3"},
	}
	if fmt.Sprint(got.Header) != fmt.Sprint(want) {
		t.Fatalf("headers\n%v\nwant\n%v", got.Header, want)
	}
}
