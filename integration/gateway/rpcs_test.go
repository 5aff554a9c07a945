package gateway

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/internal/upstream/transcribe"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/proto/jetflow/v1/jetflowv1connect"
	"github.com/jetflow-dev/jetflow/streams"
)

const sampleRate = 16000

// rpcCase exercises one RPC over one protocol and checks the answer is the platform's.
type rpcCase struct {
	name string
	run  func(ctx context.Context, t *testing.T, h *harness, p protocol, id string)
}

var rpcCases = []rpcCase{
	{"ChatService/Chat", func(ctx context.Context, t *testing.T, h *harness, p protocol, id string) {
		resp, err := callUnary[jetflowv1.ChatRequest, jetflowv1.ChatResponse](ctx, h, p, "/jetflow.v1.ChatService/Chat",
			&jetflowv1.ChatRequest{RequestId: id, Query: "How does KEDA scale the workers?"})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetRequestId() != id || !strings.HasPrefix(resp.GetAnswer(), "According to") || len(resp.GetSources()) == 0 {
			t.Fatalf("answer %q with %d sources for %s", resp.GetAnswer(), len(resp.GetSources()), resp.GetRequestId())
		}
	}},
	{"ChatService/ChatStream", func(ctx context.Context, t *testing.T, h *harness, p protocol, id string) {
		events, err := callServerStream[jetflowv1.ChatStreamRequest, jetflowv1.ChatStreamResponse](ctx, h, p, "/jetflow.v1.ChatService/ChatStream",
			&jetflowv1.ChatStreamRequest{Request: &jetflowv1.ChatRequest{RequestId: id, Query: "What happens to a message that fails?"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) < 2 {
			t.Fatalf("%d events, want tokens then the answer", len(events))
		}
		var text strings.Builder
		for _, e := range events[:len(events)-1] {
			if e.GetToken() == nil {
				t.Fatalf("event before the last is not a token: %v", e)
			}
			text.WriteString(e.GetToken().GetText())
		}
		final := events[len(events)-1].GetResponse()
		if final == nil || final.GetAnswer() == "" {
			t.Fatalf("last event is not the answer: %v", events[len(events)-1])
		}
		// Tokens are at most once, but on one connection none is lost: every token the worker
		// published comes before the answer.
		if strings.TrimSpace(text.String()) != strings.TrimSpace(final.GetAnswer()) {
			t.Fatalf("tokens %q, answer %q", text.String(), final.GetAnswer())
		}
	}},
	{"SpeechService/Synthesize", func(ctx context.Context, t *testing.T, h *harness, p protocol, id string) {
		chunks, err := callServerStream[jetflowv1.SynthesizeRequest, jetflowv1.SynthesizeResponse](ctx, h, p, "/jetflow.v1.SpeechService/Synthesize",
			&jetflowv1.SynthesizeRequest{Request: &jetflowv1.TtsRequest{RequestId: id, Text: "The gateway speaks."}})
		if err != nil {
			t.Fatal(err)
		}
		if len(chunks) == 0 || !chunks[len(chunks)-1].GetChunk().GetLast() {
			t.Fatalf("%d chunks, the last not marked last", len(chunks))
		}
		var total int64
		for i, c := range chunks {
			if int(c.GetChunk().GetSequence()) != i {
				t.Fatalf("chunk %d has sequence %d", i, c.GetChunk().GetSequence())
			}
			total += int64(len(c.GetChunk().GetAudio()))
		}
		if want := chunks[len(chunks)-1].GetChunk().GetTotalBytes(); total != want || total == 0 {
			t.Fatalf("%d audio bytes, the last chunk says %d", total, want)
		}
	}},
	{"SpeechService/ListVoices", func(ctx context.Context, t *testing.T, h *harness, p protocol, _ string) {
		resp, err := callUnary[jetflowv1.ListVoicesRequest, jetflowv1.ListVoicesResponse](ctx, h, p, "/jetflow.v1.SpeechService/ListVoices", &jetflowv1.ListVoicesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetVoices()) == 0 || resp.GetVoices()[0].GetId() != "alloy" {
			t.Fatalf("voices %v", resp.GetVoices())
		}
	}},
	{"SpeechService/Transcribe", func(ctx context.Context, t *testing.T, h *harness, p protocol, id string) {
		const said = "the gateway hears you"
		reqs := sttChunks(id, said)
		resp, err := callClientStream[jetflowv1.TranscribeRequest, jetflowv1.TranscribeResponse](ctx, h, p, "/jetflow.v1.SpeechService/Transcribe", reqs)
		if err != nil {
			t.Fatal(err)
		}
		var text []string
		for _, tr := range resp.GetTranscripts() {
			text = append(text, tr.GetText())
			if tr.GetSpeakerId() != "spk-"+id { // carried from the chunks, untouched
				t.Fatalf("transcript %v: speaker_id %q, want spk-%s", tr, tr.GetSpeakerId(), id)
			}
		}
		if got := strings.Join(text, " "); !strings.EqualFold(strings.TrimSpace(got), said) {
			t.Fatalf("transcribed %q, said %q", got, said)
		}
	}},
	{"VoiceService/Ask", func(ctx context.Context, t *testing.T, h *harness, p protocol, id string) {
		const question = "How does KEDA scale the workers?"
		wav, err := transcribe.EncodeWAV(standin.EncodeSpeech(question, sampleRate), sampleRate)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := callUnary[jetflowv1.AskRequest, jetflowv1.AskResponse](ctx, h, p, "/jetflow.v1.VoiceService/Ask", &jetflowv1.AskRequest{Request: &jetflowv1.VoiceRequest{
			RequestId: id, SessionId: "s-" + id, Audio: wav, Format: &jetflowv1.AudioFormat{Encoding: jetflowv1.AudioFormat_ENCODING_WAV},
		}})
		if err != nil {
			t.Fatal(err)
		}
		r := resp.GetResponse()
		if !strings.EqualFold(r.GetTranscript(), question) || r.GetAnswer() == "" || len(resp.GetAudio()) == 0 || r.GetAudioChunks() == 0 {
			t.Fatalf("transcript %q, answer %q, %d audio bytes in %d chunks", r.GetTranscript(), r.GetAnswer(), len(resp.GetAudio()), r.GetAudioChunks())
		}
	}},
	{"PipelineService/Trigger", func(ctx context.Context, t *testing.T, h *harness, p protocol, id string) {
		statuses, err := callServerStream[jetflowv1.TriggerRequest, jetflowv1.TriggerResponse](ctx, h, p, "/jetflow.v1.PipelineService/Trigger",
			&jetflowv1.TriggerRequest{Trigger: &jetflowv1.PipelineTrigger{RequestId: id, Pipeline: "nightly-eval"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(statuses) == 0 || statuses[len(statuses)-1].GetStatus().GetPhase() != jetflowv1.PipelineStatus_PHASE_SUCCEEDED {
			t.Fatalf("statuses %v, want the run to end SUCCEEDED", statuses)
		}
	}},
	{"AdminService/Status", func(ctx context.Context, t *testing.T, h *harness, p protocol, _ string) {
		resp, err := callUnary[jetflowv1.StatusRequest, jetflowv1.StatusResponse](ctx, h, p, "/jetflow.v1.AdminService/Status", &jetflowv1.StatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		set, err := streams.Load()
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetStages()) != len(set.Consumers()) {
			t.Fatalf("%d stages, streams/ defines %d consumers", len(resp.GetStages()), len(set.Consumers()))
		}
		for _, s := range resp.GetStages() {
			if s.GetMissing() || s.GetStream() == "" {
				t.Fatalf("stage %v", s)
			}
		}
	}},
	{"AdminService/ListDeadLetters", func(ctx context.Context, t *testing.T, h *harness, p protocol, id string) {
		deadLetter(ctx, t, h, id)
		resp, err := callUnary[jetflowv1.ListDeadLettersRequest, jetflowv1.ListDeadLettersResponse](ctx, h, p, "/jetflow.v1.AdminService/ListDeadLetters",
			&jetflowv1.ListDeadLettersRequest{Stage: streams.ConsumerPipelineBridge, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		l := findLetter(resp, id)
		if l == nil {
			t.Fatalf("no dead letter of request %s in %d", id, len(resp.GetDeadLetters()))
		}
		d := l.GetDeadLetter()
		if d.GetStage() != streams.ConsumerPipelineBridge || d.GetErrorKind() != "permanent" || d.GetOriginalSubject() != streams.SubjectPipelineTrigger ||
			d.GetPayloadType() != "jetflow.v1.PipelineTrigger" || len(d.GetPayload()) == 0 {
			t.Fatalf("dead letter %v", d)
		}
		// A full page says where the next one starts, and the next page starts there.
		second := deadLetter(ctx, t, h, id+"-next")
		page, err := callUnary[jetflowv1.ListDeadLettersRequest, jetflowv1.ListDeadLettersResponse](ctx, h, p, "/jetflow.v1.AdminService/ListDeadLetters",
			&jetflowv1.ListDeadLettersRequest{Stage: streams.ConsumerPipelineBridge, StartSequence: l.GetSequence(), Limit: 1})
		if err != nil || len(page.GetDeadLetters()) != 1 || page.GetDeadLetters()[0].GetSequence() != l.GetSequence() ||
			page.GetNextSequence() <= l.GetSequence() || page.GetNextSequence() > second {
			t.Fatalf("a page of 1 from %d (the next letter is %d): %v, %v", l.GetSequence(), second, page, err)
		}
		page, err = callUnary[jetflowv1.ListDeadLettersRequest, jetflowv1.ListDeadLettersResponse](ctx, h, p, "/jetflow.v1.AdminService/ListDeadLetters",
			&jetflowv1.ListDeadLettersRequest{Stage: streams.ConsumerPipelineBridge, StartSequence: page.GetNextSequence(), Limit: 1000})
		if err != nil || findLetter(page, id+"-next") == nil {
			t.Fatalf("the page from the next sequence lacks the second letter %d: %v, %v", second, page, err)
		}
	}},
	{"AdminService/ReplayDeadLetters", func(ctx context.Context, t *testing.T, h *harness, p protocol, id string) {
		seq := deadLetter(ctx, t, h, id)
		resp, err := callUnary[jetflowv1.ReplayDeadLettersRequest, jetflowv1.ReplayDeadLettersResponse](ctx, h, p, "/jetflow.v1.AdminService/ReplayDeadLetters",
			&jetflowv1.ReplayDeadLettersRequest{Sequences: []uint64{seq}})
		if err != nil {
			t.Fatal(err)
		}
		if r := resp.GetResults(); len(r) != 1 || !r[0].GetReplayed() || r[0].GetSubject() != streams.SubjectPipelineTrigger || r[0].GetMsgId() != fmt.Sprintf("replay:AI_DLQ:%d:1", seq) {
			t.Fatalf("results %v", r)
		}
		// Once: the same letter again is refused, and it stays in AI_DLQ.
		resp, err = callUnary[jetflowv1.ReplayDeadLettersRequest, jetflowv1.ReplayDeadLettersResponse](ctx, h, p, "/jetflow.v1.AdminService/ReplayDeadLetters",
			&jetflowv1.ReplayDeadLettersRequest{Sequences: []uint64{seq}})
		if err != nil {
			t.Fatal(err)
		}
		if r := resp.GetResults(); len(r) != 1 || r[0].GetReplayed() || !strings.Contains(r[0].GetError(), "replayed before") {
			t.Fatalf("second replay: %v", r)
		}
		list, err := jetflowv1connect.NewAdminServiceClient(h.http, h.url).ListDeadLetters(ctx, &jetflowv1.ListDeadLettersRequest{StartSequence: seq, Limit: 1})
		if err != nil || len(list.GetDeadLetters()) != 1 || list.GetDeadLetters()[0].GetSequence() != seq {
			t.Fatalf("the replayed letter is gone from AI_DLQ: %v, %v", list, err)
		}
	}},
}

// deadLetter has pipeline-bridge dead-letter a trigger of a pipeline off its allow-list, and
// returns the letter's AI_DLQ sequence.
func deadLetter(ctx context.Context, t *testing.T, h *harness, id string) uint64 {
	t.Helper()
	stream, err := jetflowv1connect.NewPipelineServiceClient(h.http, h.url).Trigger(ctx, &jetflowv1.TriggerRequest{Trigger: &jetflowv1.PipelineTrigger{RequestId: id, Pipeline: "drop-tables"}})
	if err == nil {
		for stream.Receive() {
		}
		err = stream.Err()
	}
	if connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("trigger of a pipeline off the allow-list: %v", err)
	}
	list, err := jetflowv1connect.NewAdminServiceClient(h.http, h.url).ListDeadLetters(ctx, &jetflowv1.ListDeadLettersRequest{Stage: streams.ConsumerPipelineBridge, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	l := findLetter(list, id)
	if l == nil {
		t.Fatalf("no dead letter of request %s", id)
	}
	return l.GetSequence()
}

func findLetter(resp *jetflowv1.ListDeadLettersResponse, requestID string) *jetflowv1.StoredDeadLetter {
	for _, l := range resp.GetDeadLetters() {
		if l.GetDeadLetter().GetHeaders()["Jetflow-Request-Id"] == requestID {
			return l
		}
	}
	return nil
}

// sttChunks cuts the stand-in's encoding of said into 200 ms chunks of one session, the last
// one marked end_of_stream.
func sttChunks(session, said string) []*jetflowv1.TranscribeRequest {
	pcm := standin.EncodeSpeech(said, sampleRate)
	const chunkBytes = sampleRate / 5 * 2
	var reqs []*jetflowv1.TranscribeRequest
	for seq := 0; len(pcm) > 0; seq++ {
		n := min(chunkBytes, len(pcm))
		reqs = append(reqs, &jetflowv1.TranscribeRequest{Chunk: &jetflowv1.SttAudioChunk{
			RequestId: fmt.Sprintf("%s-%d", session, seq), SessionId: session, Sequence: int64(seq), SampleRate: sampleRate, Pcm: pcm[:n],
			SpeakerId: "spk-" + session,
		}})
		pcm = pcm[n:]
	}
	n := int64(len(reqs))
	reqs = append(reqs, &jetflowv1.TranscribeRequest{Chunk: &jetflowv1.SttAudioChunk{
		RequestId: fmt.Sprintf("%s-end", session), SessionId: session, Sequence: n, SampleRate: sampleRate, EndOfStream: true,
		SpeakerId: "spk-" + session,
	}})
	return reqs
}

// Every RPC, through every protocol, against the running platform.
func TestEveryRPCOverEveryProtocol(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for _, c := range rpcCases {
		for _, p := range protocols {
			t.Run(c.name+"/"+string(p), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(h.p.Ctx, 30*time.Second)
				defer cancel()
				id := strings.NewReplacer("/", "-", ".", "-").Replace(strings.ToLower(c.name + "-" + string(p)))
				c.run(ctx, t, h, p, id)
			})
		}
	}
}
