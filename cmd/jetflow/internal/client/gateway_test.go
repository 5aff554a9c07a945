package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"

	"github.com/jetflow-dev/jetflow/internal/devkit/syncbuf"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/proto/jetflow/v1/jetflowv1connect"
)

// testKey is the only key the test gateway accepts.
const testKey = "jf_test-key"

// testGateway is a real Connect server on the generated handlers, answering as the gateway does
// from scripted results, and recording what it was sent.
type testGateway struct {
	jetflowv1connect.UnimplementedChatServiceHandler
	jetflowv1connect.UnimplementedSpeechServiceHandler
	jetflowv1connect.UnimplementedPipelineServiceHandler

	mu        sync.Mutex
	chats     []*jetflowv1.ChatRequest
	tts       []*jetflowv1.TtsRequest
	sttChunks []*jetflowv1.SttAudioChunk
	triggers  []*jetflowv1.PipelineTrigger

	// tokens the chat streams before the final answer (default: the answer word by word).
	tokens []string
	answer string
	// ttsFormat is the format of the audio Synthesize sends.
	ttsFormat *jetflowv1.AudioFormat
	ttsAudio  []byte
	// phases a pipeline run goes through.
	phases []jetflowv1.PipelineStatus_Phase
}

func newTestGateway(t *testing.T) (*testGateway, string) {
	t.Helper()
	g := &testGateway{
		answer:    "According to [source 1]: KEDA scales on consumer lag.",
		ttsFormat: &jetflowv1.AudioFormat{Encoding: jetflowv1.AudioFormat_ENCODING_PCM16, SampleRate: 16000},
		ttsAudio:  []byte{1, 0, 2, 0, 3, 0, 4, 0},
		phases:    []jetflowv1.PipelineStatus_Phase{jetflowv1.PipelineStatus_PHASE_PENDING, jetflowv1.PipelineStatus_PHASE_RUNNING, jetflowv1.PipelineStatus_PHASE_SUCCEEDED},
	}
	mux := http.NewServeMux()
	mux.Handle(jetflowv1connect.NewChatServiceHandler(g))
	mux.Handle(jetflowv1connect.NewSpeechServiceHandler(g))
	mux.Handle(jetflowv1connect.NewPipelineServiceHandler(g))
	errorWriter := connect.NewErrorWriter()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testKey {
			_ = errorWriter.Write(w, r, connect.NewError(connect.CodeUnauthenticated, errors.New("no valid API key")))
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return g, srv.URL
}

func (g *testGateway) ChatStream(_ context.Context, req *jetflowv1.ChatStreamRequest, stream *connect.ServerStream[jetflowv1.ChatStreamResponse]) error {
	if err := req.Validate(); err != nil {
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
	g.mu.Lock()
	g.chats = append(g.chats, req.GetRequest())
	tokens := g.tokens
	g.mu.Unlock()
	if tokens == nil {
		for i, w := range strings.Fields(g.answer) {
			if i > 0 {
				w = " " + w
			}
			tokens = append(tokens, w)
		}
	}
	for i, tok := range tokens {
		if err := stream.Send(&jetflowv1.ChatStreamResponse{Event: &jetflowv1.ChatStreamResponse_Token{
			Token: &jetflowv1.TokenChunk{RequestId: req.GetRequest().GetRequestId(), Index: int32(i), Text: tok},
		}}); err != nil {
			return err
		}
	}
	return stream.Send(&jetflowv1.ChatStreamResponse{Event: &jetflowv1.ChatStreamResponse_Response{Response: &jetflowv1.ChatResponse{
		RequestId: req.GetRequest().GetRequestId(), Answer: g.answer, Model: "stand-in", StandIn: true,
		Sources: []*jetflowv1.Source{
			{Id: "7", Collection: "docs", Score: 0.91, Text: "KEDA scales\nworkers on lag.", Metadata: map[string]string{"title": "Autoscaling"}},
			{Id: "9", Collection: "docs", Score: 0.5, Text: "JetStream keeps messages."},
		},
	}}})
}

func (g *testGateway) Synthesize(_ context.Context, req *jetflowv1.SynthesizeRequest, stream *connect.ServerStream[jetflowv1.SynthesizeResponse]) error {
	if err := req.Validate(); err != nil {
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
	g.mu.Lock()
	g.tts = append(g.tts, req.GetRequest())
	g.mu.Unlock()
	half := len(g.ttsAudio) / 2
	for i, part := range [][]byte{g.ttsAudio[:half], g.ttsAudio[half:]} {
		if err := stream.Send(&jetflowv1.SynthesizeResponse{Chunk: &jetflowv1.TtsAudioChunk{
			RequestId: req.GetRequest().GetRequestId(), Sequence: int32(i), Audio: part, Last: i == 1, Format: g.ttsFormat,
		}}); err != nil {
			return err
		}
	}
	return nil
}

func (g *testGateway) Transcribe(_ context.Context, stream *connect.ClientStream[jetflowv1.TranscribeRequest]) (*jetflowv1.TranscribeResponse, error) {
	var pcm int
	var rate int32
	for stream.Receive() {
		if err := stream.Msg().Validate(); err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, err)
		}
		chunk := stream.Msg().GetChunk()
		g.mu.Lock()
		g.sttChunks = append(g.sttChunks, chunk)
		g.mu.Unlock()
		pcm += len(chunk.GetPcm())
		rate = chunk.GetSampleRate()
		if chunk.GetEndOfStream() {
			break
		}
	}
	if err := stream.Err(); err != nil {
		return nil, err
	}
	return &jetflowv1.TranscribeResponse{Transcripts: []*jetflowv1.Transcript{
		{Kind: jetflowv1.Transcript_KIND_FINAL, SegmentId: 0, Text: fmt.Sprintf("%d bytes at %d Hz", pcm, rate)},
		{Kind: jetflowv1.Transcript_KIND_GAP, SegmentId: 1, Gaps: []*jetflowv1.SequenceGap{{FirstMissing: 3, LastMissing: 4}}},
	}}, nil
}

func (g *testGateway) Trigger(_ context.Context, req *jetflowv1.TriggerRequest, stream *connect.ServerStream[jetflowv1.TriggerResponse]) error {
	if err := req.GetTrigger().Validate(); err != nil {
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
	g.mu.Lock()
	g.triggers = append(g.triggers, req.GetTrigger())
	g.mu.Unlock()
	for _, phase := range g.phases {
		if err := stream.Send(&jetflowv1.TriggerResponse{Status: &jetflowv1.PipelineStatus{
			RequestId: req.GetTrigger().GetRequestId(), Pipeline: req.GetTrigger().GetPipeline(), Backend: "argo",
			RunName: "reindex-abc", Phase: phase, Message: strings.ToLower(phase.String()),
		}}); err != nil {
			return err
		}
	}
	return nil
}

// run runs cmd against the gateway at url with key, and returns what it printed.
func run(t *testing.T, cmd func(context.Context, []string, Env) error, url, key string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errs syncbuf.Buffer
	env := map[string]string{"JETFLOW_GATEWAY": url}
	if key != "" {
		env["JETFLOW_API_KEY"] = key
	}
	err = cmd(t.Context(), args, Env{Stdout: &out, Stderr: &errs, Lookup: envconfig.Map(env), DevKeyFile: filepath.Join(t.TempDir(), "no-dev-key")})
	return out.String(), errs.String(), err
}
