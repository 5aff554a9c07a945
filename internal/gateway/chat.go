package gateway

import (
	"context"
	"sync"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/stage"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// chatService publishes ChatRequests to ai.chat.request (chat-handler) and answers with the
// ChatResponse stored on ai.result.chat.<request_id>.
type chatService struct{ s *Server }

func (c chatService) Chat(ctx context.Context, req *jetflowv1.ChatRequest) (*jetflowv1.ChatResponse, error) {
	c.s.prepare(ctx, &req.UserId, &req.Deadline)
	resp := &jetflowv1.ChatResponse{}
	err := c.s.call(ctx, chatCall, req, func(raw *jetstream.RawStreamMsg) (bool, error) {
		return true, decodeResult(raw, resp)
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// ChatStream forwards the live tokens (core NATS, ai.stream.<request_id>, at most once) as they
// come, then the durable answer. The token subscription exists only while the call runs.
func (c chatService) ChatStream(ctx context.Context, in *jetflowv1.ChatStreamRequest, out *connect.ServerStream[jetflowv1.ChatStreamResponse]) error {
	req := in.GetRequest()
	req.StreamTokens = true
	c.s.prepare(ctx, &req.UserId, &req.Deadline)

	tokens := &tokenForwarder{out: out}
	sub, err := c.s.cfg.NC.Subscribe(streams.TokenStreamSubject(req.GetRequestId()), tokens.forward)
	if err != nil {
		return waitError(ctx, "subscribing to the answer's tokens", err)
	}
	defer tokens.stop(sub)

	resp := &jetflowv1.ChatResponse{}
	err = c.s.call(ctx, chatCall, req, func(raw *jetstream.RawStreamMsg) (bool, error) {
		return true, decodeResult(raw, resp)
	})
	tokens.stop(sub)
	if err != nil {
		return err
	}
	if err := out.Send(&jetflowv1.ChatStreamResponse{Event: &jetflowv1.ChatStreamResponse_Response{Response: resp}}); err != nil {
		return waitError(ctx, "sending the answer", err)
	}
	return nil
}

// tokenForwarder sends each token to the client as it arrives. Tokens are for display: one
// that cannot be decoded or sent is skipped; the final answer is the record.
type tokenForwarder struct {
	out     *connect.ServerStream[jetflowv1.ChatStreamResponse]
	mu      sync.Mutex
	stopped bool
}

func (f *tokenForwarder) forward(m *nats.Msg) {
	token := &jetflowv1.TokenChunk{}
	if err := stage.Decode(m.Header, m.Data, token); err != nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return
	}
	_ = f.out.Send(&jetflowv1.ChatStreamResponse{Event: &jetflowv1.ChatStreamResponse_Token{Token: token}})
}

// stop ends forwarding before the final answer is sent (the stream's sends are not concurrent)
// and removes the subscription; a second call does nothing.
func (f *tokenForwarder) stop(sub *nats.Subscription) {
	f.mu.Lock()
	already := f.stopped
	f.stopped = true
	f.mu.Unlock()
	if !already {
		_ = sub.Unsubscribe()
	}
}
