package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/gateway"
	"github.com/jetflow-dev/jetflow/internal/stage"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/proto/jetflow/v1/jetflowv1connect"
	"github.com/jetflow-dev/jetflow/streams"
)

// detailOf returns the ErrorDetail the gateway attached to err.
func detailOf(t *testing.T, err error) *jetflowv1.ErrorDetail {
	t.Helper()
	var cerr *connect.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("not a Connect error: %v", err)
	}
	for _, d := range cerr.Details() {
		v, derr := d.Value()
		if derr != nil {
			continue
		}
		if detail, ok := v.(*jetflowv1.ErrorDetail); ok {
			return detail
		}
	}
	t.Fatalf("no ErrorDetail on %v", err)
	return nil
}

func (h *harness) chatClient() jetflowv1connect.ChatServiceClient {
	return jetflowv1connect.NewChatServiceClient(h.http, h.url)
}

// subscriptions counts the subscriptions of the gateway's connection, as the client library
// and as the server sees them (the server's connection list: the workers' own subscriptions
// come and go with their pulls, the gateway's must not).
func (h *harness) subscriptions(t *testing.T) (client int, server uint32) {
	t.Helper()
	cid, err := h.gwNC.GetClientID()
	if err != nil {
		t.Fatal(err)
	}
	connz, err := h.p.Server.Connz(&natsserver.ConnzOptions{CID: cid, Subscriptions: true})
	if err != nil || len(connz.Conns) != 1 {
		t.Fatalf("connection %d on the server: %v, %v", cid, connz, err)
	}
	return h.gwNC.NumSubscriptions(), connz.Conns[0].NumSubs
}

// baseline warms the gateway's connection up (its first request creates the client's one
// response subscription, which stays) and returns its subscription counts.
func (h *harness) baseline(t *testing.T) (int, uint32) {
	t.Helper()
	jstest.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error { // tts-module may still be starting
		_, err := jetflowv1connect.NewSpeechServiceClient(h.http, h.url).ListVoices(h.p.Ctx, &jetflowv1.ListVoicesRequest{})
		return err
	})
	return h.subscriptions(t)
}

// A caller's deadline travels in the request, and when it passes before the answer the call
// ends with deadline_exceeded and a detail saying what to do; nothing stays subscribed.
func TestDeadlinePasses(t *testing.T) {
	h := newHarness(t, harnessOptions{noStart: []string{"chat-handler"}}) // nobody answers
	gwSubs, serverSubs := h.baseline(t)
	ctx, cancel := context.WithTimeout(h.p.Ctx, 500*time.Millisecond)
	defer cancel()
	deadline, _ := ctx.Deadline()
	_, err := h.chatClient().Chat(ctx, &jetflowv1.ChatRequest{RequestId: "late", Query: "Anyone there?"})
	if connect.CodeOf(err) != connect.CodeDeadlineExceeded {
		t.Fatalf("error %v, want deadline_exceeded", err)
	}
	// connect-go ends the call at the deadline itself; the gateway's own answer is seen over
	// plain JSON, which has no client-side deadline, with the Connect timeout header.
	status, body, err := postJSONWithTimeout(h, "/jetflow.v1.ChatService/Chat", `{"request_id":"late-json","query":"Anyone there?"}`, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if status != 504 || !strings.Contains(body, `"deadline_exceeded"`) || !strings.Contains(body, gateway.DetailExpired) {
		t.Fatalf("HTTP %d %s, want 504 deadline_exceeded with the expired detail", status, body)
	}

	msgs := jstest.Stored(t, h.p.Ctx, h.p.JS, streams.StreamChat, streams.SubjectChatRequest)
	if len(msgs) != 2 {
		t.Fatalf("%d requests stored, want 2", len(msgs))
	}
	req := &jetflowv1.ChatRequest{}
	if err := stage.Decode(msgs[0].Header, msgs[0].Data, req); err != nil {
		t.Fatal(err)
	}
	// The caller sends its timeout, not an instant: the gateway's deadline is its receipt time
	// plus the timeout, a little after the caller's own.
	if got := req.GetDeadline().AsTime(); got.Before(deadline.Add(-50*time.Millisecond)) || got.After(deadline.Add(time.Second)) {
		t.Fatalf("request deadline %v, the caller's was %v", got, deadline)
	}
	if id := msgs[0].Header.Get(jetstream.MsgIDHeader); id != gateway.MsgID("chat", "late") {
		t.Fatalf("Nats-Msg-Id %q", id)
	}
	jstest.Eventually(t, 5*time.Second, 20*time.Millisecond, func() error {
		if g, s := h.subscriptions(t); g != gwSubs || s != serverSubs {
			return fmt.Errorf("subscriptions: gateway %d (was %d), server %d (was %d)", g, gwSubs, s, serverSubs)
		}
		return nil
	})
}

// A client that goes away mid-stream leaves nothing subscribed: neither the result nor the
// token subscription of its call, on the gateway's connection or anywhere on the server.
func TestClientDisconnectsMidStream(t *testing.T) {
	h := newHarness(t, harnessOptions{noStart: []string{"chat-handler"}})
	gwSubs, serverSubs := h.baseline(t)
	for _, p := range protocols {
		t.Run(string(p), func(t *testing.T) {
			ctx, cancel := context.WithCancel(h.p.Ctx)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := callServerStream[jetflowv1.ChatStreamRequest, jetflowv1.ChatStreamResponse](ctx, h, p, "/jetflow.v1.ChatService/ChatStream",
					&jetflowv1.ChatStreamRequest{Request: &jetflowv1.ChatRequest{RequestId: "gone-" + string(p), Query: "Still there?"}})
				done <- err
			}()
			// The call is in flight once its token and result subscriptions exist.
			jstest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
				if g, _ := h.subscriptions(t); g != gwSubs+2 {
					return fmt.Errorf("gateway has %d subscriptions, want %d while the call waits", g, gwSubs+2)
				}
				return nil
			})
			cancel()
			if err := <-done; err == nil {
				t.Fatal("the canceled call succeeded")
			}
			jstest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
				if g, s := h.subscriptions(t); g != gwSubs || s != serverSubs {
					return fmt.Errorf("subscriptions: gateway %d (was %d), server %d (was %d)", g, gwSubs, s, serverSubs)
				}
				return nil
			})
		})
	}
}

