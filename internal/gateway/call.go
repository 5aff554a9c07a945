package gateway

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/jetflow-dev/jetflow/streams"
)

// request is what every request message the gateway publishes has in common.
type request interface {
	proto.Message
	GetRequestId() string
	GetDeadline() *timestamppb.Timestamp
}

// callSpec says where one kind of request goes and where its results come back.
type callSpec struct {
	kind    string // the result kind: ai.result.<kind>.<request_id>, and the Nats-Msg-Id's scope
	subject string // the subject the workers consume
	stream  string // the stream that stores it, as its dead letters name it
}

var (
	chatCall     = callSpec{streams.ResultKindChat, streams.SubjectChatRequest, streams.StreamChat}
	ttsCall      = callSpec{streams.ResultKindTTS, streams.SubjectTTSRequest, streams.StreamTTS}
	voiceCall    = callSpec{streams.ResultKindVoice, streams.SubjectVoiceRequest, streams.StreamVoice}
	pipelineCall = callSpec{streams.ResultKindPipeline, streams.SubjectPipelineTrigger, streams.StreamPipeline}
)

// call publishes req and hands each of its stored results, in order, to read until read says
// done. Everything the call set up (the result subscription, the dead-letter registration) is
// removed when it returns, however it ends. The error is a Connect error.
func (s *Server) call(ctx context.Context, spec callSpec, req request, read func(*jetstream.RawStreamMsg) (done bool, err error)) error {
	ctx, cancel := s.waitContext(ctx, req.GetDeadline())
	defer cancel()
	id := req.GetRequestId()
	failed, unwatch := s.deadLetters.add(spec.stream, id)
	defer unwatch()
	results, err := s.openResults(streams.ResultSubject(spec.kind, id), failed)
	if err != nil {
		return waitError(ctx, "waiting for results", err)
	}
	defer results.Close()
	if _, err := s.publishRequest(ctx, spec.subject, spec.kind, id, req); err != nil {
		return waitError(ctx, "publishing "+spec.kind+" request "+id, err)
	}
	for {
		raw, err := results.Next(ctx)
		if err != nil {
			return waitError(ctx, "waiting for the result of "+spec.kind+" request "+id, err)
		}
		done, err := read(raw)
		if err != nil {
			return waitError(ctx, "reading the result of "+spec.kind+" request "+id, err)
		}
		if done {
			return nil
		}
	}
}

// prepare sets what the gateway decides on a request before it is published: the caller's
// name as user_id when authentication names one, and the deadline (requestDeadline).
func (s *Server) prepare(ctx context.Context, userID *string, deadline **timestamppb.Timestamp) {
	if s.cfg.UserID != nil {
		if name, ok := s.cfg.UserID(ctx); ok {
			*userID = name
		}
	}
	*deadline = requestDeadline(ctx, *deadline)
}
