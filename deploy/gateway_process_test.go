package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/syncbuf"
	"github.com/jetflow-dev/jetflow/internal/gateway/auth"
	"github.com/jetflow-dev/jetflow/internal/stage"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/proto/jetflow/v1/jetflowv1connect"
	"github.com/jetflow-dev/jetflow/streams"
)

// TestGatewayUnderProductionPermissions runs the real gateway binary as its NATS user, with the
// chat and tts workers as theirs, against a server started from deploy/nats, and makes its
// calls through it: chat (whole and streamed), the voices, speech, and AdminService's status,
// dead letters and a replay. The server must refuse the gateway nothing: it catches a call the gateway
// makes that GATEWAY_PERMISSIONS forgot, which TestGatewayPermissionsAllowTheJob, written from
// the outside, cannot.
func TestGatewayUnderProductionPermissions(t *testing.T) {
	dir := os.Getenv(workerBinEnv)
	if dir == "" {
		t.Skipf("set %s to a directory of built binaries (make binaries) to run them", workerBinEnv)
	}
	env := startNATS(t)
	models := startModels(t)
	ctx, cancel := context.WithTimeout(jstest.Context(t), time.Minute)
	defer cancel()
	for _, w := range Workers() {
		if w.Name == "chat-handler" || w.Name == "tts-module" {
			env.runWorker(ctx, t, w, binary(t, dir, w.Name), models)
		}
	}
	key, keys, err := auth.NewDevKeys("deploy-test")
	if err != nil {
		t.Fatal(err)
	}
	keysFile := filepath.Join(t.TempDir(), "keys.json")
	data, err := json.Marshal(keys)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keysFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	logs := env.runWorker(ctx, t, Gateway(), binary(t, dir, GatewayName), models,
		"GATEWAY_ADDR=127.0.0.1:0", auth.EnvKeysFile+"="+keysFile, "DEAD_LETTER_ADVISORIES=false")
	url := "http://" + gatewayAddr(t, logs)

	opts := []connect.ClientOption{connect.WithInterceptors(bearerKey(key))}
	chat := jetflowv1connect.NewChatServiceClient(http.DefaultClient, url, opts...)
	if _, err := chat.Chat(ctx, &jetflowv1.ChatRequest{RequestId: "gw-perm-chat", Query: "what is jetflow", DisableRag: true}); err != nil {
		t.Errorf("Chat: %v", err)
	}
	stream, err := chat.ChatStream(ctx, &jetflowv1.ChatStreamRequest{Request: &jetflowv1.ChatRequest{RequestId: "gw-perm-stream", Query: "what is jetflow", DisableRag: true}})
	if err != nil {
		t.Fatalf("ChatStream: %v", err)
	}
	for stream.Receive() {
	}
	if err := errors.Join(stream.Err(), stream.Close()); err != nil {
		t.Errorf("ChatStream: %v", err)
	}
	speech := jetflowv1connect.NewSpeechServiceClient(http.DefaultClient, url, opts...)
	if _, err := speech.ListVoices(ctx, &jetflowv1.ListVoicesRequest{}); err != nil {
		t.Errorf("ListVoices: %v", err)
	}
	audio, err := speech.Synthesize(ctx, &jetflowv1.SynthesizeRequest{Request: &jetflowv1.TtsRequest{RequestId: "gw-perm-tts", Text: "hello there"}})
	if err != nil {
		t.Fatalf("Synthesize: %v", err)
	}
	for audio.Receive() {
	}
	if err := errors.Join(audio.Err(), audio.Close()); err != nil {
		t.Errorf("Synthesize: %v", err)
	}
	letter := deadLetter(t, ctx, env)
	admin := jetflowv1connect.NewAdminServiceClient(http.DefaultClient, url, opts...)
	if _, err := admin.Status(ctx, &jetflowv1.StatusRequest{}); err != nil {
		t.Errorf("Status: %v", err)
	}
	if resp, err := admin.ListDeadLetters(ctx, &jetflowv1.ListDeadLettersRequest{}); err != nil || len(resp.GetDeadLetters()) != 1 {
		t.Errorf("ListDeadLetters: %d letters, %v; want the one published", len(resp.GetDeadLetters()), err)
	}
	replay, err := admin.ReplayDeadLetters(ctx, &jetflowv1.ReplayDeadLettersRequest{Sequences: []uint64{letter}})
	if err != nil || len(replay.GetResults()) != 1 || !replay.GetResults()[0].GetReplayed() {
		t.Errorf("ReplayDeadLetters: %v, %v; want dead letter %d replayed", replay, err, letter)
	}
	if l := strings.ToLower(logs.String()); strings.Contains(l, "permissions violation") {
		t.Errorf("the server refused the gateway something:\n%s", logs.String())
	}
}

// deadLetter stores a dead letter of stage tts as the runtime does, with the headers a replay
// reads, and returns its AI_DLQ sequence.
func deadLetter(t *testing.T, ctx context.Context, env *natsEnv) uint64 {
	t.Helper()
	data, err := proto.Marshal(&jetflowv1.TtsRequest{RequestId: "gw-perm-replay", Text: "hello again"})
	if err != nil {
		t.Fatal(err)
	}
	msg := &nats.Msg{Subject: streams.DeadLetterSubject(streams.ConsumerTTS), Data: data, Header: nats.Header{}}
	msg.Header.Set(stage.HeaderStage, streams.ConsumerTTS)
	msg.Header.Set(stage.HeaderOriginalSubject, streams.SubjectTTSRequest)
	msg.Header.Set(stage.HeaderOriginalStream, streams.StreamTTS)
	msg.Header.Set(stage.HeaderStreamSeq, "1")
	msg.Header.Set(stage.HeaderErrorKind, "permanent")
	msg.Header.Set(stage.HeaderError, "a test's dead letter")
	msg.Header.Set(stage.HeaderFailedAt, time.Now().UTC().Format(time.RFC3339))
	ack, err := env.admin.PublishMsg(ctx, msg)
	if err != nil {
		t.Fatalf("storing a dead letter: %v", err)
	}
	return ack.Sequence
}

func binary(t *testing.T, dir, name string) string {
	t.Helper()
	bin := filepath.Join(dir, name)
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no binary of %s in %s (make binaries): %v", name, workerBinEnv, err)
	}
	return bin
}

// gatewayAddr finds the address the gateway's API bound (GATEWAY_ADDR port 0) in its log.
func gatewayAddr(t *testing.T, logs *syncbuf.Buffer) string {
	t.Helper()
	var addr string
	jstest.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		sc := bufio.NewScanner(strings.NewReader(logs.String()))
		for sc.Scan() {
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "gateway listening" && rec.Addr != "" {
				addr = rec.Addr
				return nil
			}
		}
		return jstest.Errorf("no \"gateway listening\" in the log:\n%s", logs.String())
	})
	return addr
}

// bearerKey sends key with every unary call and every stream.
func bearerKey(key string) connect.Interceptor { return bearerInterceptor{key} }

type bearerInterceptor struct{ key string }

func (b bearerInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", "Bearer "+b.key)
		return next(ctx, req)
	}
}

func (b bearerInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", "Bearer "+b.key)
		return conn
	}
}

func (b bearerInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
