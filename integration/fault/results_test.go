package fault

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/internal/stage"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// protoMsg is m as jetflow's publishers send it: binary protobuf, the type header, and a
// Nats-Msg-Id from the request id when it has one, so a publish retried after a lost answer
// lands once.
func protoMsg(t *testing.T, subject string, m proto.Message, h nats.Header) *nats.Msg {
	t.Helper()
	data, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if h == nil {
		h = nats.Header{}
	}
	h.Set(stage.HeaderType, string(proto.MessageName(m)))
	if rid, ok := m.(interface{ GetRequestId() string }); ok && rid.GetRequestId() != "" {
		h.Set(jetstream.MsgIDHeader, "producer:"+subject+":"+rid.GetRequestId())
	}
	return &nats.Msg{Subject: subject, Header: h, Data: data}
}

func protoValue(m proto.Message) protoreflect.Value {
	return protoreflect.ValueOfMessage(m.ProtoReflect())
}

// The stand-in speech of the STT sessions: 8 kHz (the codec's lowest rate, so the least data)
// in 100 ms chunks, each sentence followed by a pause long enough to close its segment.
const (
	sttRate  = 8000
	sttChunk = 100 * time.Millisecond
	sttPause = 800 * time.Millisecond
)

// sttVADEnv closes segments quickly: 300 ms of silence ends one, and the stand-in speech has
// 300 ms of silence on either side of its tones.
var sttVADEnv = []string{
	"VAD_MIN_SPEECH=100ms", "VAD_MIN_SILENCE=300ms", "VAD_POST_ROLL=100ms", "VAD_PRE_ROLL=200ms",
	"VAD_MAX_SEGMENT=10s", "VAD_IDLE_TIMEOUT=500ms",
}

func silencePCM(d time.Duration, rate int) []byte {
	return make([]byte, 2*int(int64(d)*int64(rate)/int64(time.Second)))
}

// sttSession is the chunks of session id speaking sentences, each followed by a pause,
// sequenced from 0, the last one ending the stream.
func sttSession(id string, sentences []string, rate int) []*jetflowv1.SttAudioChunk {
	var pcm []byte
	for _, s := range sentences {
		pcm = append(pcm, standin.EncodeSpeech(s, rate)...)
		pcm = append(pcm, silencePCM(sttPause, rate)...)
	}
	size := len(silencePCM(sttChunk, rate))
	var out []*jetflowv1.SttAudioChunk
	for seq := 0; len(pcm) > 0; seq++ {
		n := min(size, len(pcm))
		out = append(out, &jetflowv1.SttAudioChunk{
			RequestId: id + "-" + strconv.Itoa(seq), SessionId: id, Sequence: int64(seq),
			Pcm: pcm[:n], SampleRate: int32(rate), Language: "en-US",
		})
		pcm = pcm[n:]
	}
	out[len(out)-1].EndOfStream = true
	return out
}

// decodeAll decodes every message into a new T.
func decodeAll[T proto.Message](t *testing.T, msgs []jetstream.Msg, newT func() T) []T {
	t.Helper()
	out := make([]T, 0, len(msgs))
	for _, m := range msgs {
		v := newT()
		if err := stage.Decode(m.Headers(), m.Data(), v); err != nil {
			// Chunks and the response share a voice result subject: keep only T.
			if m.Headers().Get(stage.HeaderType) != string(proto.MessageName(v)) {
				continue
			}
			t.Fatalf("decoding %s: %v", m.Subject(), err)
		}
		if m.Headers().Get(stage.HeaderType) != string(proto.MessageName(v)) {
			continue
		}
		out = append(out, v)
	}
	return out
}

func hasResult(r *rig, kind, id string) error {
	if n := r.counts(streams.StreamResults, streams.ResultSubject(kind, id))[streams.ResultSubject(kind, id)]; n == 0 {
		return fmt.Errorf("no result for %s", id)
	}
	return nil
}

// hasLastChunk reports whether the audio of id ended (its last chunk is stored).
func hasLastChunk(r *rig, kind, id string) error {
	if err := hasResult(r, kind, id); err != nil {
		return err
	}
	chunks := decodeAll(r.t, r.stored(streams.StreamResults, streams.ResultSubject(kind, id)), func() *jetflowv1.TtsAudioChunk { return &jetflowv1.TtsAudioChunk{} })
	for _, c := range chunks {
		if c.GetLast() {
			return nil
		}
	}
	return fmt.Errorf("%s: %d chunks, not the last", id, len(chunks))
}

func pipelineSucceeded(r *rig, id string) error {
	if err := hasResult(r, streams.ResultKindPipeline, id); err != nil {
		return err
	}
	statuses := decodeAll(r.t, r.stored(streams.StreamResults, streams.ResultSubject(streams.ResultKindPipeline, id)), func() *jetflowv1.PipelineStatus { return &jetflowv1.PipelineStatus{} })
	for _, s := range statuses {
		if s.GetPhase() == jetflowv1.PipelineStatus_PHASE_SUCCEEDED {
			return nil
		}
	}
	return fmt.Errorf("pipeline %s: %d statuses, none succeeded", id, len(statuses))
}

// sttTranscripts returns the transcripts of session id, in stream order.
func sttTranscripts(r *rig, id string) []*jetflowv1.Transcript {
	return decodeAll(r.t, r.stored(streams.StreamResults, streams.ResultSubject(streams.ResultKindSTT, id)), func() *jetflowv1.Transcript { return &jetflowv1.Transcript{} })
}

func hasTranscript(r *rig, id, text string) error {
	if err := hasResult(r, streams.ResultKindSTT, id); err != nil {
		return err
	}
	for _, tr := range sttTranscripts(r, id) {
		if tr.GetKind() == jetflowv1.Transcript_KIND_FINAL && tr.GetText() == text {
			return nil
		}
	}
	return fmt.Errorf("session %s: no transcript %q", id, text)
}

func hasVoiceResponse(r *rig, id string) error {
	if err := hasResult(r, streams.ResultKindVoice, id); err != nil {
		return err
	}
	resp := decodeAll(r.t, r.stored(streams.StreamResults, streams.ResultSubject(streams.ResultKindVoice, id)), func() *jetflowv1.VoiceResponse { return &jetflowv1.VoiceResponse{} })
	if len(resp) == 0 {
		return fmt.Errorf("voice %s: no response yet", id)
	}
	return nil
}