// An invalid request is refused with invalid_argument naming the field, over every protocol,
// and nothing is published.
func TestInvalidRequest(t *testing.T) {
	// Nobody consumes the chat requests, so one published would stay in AI_CHAT to be seen: a
	// running chat-handler would dead-letter it and leave no result either way.
	h := newHarness(t, harnessOptions{noStart: []string{"chat-handler"}})
	for _, p := range protocols {
		t.Run(string(p), func(t *testing.T) {
			_, err := callUnary[jetflowv1.ChatRequest, jetflowv1.ChatResponse](h.p.Ctx, h, p, "/jetflow.v1.ChatService/Chat",
				&jetflowv1.ChatRequest{RequestId: "bad id with spaces", Query: "?"})
			if err == nil || !strings.Contains(err.Error(), "request_id") || !strings.Contains(strings.ToLower(err.Error()), "invalid") {
				t.Fatalf("error %v, want invalid_argument naming request_id", err)
			}
		})
	}
	stream, err := h.chatClient().ChatStream(h.p.Ctx, &jetflowv1.ChatStreamRequest{Request: &jetflowv1.ChatRequest{RequestId: "empty"}})
	if err == nil {
		for stream.Receive() {
		}
		err = stream.Err()
	}
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "request.query") {
		t.Fatalf("error %v, want invalid_argument naming request.query", err)
	}
	if d := detailOf(t, err); d.GetCode() != gateway.DetailInvalid || d.GetRetryable() {
		t.Fatalf("detail %v", d)
	}
	// A client stream whose chunks change session mid-way.
	reqs := sttChunks("one", "hello")
	reqs[1].Chunk.SessionId = "two"
	_, err = callClientStream[jetflowv1.TranscribeRequest, jetflowv1.TranscribeResponse](h.p.Ctx, h, protoConnect, "/jetflow.v1.SpeechService/Transcribe", reqs)
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "chunk.session_id") {
		t.Fatalf("error %v, want invalid_argument naming chunk.session_id", err)
	}
	if n := len(jstest.Stored(t, h.p.Ctx, h.p.JS, streams.StreamChat, streams.SubjectChatRequest)); n != 0 {
		t.Fatalf("%d chat requests published for the refused ones", n)
	}
}

