package fault

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/internal/stage"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// Scenario 8, rolling upgrade, process form: a producer one schema version ahead sends chat and
// TTS requests with fields the worker binaries do not know. They complete, each once, and none
// is dead-lettered; a payload whose Jetflow-Type names another message is still dead-lettered.
// (integration/upgrade_test.go proves the same in-process, through worker.Run.)
func TestProducerOneSchemaVersionAhead(t *testing.T) {
	ctx := Suite(t, 3*time.Minute)
	start := time.Now()
	srv := StartServer(t)
	_, js := Connect(t, srv.URL())
	ApplyStreams(t, ctx, js, nil)
	models := StartModels(t, standin.Config{})
	env := WorkerEnv(srv.URL(), models.URL)
	StartWorker(t, "chat-handler", "chat-handler", env)
	StartWorker(t, "tts-module", "tts-module", env)
	prod := NewProducer(js)
	n := Scale(5, 50)

	newer := func(subject, id string, msg proto.Message, typeName string) {
		t.Helper()
		data, err := proto.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		m := &nats.Msg{Subject: subject, Header: nats.Header{stage.HeaderType: {typeName}}, Data: newerSchema(data)}
		if err := prod.PublishMsg(ctx, id, m); err != nil {
			t.Fatal(err)
		}
	}
	var chatIDs, ttsIDs []string
	for i := range n {
		id := RequestID("newer-chat", i)
		chat := &jetflowv1.ChatRequest{RequestId: id, Query: "What is JetStream?", DisableRag: true}
		newer(streams.SubjectChatRequest, id, chat, string(proto.MessageName(chat)))
		chatIDs = append(chatIDs, id)
		id = RequestID("newer-tts", i)
		tts := &jetflowv1.TtsRequest{RequestId: id, Text: "hello from a newer producer"}
		newer(streams.SubjectTTSRequest, id, tts, string(proto.MessageName(tts)))
		ttsIDs = append(ttsIDs, id)
	}
	// A ChatRequest's bytes under a TtsRequest's name: type confusion, caught by the header.
	confused := &jetflowv1.ChatRequest{RequestId: "confused", Query: "What is JetStream?", DisableRag: true}
	newer(streams.SubjectChatRequest, "confused", confused, string(proto.MessageName(&jetflowv1.TtsRequest{})))
	chatIDs = append(chatIDs, "confused")

	chat := AwaitAudit(t, ctx, js, AuditSpec{Kind: streams.ResultKindChat, IDs: chatIDs}, time.Minute, chatConsumers...)
	chat.Require(t, []string{"confused"})
	if reasons := chat.Reasons["confused"]; len(reasons) != 1 || !strings.Contains(reasons[0], "payload is a jetflow.v1.TtsRequest") {
		t.Errorf("dead letter reasons %q, want one naming the type in the header", reasons)
	}
	tts := AwaitAudit(t, ctx, js, AuditSpec{Kind: streams.ResultKindTTS, IDs: ttsIDs, Final: lastTTSChunk}, time.Minute,
		streams.StreamTTS+"/"+streams.ConsumerTTS)
	tts.Require(t, nil)

	f := Figures{
		Scenario: "8 rolling upgrade (processes)", Faults: "every request carries two fields of a newer schema; one is type-confused",
		UpstreamCalls: models.Calls(""), Duration: time.Since(start),
		Notes: "chat and tts requests; the type-confused one is the only dead letter",
	}
	f.FromAudit(chat)
	f.Load += len(ttsIDs)
	f.Lost += len(tts.Missing())
	f.Duplicated += len(tts.Duplicated())
	f.DeadLettered += len(tts.DeadLettered())
	f.Report(t)
}

// lastTTSChunk is the TTS result's final chunk: tts-module answers in several.
func lastTTSChunk(m *jetstream.RawStreamMsg) bool {
	var chunk jetflowv1.TtsAudioChunk
	return proto.Unmarshal(m.Data, &chunk) == nil && chunk.GetLast()
}

// newerSchema appends to an encoded message fields its schema does not have yet, as a
// producer built from a newer .proto sends them: a string and a nested message.
func newerSchema(data []byte) []byte {
	b := protowire.AppendTag(append([]byte(nil), data...), 500, protowire.BytesType)
	b = protowire.AppendString(b, "added in v1.1")
	nested := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 42)
	b = protowire.AppendTag(b, 501, protowire.BytesType)
	return protowire.AppendBytes(b, nested)
}
