package tts

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/audio/audiochunk"
	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
	"github.com/jetflow-dev/jetflow/internal/upstream/speech"
	"github.com/jetflow-dev/jetflow/internal/worker"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// speechServer answers /v1/audio/speech with audio, written in pieces as a real server streams.
func speechServer(t *testing.T, audio []byte, calls *atomic.Int64) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/audio/speech" {
			http.NotFound(w, r)
			return
		}
		calls.Add(1)
		var req struct {
			Input          string `json:"input"`
			ResponseFormat string `json:"response_format"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Input == "" {
			http.Error(w, `{"error":{"message":"input required"}}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "audio/pcm")
		for rest := audio; len(rest) > 0; {
			n := min(len(rest), 50000)
			if _, err := w.Write(rest[:n]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			rest = rest[n:]
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

type fixture struct {
	js  jetstream.JetStream
	ctx context.Context
}

func setup(t *testing.T, speechURL string) *fixture {
	t.Helper()
	p := testplatform.New(t)
	client, err := speech.New(modelhttp.Config{BaseURL: speechURL + "/v1", Model: "tts-1"})
	if err != nil {
		t.Fatal(err)
	}
	breakers := breaker.NewSet("tts", breaker.Settings{})
	st, err := worker.NewStage(p.JS, NewSynthesis(client, breakers, Config{Concurrency: 2}, p.NC.MaxPayload()).Spec())
	if err != nil {
		t.Fatal(err)
	}
	jstest.Run(t, p.Ctx, st.Run)
	return &fixture{js: p.JS, ctx: p.Ctx}
}

func (f *fixture) publish(t *testing.T, req *jetflowv1.TtsRequest) {
	t.Helper()
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.js.Publish(f.ctx, streams.SubjectTTSRequest, b); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) stored(t *testing.T, stream, subject string) []*jetstream.RawStreamMsg {
	t.Helper()
	return jstest.Stored(t, f.ctx, f.js, stream, subject)
}

func TestTwoMegabytesArriveAsOrderedChunksThatReassemble(t *testing.T) {
	audio := make([]byte, 2<<20)
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range audio {
		audio[i] = byte(rng.IntN(256))
	}
	var calls atomic.Int64
	f := setup(t, speechServer(t, audio, &calls).URL)
	f.publish(t, &jetflowv1.TtsRequest{RequestId: "big-1", Text: "a long answer"})

	subject := streams.ResultSubject(streams.ResultKindTTS, "big-1")
	var chunks []*jetflowv1.TtsAudioChunk
	jstest.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		chunks = chunks[:0]
		for _, m := range f.stored(t, streams.StreamResults, subject) {
			var c jetflowv1.TtsAudioChunk
			if err := proto.Unmarshal(m.Data, &c); err != nil {
				return err
			}
			if len(m.Data) > 1<<20 {
				t.Fatalf("a chunk message has %d bytes, above 1 MiB", len(m.Data))
			}
			chunks = append(chunks, &c)
		}
		if len(chunks) == 0 || !chunks[len(chunks)-1].GetLast() {
			return jstest.Errorf("%d chunks, last not seen yet", len(chunks))
		}
		return nil
	})
	if !sort.SliceIsSorted(chunks, func(i, j int) bool { return chunks[i].GetSequence() < chunks[j].GetSequence() }) {
		t.Fatal("chunks were stored out of order")
	}
	var got bytes.Buffer
	for i, c := range chunks {
		if int(c.GetSequence()) != i {
			t.Fatalf("chunk %d has sequence %d", i, c.GetSequence())
		}
		if c.GetLast() != (i == len(chunks)-1) {
			t.Fatalf("chunk %d last=%v", i, c.GetLast())
		}
		got.Write(c.GetAudio())
	}
	if !bytes.Equal(got.Bytes(), audio) {
		t.Fatalf("reassembled %d bytes differ from the %d synthesized", got.Len(), len(audio))
	}
	last := chunks[len(chunks)-1]
	if last.GetTotalBytes() != int64(len(audio)) || last.GetFormat().GetEncoding() != jetflowv1.AudioFormat_ENCODING_PCM16 || last.GetFormat().GetSampleRate() != 24000 {
		t.Fatalf("last chunk metadata: total %d format %v", last.GetTotalBytes(), last.GetFormat())
	}
	if len(chunks) < 3 {
		t.Fatalf("2 MiB in %d chunks: not split to fit 1 MiB messages", len(chunks))
	}
	if calls.Load() != 1 {
		t.Fatalf("speech server called %d times", calls.Load())
	}
}

