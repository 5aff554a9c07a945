package stt

import (
	"context"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/audio/vad"
	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
	"github.com/jetflow-dev/jetflow/internal/upstream/transcribe"
	"github.com/jetflow-dev/jetflow/internal/worker"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// The tests' audio: stand-in speech at 8 kHz (the codec's lowest rate, so the least data), cut
// into 100 ms chunks.
const (
	testRate = 8000
	chunkDur = 100 * time.Millisecond
	pause    = 800 * time.Millisecond
)

var sentences = []string{
	"the quick brown fox jumps",
	"over the lazy sleeping dog",
	"streams keep every chunk",
	"replicas race on one key",
	"compare and swap decides",
	"silence closes a segment",
	"gaps wait for a while",
	"whisper hears the tones",
	"results land exactly once",
	"the session ends here",
}

// testVAD is short so that segments close quickly: 300 ms of silence ends one, and the stand-in
// speech has 300 ms of silence on either side of the tones.
func testVAD() vad.Config {
	return vad.Config{
		Frame:       20 * time.Millisecond,
		MinSpeech:   100 * time.Millisecond,
		MinSilence:  300 * time.Millisecond,
		PostRoll:    100 * time.Millisecond,
		PreRoll:     200 * time.Millisecond,
		MaxSegment:  10 * time.Second,
		IdleTimeout: 500 * time.Millisecond,
	}
}

func testConfig() Config {
	return Config{
		Concurrency:   2,
		GapTimeout:    2 * time.Second, // chunks published in a burst and handled at once reorder a lot
		SweepInterval: 250 * time.Millisecond,
		PublishLease:  5 * time.Second,
		VAD:           testVAD(),
		Backoff:       []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, time.Second},
		GracePeriod:   5 * time.Second,
	}
}

func silence(d time.Duration) []byte {
	return make([]byte, 2*int(int64(d)*testRate/int64(time.Second)))
}

// speech is the sentences as stand-in speech, each followed by a pause.
func speech(texts ...string) []byte {
	var pcm []byte
	for _, s := range texts {
		pcm = append(pcm, standin.EncodeSpeech(s, testRate)...)
		pcm = append(pcm, silence(pause)...)
	}
	return pcm
}

// chunked cuts pcm into chunks of session id, sequenced from 0; the last one may be shorter.
func chunked(id string, pcm []byte) []*jetflowv1.SttAudioChunk {
	size := len(silence(chunkDur))
	var out []*jetflowv1.SttAudioChunk
	for seq := 0; len(pcm) > 0; seq++ {
		n := min(size, len(pcm))
		out = append(out, &jetflowv1.SttAudioChunk{
			RequestId:  id + "-" + strconv.Itoa(seq),
			SessionId:  id,
			Sequence:   int64(seq),
			Pcm:        pcm[:n],
			SampleRate: testRate,
			Language:   "en-US",
		})
		pcm = pcm[n:]
	}
	return out
}

