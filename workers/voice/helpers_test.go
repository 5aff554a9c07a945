package voice

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/rag"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/internal/upstream/embedding"
	"github.com/jetflow-dev/jetflow/internal/upstream/llm"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
	"github.com/jetflow-dev/jetflow/internal/upstream/rerank"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval"
	"github.com/jetflow-dev/jetflow/internal/upstream/speech"
	"github.com/jetflow-dev/jetflow/internal/upstream/transcribe"
	"github.com/jetflow-dev/jetflow/internal/worker"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// sampleRate is the rate of the spoken questions and of the stand-in TTS's output.
const sampleRate = 16000

// Routes of the stand-in, as its Stats name them and as the wrapper sees their paths.
const (
	pathLLM  = "/v1/chat/completions"
	pathSTT  = "/v1/audio/transcriptions"
	pathTTS  = "/v1/audio/speech"
	routeLLM = "POST " + pathLLM
	routeSTT = "POST " + pathSTT
	routeTTS = "POST " + pathTTS
)

var corpus = []retrieval.Record{
	{ID: "keda", Text: "KEDA scales each worker on its consumer lag. It reads num_pending and num_ack_pending from the NATS monitoring endpoint."},
	{ID: "milvus", Text: "Milvus stores the document vectors. The chat worker searches it for the nearest passages."},
	{ID: "ray", Text: "Ray Serve hosts the model servers. Each app is mounted under its own route prefix."},
	{ID: "jetstream", Text: "JetStream keeps every stage's messages durable. A message is acked only after its output is published."},
}

// gate holds one call of a route until it is released or the client gives up.
type gate struct {
	call      int
	entered   chan struct{} // closed when the held call arrives
	release   chan struct{} // closed to let it through to the stand-in
	cancelled chan struct{} // closed when the client cancelled the held call
	once      sync.Once
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

// models is the stand-in model server behind a wrapper that records every request body per
// path and can hold a chosen call.
type models struct {
	standin *standin.Server
	url     string

	mu     sync.Mutex
	bodies map[string][][]byte
	gates  map[string]*gate
}

func (m *models) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	m.mu.Lock()
	m.bodies[r.URL.Path] = append(m.bodies[r.URL.Path], body)
	n := len(m.bodies[r.URL.Path])
	g := m.gates[r.URL.Path]
	m.mu.Unlock()
	if g != nil && g.call == n {
		close(g.entered)
		select {
		case <-r.Context().Done():
			close(g.cancelled)
			return
		case <-g.release:
		}
	}
	m.standin.ServeHTTP(w, r)
}

// hold holds the call-th request of path (1-based).
func (m *models) hold(path string, call int) *gate {
	g := &gate{call: call, entered: make(chan struct{}), release: make(chan struct{}), cancelled: make(chan struct{})}
	m.mu.Lock()
	m.gates[path] = g
	m.mu.Unlock()
	return g
}

// releaseAll lets every held call through, so that servers and workers can stop.
func (m *models) releaseAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, g := range m.gates {
		g.open()
	}
}

func (m *models) body(path string, call int) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if call > len(m.bodies[path]) {
		return nil
	}
	return m.bodies[path][call-1]
}

func (m *models) calls(route string) int64 { return m.standin.Stats().Calls[route] }

// platform is a real JetStream server with the streams applied and the stand-in models.
type platform struct {
	tp     *testplatform.Platform
	js     jetstream.JetStream
	ctx    context.Context
	models *models
}