func TestEmptyTextIsPermanent(t *testing.T) {
	var calls atomic.Int64
	f := setup(t, speechServer(t, []byte("x"), &calls).URL)
	f.publish(t, &jetflowv1.TtsRequest{RequestId: "empty-1", Text: ""})
	var dls []*jetstream.RawStreamMsg
	jstest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		dls = f.stored(t, streams.StreamDeadLetter, streams.DeadLetterSubject(streams.ConsumerTTS))
		if len(dls) != 1 {
			return jstest.Errorf("%d dead letters", len(dls))
		}
		return nil
	})
	h := dls[0].Header
	if h.Get(stage.HeaderErrorKind) != stage.KindPermanent || !strings.Contains(h.Get(stage.HeaderError), "text") || h.Get(stage.HeaderDeliveries) != "1" {
		t.Fatalf("dead letter headers: %v", h)
	}
	if calls.Load() != 0 {
		t.Fatal("the speech server was called for an empty text")
	}
}

func TestVoicesService(t *testing.T) {
	srv := jstest.Server(t)
	nc, _ := jstest.Connect(t, srv)
	voices, err := ParseVoices(DefaultVoices)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := NewVoicesService(nc, voices)
	if err != nil {
		t.Fatal(err)
	}
	jstest.Run(t, jstest.Context(t), svc.Run)
	var msgData []byte
	jstest.Eventually(t, 5*time.Second, 20*time.Millisecond, func() error {
		m, err := nc.Request(streams.SubjectTTSVoices, nil, time.Second)
		if err != nil {
			return err
		}
		msgData = m.Data
		return nil
	})
	var resp jetflowv1.ListVoicesResponse
	if err := proto.Unmarshal(msgData, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.GetVoices()) != 3 || resp.GetVoices()[0].GetId() != "alloy" || resp.GetVoices()[0].GetLanguage() != "en" {
		t.Fatalf("voices = %v", resp.GetVoices())
	}
	m, err := nc.RequestMsg(&nats.Msg{Subject: streams.SubjectTTSVoices, Header: nats.Header{"Content-Type": {"application/json"}}}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var fromJSON jetflowv1.ListVoicesResponse
	if err := protojson.Unmarshal(m.Data, &fromJSON); err != nil || len(fromJSON.GetVoices()) != 3 {
		t.Fatalf("JSON answer %s: %v", m.Data, err)
	}
}

func TestParseVoices(t *testing.T) {
	voice := func(id, language, name string) *jetflowv1.Voice {
		return &jetflowv1.Voice{Id: id, Language: language, Name: name}
	}
	tests := []struct {
		in   string
		want []*jetflowv1.Voice
		fail bool
	}{
		{in: "alloy", want: []*jetflowv1.Voice{voice("alloy", "", "alloy")}},
		{in: "a:en, b:de:Berta", want: []*jetflowv1.Voice{voice("a", "en", "a"), voice("b", "de", "Berta")}},
		{in: " x : fr : Xavier : the third ,, ", want: []*jetflowv1.Voice{voice("x", "fr", "Xavier : the third")}},
		{in: "a,a", fail: true},
		{in: " , ", fail: true},
		{in: ":en", fail: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, err := ParseVoices(tt.in)
			if (err != nil) != tt.fail || len(v) != len(tt.want) {
				t.Fatalf("ParseVoices(%q) = %v, %v", tt.in, v, err)
			}
			for i := range v {
				if !proto.Equal(v[i], tt.want[i]) {
					t.Errorf("voice %d = %v, want %v", i, v[i], tt.want[i])
				}
			}
		})
	}
}

func TestChunkBytesKeepSamplesWhole(t *testing.T) {
	tests := []struct {
		configured int
		maxPayload int64
		want       int
	}{
		{configured: 4001, maxPayload: 1 << 20, want: 4000},
		{configured: 0, maxPayload: 1 << 20, want: audiochunk.ChunkBytesFor(1<<20, 0)},
		{configured: 1 << 20, maxPayload: 1 << 20, want: audiochunk.ChunkBytesFor(1<<20, 0)},
	}
	for _, tt := range tests {
		if got := (Config{ChunkBytes: tt.configured}).withDefaults(tt.maxPayload).ChunkBytes; got != tt.want {
			t.Errorf("ChunkBytes %d with max payload %d became %d, want %d", tt.configured, tt.maxPayload, got, tt.want)
		}
	}
}
