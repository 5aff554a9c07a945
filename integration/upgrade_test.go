package integration

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/internal/worker"
	"github.com/jetflow-dev/jetflow/platform"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// Rolling upgrade (issue 12, scenario 8): a producer one schema version ahead sends requests
// with fields the workers do not know yet. Protobuf ignores them, and so do the workers: each
// request completes with its result, as buf breaking's policy promises. A payload whose
// Jetflow-Type names another message is still dead-lettered, newer fields or not.
func TestProducerOneSchemaVersionAheadIsServed(t *testing.T) {
	p := testplatform.New(t)
	js, ctx := p.JS, p.Ctx
	models, err := standin.New(standin.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	modelSrv := httptest.NewServer(models)
	t.Cleanup(modelSrv.Close)
	for _, name := range []string{"chat-handler", "tts-module"} {
		w, ok := platform.ByName(name)
		if !ok {
			t.Fatalf("platform.All has no %s", name)
		}
		env := map[string]string{}
		for _, kv := range workerEnv(p.URL(), modelSrv.URL) {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		env["LOG_LEVEL"] = "warn"
		jstest.Run(t, ctx, func(ctx context.Context) error {
			return worker.Run(ctx, w.Name, envconfig.Map(env), slog.New(slog.DiscardHandler), w.Build)
		})
	}

	publish := func(subject string, msg proto.Message, typeName string) {
		t.Helper()
		data, err := proto.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		h := nats.Header{stage.HeaderType: {typeName}}
		if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: subject, Header: h, Data: newerSchema(data)}); err != nil {
			t.Fatalf("publishing to %s: %v", subject, err)
		}
	}
	chat := &jetflowv1.ChatRequest{RequestId: "newer-chat", Query: "What is JetStream?", DisableRag: true}
	publish(streams.SubjectChatRequest, chat, string(proto.MessageName(chat)))
	tts := &jetflowv1.TtsRequest{RequestId: "newer-tts", Text: "hello"}
	publish(streams.SubjectTTSRequest, tts, string(proto.MessageName(tts)))
	// A ChatRequest's bytes under a TtsRequest's name: type confusion, caught by the header.
	confused := &jetflowv1.ChatRequest{RequestId: "confused", Query: "What is JetStream?", DisableRag: true}
	publish(streams.SubjectChatRequest, confused, string(proto.MessageName(tts)))

	results, err := js.Stream(ctx, streams.StreamResults)
	if err != nil {
		t.Fatal(err)
	}
	for _, subject := range []string{streams.ResultSubject(streams.ResultKindChat, "newer-chat"), streams.ResultSubject(streams.ResultKindTTS, "newer-tts")} {
		jstest.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
			if _, err := results.GetLastMsgForSubject(ctx, subject); err != nil {
				return fmt.Errorf("no result on %s: %w", subject, err)
			}
			return nil
		})
	}
	var chatResult jetflowv1.ChatResponse
	m, err := results.GetLastMsgForSubject(ctx, streams.ResultSubject(streams.ResultKindChat, "newer-chat"))
	if err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(m.Data, &chatResult); err != nil || chatResult.GetAnswer() == "" {
		t.Fatalf("chat result %v (%v), want an answer", &chatResult, err)
	}

	dlqSubject := streams.DeadLetterSubject(streams.ConsumerChatRetrieve)
	jstest.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		if n := len(jstest.Stored(t, ctx, js, streams.StreamDeadLetter, dlqSubject)); n == 0 {
			return fmt.Errorf("the type-confused request is not dead-lettered yet")
		}
		return nil
	})
	dls := jstest.Stored(t, ctx, js, streams.StreamDeadLetter, "")
	if len(dls) != 1 || dls[0].Subject != dlqSubject {
		t.Fatalf("%d dead letters, want only the type-confused request's on %s", len(dls), dlqSubject)
	}
	if reason := dls[0].Header.Get(stage.HeaderError); !strings.Contains(reason, "payload is a jetflow.v1.TtsRequest") {
		t.Fatalf("dead letter reason %q, want it to name the type in the header", reason)
	}
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
