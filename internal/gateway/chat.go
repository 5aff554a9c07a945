package gateway

import (
	"context"

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
//
// Tokens and the answer arrive on different subscriptions, but in one connection's order: the
// worker publishes every token before it stores the answer, and the answer is read by a direct
// get whose reply comes after them. So once the answer is in, every token before it is already
// in the channel, and is sent before the answer.
func (c chatService) ChatStream(ctx context.Context, in *jetflowv1.ChatStreamRequest, out *connect.ServerStream[jetflowv1.ChatStreamResponse]) error {
	req := in.GetRequest()
	req.StreamTokens = true
	c.s.prepare(ctx, &req.UserId, &req.Deadline)

	tokens := make(chan *nats.Msg, tokenBuffer)
	sub, err := c.s.cfg.NC.ChanSubscribe(streams.TokenStreamSubject(req.GetRequestId()), tokens)
	if err != nil {
		return waitError(ctx, "subscribing to the answer's tokens", err)
	}
	defer func() { _ = sub.Unsubscribe() }()

	resp := &jetflowv1.ChatResponse{}
	answered := make(chan error, 1)
	go func() {
		answered <- c.s.call(ctx, chatCall, req, func(raw *jetstream.RawStreamMsg) (bool, error) {
			return true, decodeResult(raw, resp)
		})
	}()
	for {
		select {
		case m := <-tokens:
			sendToken(out, m)
		case err := <-answered:
			for drained := false; !drained; {
				select {
				case m := <-tokens:
					sendToken(out, m)
				default:
					drained = true
				}
			}
			if err != nil {
				return err
			}
			if err := out.Send(&jetflowv1.ChatStreamResponse{Event: &jetflowv1.ChatStreamResponse_Response{Response: resp}}); err != nil {
				return waitError(ctx, "sending the answer", err)
			}
			return nil
		}
	}
}

// tokenBuffer is how many tokens may wait for a slow client; past it the connection drops them
// (tokens are at most once; the answer is the record).
const tokenBuffer = 4096

// sendToken sends one token to the client. Tokens are for display: one that cannot be decoded
// or sent is skipped; a client that went away ends the call through its context.
func sendToken(out *connect.ServerStream[jetflowv1.ChatStreamResponse], m *nats.Msg) {
	token := &jetflowv1.TokenChunk{}
	if err := stage.Decode(m.Header, m.Data, token); err != nil {
		return
	}
	_ = out.Send(&jetflowv1.ChatStreamResponse{Event: &jetflowv1.ChatStreamResponse_Token{Token: token}})
}
