package gateway

import (
	"context"
	"fmt"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/stage"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// speechService publishes TtsRequests to ai.tts.request (tts-module) and streams the chunks
// stored on ai.result.tts.<request_id>; it asks tts-module's voices service for ListVoices, and
// feeds Transcribe's chunks to stt-module (transcribe.go).
type speechService struct{ s *Server }

// Synthesize sends each audio chunk as soon as it is stored, in sequence, and ends after the
// chunk marked last.
func (sp speechService) Synthesize(ctx context.Context, in *jetflowv1.SynthesizeRequest, out *connect.ServerStream[jetflowv1.SynthesizeResponse]) error {
	req := in.GetRequest()
	sp.s.prepare(ctx, &req.UserId, &req.Deadline)
	return sp.s.call(ctx, ttsCall, req, func(raw *jetstream.RawStreamMsg) (bool, error) {
		chunk := &jetflowv1.TtsAudioChunk{}
		if err := decodeResult(raw, chunk); err != nil {
			return false, err
		}
		if err := out.Send(&jetflowv1.SynthesizeResponse{Chunk: chunk}); err != nil {
			return false, fmt.Errorf("sending chunk %d: %w", chunk.GetSequence(), err)
		}
		return chunk.GetLast(), nil
	})
}

// ListVoices asks tts-module's voices service (ai.tts.voices, a NATS micro service).
func (sp speechService) ListVoices(ctx context.Context, _ *jetflowv1.ListVoicesRequest) (*jetflowv1.ListVoicesResponse, error) {
	askCtx, cancel := context.WithTimeout(ctx, sp.s.cfg.VoicesTimeout)
	defer cancel()
	reply, err := sp.s.cfg.NC.RequestMsgWithContext(askCtx, &nats.Msg{
		Subject: streams.SubjectTTSVoices,
		Header:  nats.Header{stage.HeaderContentType: {"application/protobuf"}},
	})
	if err != nil {
		return nil, waitError(ctx, "asking tts-module for its voices (is it running?)", err)
	}
	resp := &jetflowv1.ListVoicesResponse{}
	if err := proto.Unmarshal(reply.Data, resp); err != nil {
		return nil, waitError(ctx, "decoding the voices", err)
	}
	return resp, nil
}