// A retried request id gets the first run's answer: one model call, one result, however the
// retries come (after the answer, or at the same time).
func TestRetriedRequestRunsOnce(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	llmCalls := func() int64 { return h.models.Stats().Calls["POST /v1/chat/completions"] }
	before := llmCalls()
	req := &jetflowv1.ChatRequest{RequestId: "once", Query: "How does KEDA scale the workers?"}
	first, err := h.chatClient().Chat(h.p.Ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	answers := make([]string, 4)
	errs := make([]error, 4)
	for i := range answers {
		wg.Go(func() {
			p := protocols[i%len(protocols)]
			resp, err := callUnary[jetflowv1.ChatRequest, jetflowv1.ChatResponse](h.p.Ctx, h, p, "/jetflow.v1.ChatService/Chat", req)
			errs[i] = err
			if err == nil {
				answers[i] = resp.GetAnswer()
			}
		})
	}
	wg.Wait()
	for i := range answers {
		if errs[i] != nil || answers[i] != first.GetAnswer() {
			t.Fatalf("retry %d: %q, %v; the first answer was %q", i, answers[i], errs[i], first.GetAnswer())
		}
	}
	if n := llmCalls() - before; n != 1 {
		t.Fatalf("%d LLM calls for one request id, want 1", n)
	}
	if n := len(jstest.Stored(t, h.p.Ctx, h.p.JS, streams.StreamResults, streams.ResultSubject(streams.ResultKindChat, "once"))); n != 1 {
		t.Fatalf("%d results stored, want 1", n)
	}
}

// A request a stage dead-letters ends its call at once with the stage and the reason, instead
// of at the deadline.
func TestDeadLetteredRequestEndsTheCall(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx, cancel := context.WithTimeout(h.p.Ctx, 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err := callServerStream[jetflowv1.TriggerRequest, jetflowv1.TriggerResponse](ctx, h, protoConnect, "/jetflow.v1.PipelineService/Trigger",
		&jetflowv1.TriggerRequest{Trigger: &jetflowv1.PipelineTrigger{RequestId: "not-allowed", Pipeline: "drop-tables"}})
	if connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("error %v, want failed_precondition", err)
	}
	d := detailOf(t, err)
	if d.GetCode() != gateway.DetailDeadLettered || d.GetStage() != streams.ConsumerPipelineBridge || d.GetRetryable() {
		t.Fatalf("detail %v", d)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("the call took %v: it waited instead of ending at the dead letter", took)
	}
}

// A request larger than one NATS message is refused with invalid_argument and the too_large
// detail, before anything is published.
func TestTooLargeRequest(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	audio := make([]byte, 2<<20) // valid (<= 16 MiB) but over the 1 MiB max payload
	audio[0] = 1
	_, err := jetflowv1connect.NewVoiceServiceClient(h.http, h.url).Ask(h.p.Ctx, &jetflowv1.AskRequest{Request: &jetflowv1.VoiceRequest{
		RequestId: "big", Audio: audio, Format: &jetflowv1.AudioFormat{Encoding: jetflowv1.AudioFormat_ENCODING_WAV},
	}})
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("error %v, want invalid_argument", err)
	}
	if d := detailOf(t, err); d.GetCode() != gateway.DetailTooLarge {
		t.Fatalf("detail %v", d)
	}
}

// A call is answered on the wake-up of its result, not at the next recheck, even when the
// wake-up comes before the stream has stored the result (the server hands a message to
// subscribers and to the stream at once): with the recheck a minute away, every call of a
// series, ten at a time, still ends within seconds.
func TestAnsweredWithoutWaitingForTheRecheck(t *testing.T) {
	h := newHarness(t, harnessOptions{config: func(c *gateway.Config) { c.Recheck = time.Minute }})
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for w := range 10 {
		wg.Go(func() {
			for i := range 20 {
				ctx, cancel := context.WithTimeout(h.p.Ctx, 10*time.Second)
				_, err := h.chatClient().Chat(ctx, &jetflowv1.ChatRequest{RequestId: fmt.Sprintf("prompt-%d-%d", w, i), Query: "How does KEDA scale the workers?"})
				cancel()
				if err != nil {
					errs <- fmt.Errorf("call %d-%d: %w (waiting for the recheck?)", w, i, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A Transcribe stream one of whose chunks stt-module dead-letters (a sample rate other than the
// session's) ends with the stage's reason, instead of waiting for a session that cannot end.
func TestTranscribeEndsAtADeadLetteredChunk(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	reqs := sttChunks("rates", "two rates")
	reqs[1].Chunk.SampleRate = 8000
	ctx, cancel := context.WithTimeout(h.p.Ctx, 20*time.Second)
	defer cancel()
	_, err := callClientStream[jetflowv1.TranscribeRequest, jetflowv1.TranscribeResponse](ctx, h, protoConnect, "/jetflow.v1.SpeechService/Transcribe", reqs)
	if connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("error %v, want failed_precondition", err)
	}
	if d := detailOf(t, err); d.GetStage() != streams.ConsumerSTT {
		t.Fatalf("detail %v", d)
	}
}