func newPlatform(t *testing.T) *platform {
	t.Helper()
	tp := testplatform.New(t)
	p := &platform{tp: tp, js: tp.JS, ctx: tp.Ctx}
	sm, err := standin.New(standin.Config{SampleRate: sampleRate}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.models = &models{standin: sm, bodies: map[string][][]byte{}, gates: map[string]*gate{}}
	hs := httptest.NewServer(p.models)
	t.Cleanup(func() {
		p.models.releaseAll()
		hs.Close()
	})
	p.models.url = hs.URL
	return p
}

func testLogger() *slog.Logger {
	if os.Getenv("VOICE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// runBuild runs voice-assistant through its own wiring (Build) with worker.Run.
func (p *platform) runBuild(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	var lines bytes.Buffer
	for _, r := range corpus {
		b, err := json.Marshal(map[string]string{"id": r.ID, "text": r.Text})
		if err != nil {
			t.Fatal(err)
		}
		lines.Write(append(b, '\n'))
	}
	corpusFile := filepath.Join(dir, "corpus.jsonl")
	if err := os.WriteFile(corpusFile, lines.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	url := p.models.url
	env := envconfig.Map(map[string]string{
		"NATS_URL":           p.tp.URL(),
		"HEALTH_ADDR":        "127.0.0.1:0", // any free port: the test does not call it
		"STT_URL":            url + "/v1",
		"TTS_URL":            url + "/v1",
		"LLM_URL":            url + "/v1",
		"EMBEDDINGS_URL":     url + "/v1",
		"RERANKER_URL":       url,
		"RAG_CORPUS":         corpusFile,
		"RAG_TOP_K":          "2",
		"TTS_SAMPLE_RATE":    "16000",
		"TTS_CHUNK_BYTES":    "16384",
		"VOICE_GRACE_PERIOD": "2s",
	})
	jstest.Run(t, p.ctx, func(ctx context.Context) error {
		return worker.Run(ctx, "voice-assistant", env, testLogger(), Build)
	})
	t.Cleanup(p.models.releaseAll) // before the worker stops: held calls end
}

// process is some of the stages running on a connection of their own, as a separate process
// would: closing the connection is that process crashing.
type process struct {
	nc   *nats.Conn
	stop func() // stops the runners and waits for them
}

// start runs the named stages and a turn registry through New, with their own connection and
// clients.
func (p *platform) start(t *testing.T, stages ...string) *process {
	t.Helper()
	nc, js := jstest.Connect(t, p.tp.Server)
	breakers := Breakers{
		Transcribe: breaker.NewSet(StageTranscribe, breaker.Settings{}),
		Answer:     breaker.NewSet(StageAnswer, breaker.Settings{}),
		Synthesize: breaker.NewSet(StageSynthesize, breaker.Settings{}),
	}
	w, err := New(js, p.clients(t), breakers, Config{SampleRate: sampleRate, ChunkBytes: 16384, GracePeriod: time.Second}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	specs, err := w.Specs(stages...)
	if err != nil {
		t.Fatal(err)
	}
	runners := []worker.Runner{w.Turns()}
	for _, spec := range specs {
		st, err := worker.NewStage(js, spec)
		if err != nil {
			t.Fatal(err)
		}
		runners = append(runners, st)
	}
	// One context for the process, so that its runners stop together, as a process's do.
	ctx, cancel := context.WithCancel(p.ctx)
	stops := make([]func() error, 0, len(runners))
	for _, r := range runners {
		stops = append(stops, jstest.Run(t, ctx, r.Run))
	}
	proc := &process{nc: nc, stop: func() {
		cancel()
		for _, stop := range stops {
			_ = stop() // an error is reported at cleanup
		}
	}}
	t.Cleanup(func() {
		p.models.releaseAll()
		proc.stop()
	})
	return proc
}

// clients are model clients on the stand-in, with the corpus embedded by it in memory.
func (p *platform) clients(t *testing.T) Clients {
	t.Helper()
	url := p.models.url
	emb, err := embedding.New(embedding.Config{HTTP: modelhttp.Config{BaseURL: url + "/v1"}})
	if err != nil {
		t.Fatal(err)
	}
	texts := make([]string, len(corpus))
	for i, r := range corpus {
		texts[i] = r.Text
	}
	vectors, err := emb.Embed(p.ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	records := make([]retrieval.Record, len(corpus))
	for i, r := range corpus {
		r.Vector = vectors[i]
		records[i] = r
	}
	mem, err := retrieval.NewMemory(records)
	if err != nil {
		t.Fatal(err)
	}
	rr, err := rerank.New(rerank.Config{HTTP: modelhttp.Config{BaseURL: url}})
	if err != nil {
		t.Fatal(err)
	}
	lc, err := llm.New(modelhttp.Config{BaseURL: url + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	stt, err := transcribe.New(modelhttp.Config{BaseURL: url + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := speech.New(modelhttp.Config{BaseURL: url + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	return Clients{STT: stt, RAG: rag.New(emb, mem, rr, lc, rag.Config{TopK: 2}), TTS: sp}
}

// spoken is a VoiceRequest asking question aloud, as PCM16.
func spoken(requestID, sessionID, question string) *jetflowv1.VoiceRequest {
	return &jetflowv1.VoiceRequest{
		RequestId: requestID, SessionId: sessionID, Audio: standin.EncodeSpeech(question, sampleRate),
		Format: &jetflowv1.AudioFormat{Encoding: jetflowv1.AudioFormat_ENCODING_PCM16, SampleRate: sampleRate, Channels: 1},
	}
}

func (p *platform) ask(t *testing.T, req *jetflowv1.VoiceRequest) {
	t.Helper()
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.js.PublishMsg(p.ctx, &nats.Msg{Subject: streams.SubjectVoiceRequest, Data: b,
		Header: nats.Header{jetstream.MsgIDHeader: {req.GetRequestId()}}}); err != nil {
		t.Fatal(err)
	}
}

// requeue publishes msg on subject as the stage runtime requeues a message whose work met an
// open breaker: a copy naming the AI_VOICE sequence the original was published at and the
// attempts made so far (internal/stage's requeue).
func (p *platform) requeue(t *testing.T, subject string, msg proto.Message, originalSeq, attempts uint64) {
	t.Helper()
	b, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	origin := streams.StreamVoice + ":" + strconv.FormatUint(originalSeq, 10)
	h := nats.Header{}
	h.Set(stage.HeaderRequeuedFrom, origin)
	h.Set(stage.HeaderAttempts, strconv.FormatUint(attempts, 10))
	h.Set(jetstream.MsgIDHeader, "requeue:"+origin)
	if _, err := p.js.PublishMsg(p.ctx, &nats.Msg{Subject: subject, Header: h, Data: b}); err != nil {
		t.Fatal(err)
	}
}

// stored returns the messages of a stream, oldest first, whose subject is subject ("" for all).
func (p *platform) stored(t *testing.T, stream, subject string) []*jetstream.RawStreamMsg {
	t.Helper()
	return jstest.Stored(t, p.ctx, p.js, stream, subject)
}

var (
	typeResponse = string(proto.MessageName(&jetflowv1.VoiceResponse{}))
	typeChunk    = string(proto.MessageName(&jetflowv1.TtsAudioChunk{}))
)

// outcome is what AI_RESULTS holds for one request.
type outcome struct {
	responses []*jetflowv1.VoiceResponse
	chunks    []*jetflowv1.TtsAudioChunk
}

func (p *platform) outcome(t *testing.T, requestID string) outcome {
	t.Helper()
	var o outcome
	for _, m := range p.stored(t, streams.StreamResults, streams.ResultSubject(streams.ResultKindVoice, requestID)) {
		switch m.Header.Get(stage.HeaderType) {
		case typeResponse:
			var r jetflowv1.VoiceResponse
			if err := proto.Unmarshal(m.Data, &r); err != nil {
				t.Fatal(err)
			}
			o.responses = append(o.responses, &r)
		case typeChunk:
			var c jetflowv1.TtsAudioChunk
			if err := proto.Unmarshal(m.Data, &c); err != nil {
				t.Fatal(err)
			}
			o.chunks = append(o.chunks, &c)
		default:
			t.Fatalf("unexpected %q on %s", m.Header.Get(stage.HeaderType), m.Subject)
		}
	}
	return o
}

// response waits for the VoiceResponse of a request and returns it with its audio chunks.
func (p *platform) response(t *testing.T, requestID string) (*jetflowv1.VoiceResponse, []*jetflowv1.TtsAudioChunk) {
	t.Helper()
	var o outcome
	jstest.Eventually(t, 20*time.Second, 20*time.Millisecond, func() error {
		o = p.outcome(t, requestID)
		if len(o.responses) == 0 {
			return fmt.Errorf("no response to %s yet", requestID)
		}
		return nil
	})
	sort.Slice(o.chunks, func(i, j int) bool { return o.chunks[i].GetSequence() < o.chunks[j].GetSequence() })
	return o.responses[0], o.chunks
}

// settled waits until the voice consumers have nothing pending or unacknowledged.
func (p *platform) settled(t *testing.T) {
	t.Helper()
	jstest.Eventually(t, 20*time.Second, 20*time.Millisecond, func() error {
		for _, name := range AllStages {
			c, err := p.js.Consumer(p.ctx, streams.StreamVoice, name)
			if err != nil {
				return err
			}
			info, err := c.Info(p.ctx)
			if err != nil {
				return err
			}
			if info.NumPending+uint64(info.NumAckPending) > 0 {
				return fmt.Errorf("%s: %d pending, %d unacknowledged", name, info.NumPending, info.NumAckPending)
			}
		}
		return nil
	})
}

// session reads a voice session as stored.
func (p *platform) session(t *testing.T, id string) sessionState {
	t.Helper()
	kv, err := p.js.KeyValue(p.ctx, streams.BucketVoiceSessions)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(p.ctx, id)
	if err != nil {
		t.Fatalf("reading session %s: %v", id, err)
	}
	var s sessionState
	if err := json.Unmarshal(e.Value(), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// waitFor waits for ch to close.
func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// prompt is the messages of a chat completion request body.
func prompt(t *testing.T, body []byte) []llm.Message {
	t.Helper()
	var req struct {
		Messages []llm.Message `json:"messages"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatalf("chat request body: %v", err)
	}
	return req.Messages
}

// audio reassembles chunks in sequence order and checks their framing.
func audio(t *testing.T, chunks []*jetflowv1.TtsAudioChunk, turnID string) []byte {
	t.Helper()
	var pcm []byte
	for i, c := range chunks {
		if int(c.GetSequence()) != i {
			t.Fatalf("chunk %d has sequence %d", i, c.GetSequence())
		}
		if c.GetTurnId() != turnID {
			t.Fatalf("chunk %d has turn %q, want %q", i, c.GetTurnId(), turnID)
		}
		if last := i == len(chunks)-1; c.GetLast() != last {
			t.Fatalf("chunk %d of %d has last=%v", i, len(chunks), c.GetLast())
		}
		pcm = append(pcm, c.GetAudio()...)
	}
	if n := len(chunks); n > 0 && chunks[n-1].GetTotalBytes() != int64(len(pcm)) {
		t.Fatalf("total_bytes %d, reassembled %d", chunks[n-1].GetTotalBytes(), len(pcm))
	}
	return pcm
}
