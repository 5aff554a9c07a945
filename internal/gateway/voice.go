package gateway

import (
	"bytes"
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

// voiceService publishes VoiceRequests to ai.voice.request (voice-assistant) and answers with
// the turn stored on ai.result.voice.<request_id>: the audio chunks, then the VoiceResponse.
type voiceService struct{ s *Server }

var (
	audioChunkType    = string(proto.MessageName(&jetflowv1.TtsAudioChunk{}))
	voiceResponseType = string(proto.MessageName(&jetflowv1.VoiceResponse{}))
)

// Ask joins the answer's audio chunks in sequence order and returns them with the turn's
// record, which voice-assistant stores after the last chunk (or alone, when there was nothing
// to say).
func (v voiceService) Ask(ctx context.Context, in *jetflowv1.AskRequest) (*jetflowv1.AskResponse, error) {
	req := in.GetRequest()
	v.s.prepare(ctx, &req.UserId, &req.Deadline)
	var audio bytes.Buffer
	resp := &jetflowv1.AskResponse{}
	err := v.s.call(ctx, voiceCall, req, func(raw *jetstream.RawStreamMsg) (bool, error) {
		switch t := resultType(raw); t {
		case audioChunkType:
			chunk := &jetflowv1.TtsAudioChunk{}
			if err := decodeResult(raw, chunk); err != nil {
				return false, err
			}
			audio.Write(chunk.GetAudio())
			return false, nil
		case voiceResponseType:
			resp.Response = &jetflowv1.VoiceResponse{}
			return true, decodeResult(raw, resp.Response)
		default:
			return false, fmt.Errorf("result %d on %s is a %q, expected audio chunks and a voice response", raw.Sequence, raw.Subject, t)
		}
	})
	if err != nil {
		return nil, err
	}
	resp.Audio = audio.Bytes()
	return resp, nil
}
