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
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

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

// requestSubject is one public request subject, the stage that reads it, and a valid message.
type requestSubject struct {
	subject string
	stage   string
	valid   proto.Message
}

// runWorkers starts every worker in-process through its own Build, as its binary would.
func runWorkers(t *testing.T, natsURL, modelsURL string) {
	t.Helper()
	for _, w := range platform.All {
		env := map[string]string{}
		for _, kv := range workerEnv(natsURL, modelsURL) {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		env["LOG_LEVEL"] = "warn"
		jstest.Run(t, jstest.Context(t), func(ctx context.Context) error {
			if err := worker.Run(ctx, w.Name, envconfig.Map(env), slog.New(slog.DiscardHandler), w.Build); err != nil {
				return fmt.Errorf("%s: %w", w.Name, err)
			}
			return nil
		})
	}
}

// Poison on every request subject: garbage, nothing, a truncated message, a message of another
// type, and one above the stage's size limit are each dead-lettered with a reason that says what
// was wrong, and the workers go on serving.
func TestPoisonOnEveryRequestSubjectIsDeadLetteredWithAReason(t *testing.T) {
	p := testplatform.New(t)
	js, ctx := p.JS, p.Ctx
	models, err := standin.New(standin.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	modelSrv := httptest.NewServer(models)
	t.Cleanup(modelSrv.Close)
	runWorkers(t, p.URL(), modelSrv.URL)

	subjects := []requestSubject{
		{streams.SubjectChatRequest, streams.ConsumerChatRetrieve, &jetflowv1.ChatRequest{RequestId: "ok-chat", Query: "What is JetStream?", DisableRag: true}},
		{streams.SubjectTTSRequest, streams.ConsumerTTS, &jetflowv1.TtsRequest{RequestId: "ok-tts", Text: "hello"}},
		{streams.SubjectPipelineTrigger, streams.ConsumerPipelineBridge, &jetflowv1.PipelineTrigger{RequestId: "ok-pipe", Pipeline: "nightly-eval"}},
		{streams.STTAudioSubject("poison"), streams.ConsumerSTT, &jetflowv1.SttAudioChunk{RequestId: "ok-stt", SessionId: "poison", Pcm: make([]byte, 3200), SampleRate: 16000}},
		{streams.SubjectVoiceRequest, streams.ConsumerVoiceTranscribe, &jetflowv1.VoiceRequest{RequestId: "ok-voice", Audio: make([]byte, 3200),
			Format: &jetflowv1.AudioFormat{Encoding: jetflowv1.AudioFormat_ENCODING_PCM16, SampleRate: 16000}}},
	}
	anotherType, err := proto.Marshal(&jetflowv1.ListVoicesResponse{Voices: []*jetflowv1.Voice{{Id: "x", Name: "y", Language: "z"}}})
	if err != nil {
		t.Fatal(err)
	}
	poisons := []struct {
		name      string
		data      func(valid []byte) []byte
		header    nats.Header
		reasonHas string
	}{
		{"garbage", func([]byte) []byte { return []byte{0xff, 0xfe, 0xfd, 0x00, 0x01} }, nil, "decoding protobuf"},
		{"empty", func([]byte) []byte { return nil }, nil, "empty payload"},
		{"truncated", func(v []byte) []byte { return v[:len(v)/2] }, nil, "decoding protobuf"},
		// As jetflow's own publishers send it: the type header names the message.
		{"another type", func([]byte) []byte { return anotherType }, nats.Header{stage.HeaderType: {"jetflow.v1.ListVoicesResponse"}},
			"payload is a jetflow.v1.ListVoicesResponse"},
		// Without the header its bytes happen to decode, field 1 (a Voice) read as request_id:
		// validation refuses it and says which field is wrong.
		{"another type, no header", func([]byte) []byte { return anotherType }, nil, "request_id"},
		{"oversized", func([]byte) []byte {
			// Above every request stage's limit (voice 900 KiB, chat 512 KiB, pipeline 320 KiB,
			// stt 256 KiB, tts 64 KiB) and below the server's max payload.
			b, _ := proto.Marshal(wrapperspb.String(strings.Repeat("x", 950<<10)))
			return b
		}, nil, "exceeds the stage limit"},
	}
	for _, rs := range subjects {
		validBytes, err := proto.Marshal(rs.valid)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range poisons {
			h := nats.Header{"Poison": {p.name}}
			for k, v := range p.header {
				h[k] = v
			}
			msg := &nats.Msg{Subject: rs.subject, Data: p.data(validBytes), Header: h}
			if _, err := js.PublishMsg(ctx, msg); err != nil {
				t.Fatalf("%s %s: %v", rs.subject, p.name, err)
			}
		}
	}
	for _, rs := range subjects {
		t.Run(rs.subject, func(t *testing.T) {
			subject := streams.DeadLetterSubject(rs.stage)
			got := map[string]*jetstream.RawStreamMsg{}
			jstest.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
				for _, m := range jstest.Stored(t, ctx, js, streams.StreamDeadLetter, subject) {
					got[m.Header.Get("Poison")] = m
				}
				if len(got) < len(poisons) {
					return fmt.Errorf("%d of %d poison messages dead-lettered", len(got), len(poisons))
				}
				return nil
			})
			for _, p := range poisons {
				m := got[p.name]
				reason := m.Header.Get(stage.HeaderError)
				if reason == "" || !strings.Contains(reason, p.reasonHas) || m.Header.Get(stage.HeaderErrorKind) != stage.KindPermanent {
					t.Errorf("%s: %s=%q %s=%q, want a permanent reason containing %q", p.name,
						stage.HeaderError, reason, stage.HeaderErrorKind, m.Header.Get(stage.HeaderErrorKind), p.reasonHas)
				}
			}
		})
	}
	// The workers still serve: a valid chat request and a valid tts request are answered.
	for _, rs := range subjects[:2] {
		b, err := proto.Marshal(rs.valid)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, rs.subject, b); err != nil {
			t.Fatal(err)
		}
	}
	results, err := js.Stream(ctx, streams.StreamResults)
	if err != nil {
		t.Fatal(err)
	}
	for _, subject := range []string{streams.ResultSubject(streams.ResultKindChat, "ok-chat"), streams.ResultSubject(streams.ResultKindTTS, "ok-tts")} {
		jstest.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
			_, err := results.GetLastMsgForSubject(ctx, subject)
			return err
		})
	}
}
