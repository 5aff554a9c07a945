package gateway

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/internal/telemetry"
)

// MsgID is the Nats-Msg-Id of a request the gateway publishes: the same for every retry of one
// request id, so the work stream's duplicate window keeps a retried call from running twice.
// kind scopes it (a chat and a tts request may share an id); id is a subject token, validated.
func MsgID(kind, id string) string { return "gateway:" + kind + ":" + id }

// publishRequest stores msg on subject with the headers the stage runtime reads: binary
// protobuf, its type, its request id, and the call's trace context, so the stages' spans join
// the caller's trace. A duplicate (a retried request id) is not an error: the first run's result
// answers it.
func (s *Server) publishRequest(ctx context.Context, subject, kind, requestID string, msg proto.Message) (*jetstream.PubAck, error) {
	data, err := proto.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", proto.MessageName(msg), err)
	}
	h := make(nats.Header, 6)
	h.Set(jetstream.MsgIDHeader, MsgID(kind, requestID))
	h.Set(stage.HeaderContentType, "application/protobuf")
	h.Set(stage.HeaderType, string(proto.MessageName(msg)))
	h.Set(stage.HeaderRequestID, requestID)
	telemetry.Inject(ctx, h)
	// The server refuses a message over its max payload; saying so before sending is cheaper
	// and names the cause.
	if max := s.cfg.NC.MaxPayload(); max > 0 && int64(len(data)) > max {
		return nil, fmt.Errorf("%d bytes of %s, the server takes at most %d: %w", len(data), proto.MessageName(msg), max, nats.ErrMaxPayload)
	}
	ack, err := s.cfg.JS.PublishMsg(ctx, &nats.Msg{Subject: subject, Header: h, Data: data})
	if err != nil {
		return nil, err
	}
	if ack.Duplicate {
		s.cfg.Log.Debug("request already published; answering with its result", "subject", subject, "request_id", requestID)
	}
	return ack, nil
}
