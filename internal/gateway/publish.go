package gateway

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/stage"
)

// MsgID is the Nats-Msg-Id of a request the gateway publishes: the same for every retry of one
// request id, so the work stream's duplicate window keeps a retried call from running twice.
// kind scopes it (a chat and a tts request may share an id); id is a subject token, validated.
func MsgID(kind, id string) string { return msgIDPrefix + ":" + kind + ":" + id }

// msgIDPrefix is what the gateway's Nats-Msg-Ids start with, as a stage's start with its name.
const msgIDPrefix = "gateway"

// publishRequest stores msg on subject as the stage runtime publishes an output
// (stage.BuildOutput): binary protobuf, its type, its request id, the call's trace context (so
// the stages' spans join the caller's trace), and MsgID(kind, requestID) as its Nats-Msg-Id. A
// duplicate (a retried request id) is not an error: the first run's result answers it.
func (s *Server) publishRequest(ctx context.Context, subject, kind, requestID string, msg proto.Message) (*jetstream.PubAck, error) {
	// ID makes the runtime's id "gateway:<kind>:<request id>", which is MsgID.
	out, err := stage.BuildOutput(ctx, msgIDPrefix, stage.Output{Subject: subject, Msg: msg, ID: kind + ":" + requestID}, false)
	if err != nil {
		return nil, err
	}
	// The server refuses a message over its max payload; saying so before sending is cheaper
	// and names the cause.
	if max := s.cfg.NC.MaxPayload(); max > 0 && int64(len(out.Data)) > max {
		return nil, fmt.Errorf("%d bytes of %s, the server takes at most %d: %w", len(out.Data), proto.MessageName(msg), max, nats.ErrMaxPayload)
	}
	ack, err := s.cfg.JS.PublishMsg(ctx, out)
	if err != nil {
		return nil, err
	}
	if ack.Duplicate {
		s.cfg.Log.Debug("request already published; answering with its result", "subject", subject, "request_id", requestID)
	}
	return ack, nil
}