// harness is one test's platform: a real JetStream with every stream, consumer and bucket
// applied, and the stand-in transcription server over HTTP.
type harness struct {
	t      *testing.T
	p      *testplatform.Platform
	js     jetstream.JetStream
	ctx    context.Context
	models *standin.Server
	stt    *transcribe.Client
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	p := testplatform.New(t)
	models, err := standin.New(standin.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(models)
	t.Cleanup(ts.Close)
	client, err := transcribe.New(modelhttp.Config{BaseURL: ts.URL + "/v1", Model: standin.ModelSTT, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, p: p, js: p.JS, ctx: p.Ctx, models: models, stt: client}
}

// replicas runs n replicas of the worker, each on its own connection with its own stage and,
// if sweep is set, its own sweeper. tune runs on each worker before it starts (test hooks).
// They stop at the end of the test.
func (h *harness) replicas(n int, cfg Config, tr transcribe.Transcriber, sweep bool, tune func(*Worker)) {
	h.t.Helper()
	if tr == nil {
		tr = h.stt
	}
	for range n {
		_, js := jstest.Connect(h.t, h.p.Server)
		w := newWorker(h.t, js, tr, cfg)
		if tune != nil {
			tune(w)
		}
		st, err := worker.NewStage(js, w.Spec())
		if err != nil {
			h.t.Fatal(err)
		}
		jstest.Run(h.t, h.ctx, st.Run)
		if sweep {
			jstest.Run(h.t, h.ctx, w.Sweeper().Run)
		}
	}
}

// newWorker is New as the tests run it: breakers of the default settings, no logs.
func newWorker(t *testing.T, js jetstream.JetStream, tr transcribe.Transcriber, cfg Config) *Worker {
	t.Helper()
	w, err := New(js, tr, breaker.NewSet(StageName, breaker.Settings{}), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (h *harness) publish(c *jetflowv1.SttAudioChunk) {
	h.t.Helper()
	h.publishOn(streams.STTAudioSubject(c.GetSessionId()), c, nil)
}

// publishOn publishes c on subject with header (nil for none); a dead letter keeps the header,
// so a test tells its dead letters apart by it.
func (h *harness) publishOn(subject string, c *jetflowv1.SttAudioChunk, header nats.Header) {
	h.t.Helper()
	data, err := proto.Marshal(c)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.js.PublishMsg(h.ctx, &nats.Msg{Subject: subject, Data: data, Header: header}); err != nil {
		h.t.Fatalf("publishing chunk %d: %v", c.GetSequence(), err)
	}
}

// publishJSON publishes a chunk as protojson, as a client driving the session in JSON does.
func (h *harness) publishJSON(c *jetflowv1.SttAudioChunk) {
	h.t.Helper()
	data, err := protojson.Marshal(c)
	if err != nil {
		h.t.Fatal(err)
	}
	msg := &nats.Msg{Subject: streams.STTAudioSubject(c.GetSessionId()), Data: data, Header: nats.Header{}}
	msg.Header.Set(stage.HeaderContentType, "application/json")
	if _, err := h.js.PublishMsg(h.ctx, msg); err != nil {
		h.t.Fatalf("publishing chunk %d: %v", c.GetSequence(), err)
	}
}

// messages returns every message of a stream on subject (all subjects when empty), in order.
func (h *harness) messages(stream, subject string) []*jetstream.RawStreamMsg {
	h.t.Helper()
	return jstest.Stored(h.t, h.ctx, h.js, stream, subject)
}

// transcripts returns the results of a session, in stream order.
func (h *harness) transcripts(id string) []*jetflowv1.Transcript {
	h.t.Helper()
	var out []*jetflowv1.Transcript
	for _, m := range h.messages(streams.StreamResults, streams.ResultSubject(streams.ResultKindSTT, id)) {
		t := &jetflowv1.Transcript{}
		if err := stage.Decode(m.Header, m.Data, t); err != nil {
			h.t.Fatalf("result at %d: %v", m.Sequence, err)
		}
		out = append(out, t)
	}
	return out
}

// waitTranscripts waits until the session has n results and returns them.
func (h *harness) waitTranscripts(id string, n int, within time.Duration) []*jetflowv1.Transcript {
	h.t.Helper()
	var got []*jetflowv1.Transcript
	jstest.Eventually(h.t, within, 20*time.Millisecond, func() error {
		got = h.transcripts(id)
		if len(got) < n {
			return jstest.Errorf("%d results, want %d", len(got), n)
		}
		return nil
	})
	return got
}

// waitSettled waits until the consumer holds nothing: every chunk acked or dead-lettered.
func (h *harness) waitSettled(within time.Duration) *jetstream.ConsumerInfo {
	h.t.Helper()
	var info *jetstream.ConsumerInfo
	jstest.Eventually(h.t, within, 50*time.Millisecond, func() error {
		c, err := h.js.Consumer(h.ctx, streams.StreamSTT, streams.ConsumerSTT)
		if err != nil {
			return err
		}
		if info, err = c.Info(h.ctx); err != nil {
			return err
		}
		if info.NumPending != 0 || info.NumAckPending != 0 {
			return jstest.Errorf("consumer has %d pending and %d unacknowledged", info.NumPending, info.NumAckPending)
		}
		return nil
	})
	return info
}

// marker publishes session id, one sentence long, and waits for its transcript: once it is
// out, what the test published before it has had every effect it will have. With endOfStream
// the last chunk ends the stream and the stage closes the segment; without, the audio stops
// while the VAD still hears speech, so only a sweeper's pass after the idle timeout closes it.
func (h *harness) marker(id string, endOfStream bool) {
	h.t.Helper()
	tones := standin.EncodeSpeech(sentences[9], testRate)
	chunks := chunked(id, tones[:len(tones)-len(silence(200*time.Millisecond))])
	if endOfStream {
		chunks = append(chunks, &jetflowv1.SttAudioChunk{
			RequestId: id + "-end", SessionId: id, Sequence: int64(len(chunks)), SampleRate: testRate, EndOfStream: true,
		})
	}
	for _, c := range chunks {
		h.publish(c)
	}
	if got := h.waitTranscripts(id, 1, 20*time.Second); texts(got)[0] != sentences[9] {
		h.t.Fatalf("marker %s transcribed as %q, want %q", id, texts(got), sentences[9])
	}
}

// texts lists the kind and text of each result, for comparing.
func texts(ts []*jetflowv1.Transcript) []string {
	var out []string
	for _, t := range ts {
		switch t.GetKind() {
		case jetflowv1.Transcript_KIND_FINAL:
			out = append(out, t.GetText())
		default:
			out = append(out, t.GetKind().String())
		}
	}
	return out
}
