package stt

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/internal/session"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/internal/upstream/transcribe"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// deliveries records the most deliveries any chunk needed.
type deliveries struct {
	mu  sync.Mutex
	max map[int64]uint64
}

func (d *deliveries) record(seq int64, n uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.max == nil {
		d.max = map[int64]uint64{}
	}
	d.max[seq] = max(d.max[seq], n)
}

func (d *deliveries) most() (seq int64, n uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for s, v := range d.max {
		if v > n {
			seq, n = s, v
		}
	}
	return seq, n
}

// 200 chunks in shuffled order with 10% duplicates, three replicas of two handlers each: every
// sentence comes out once, in order, and nothing is left pending or dead-lettered.
func TestShuffledChunksAcrossReplicasGiveEachSentenceOnceInOrder(t *testing.T) {
	h := newHarness(t)
	const total = 200
	full := silence(total * chunkDur)
	var said []string
	for _, s := range sentences {
		if len(speech(slices.Concat(said, []string{s})...)) > len(full) {
			break
		}
		said = append(said, s)
	}
	pcm := speech(said...)
	pcm = append(pcm, full[len(pcm):]...)
	chunks := chunked("shuffled", pcm)
	if len(chunks) != total {
		t.Fatalf("%d chunks, want %d", len(chunks), total)
	}
	chunks[total-1].EndOfStream = true

	seed := uint64(time.Now().UnixNano())
	t.Logf("shuffle seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 42))
	order := slices.Clone(chunks)
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	for range total / 10 {
		dup := chunks[rng.IntN(total)]
		at := rng.IntN(len(order) + 1)
		order = slices.Insert(order, at, dup)
	}

	cfg := testConfig()
	// Longer than publishing and the first delivery of every chunk take (about 1s under -race on
	// 2 cores, more when the machine is busy), so that no chunk is reported missing.
	cfg.GapTimeout = 5 * time.Second
	var seen deliveries
	h.replicas(3, cfg, nil, true, func(w *Worker) { w.onDelivery = seen.record })
	start := time.Now()
	for _, c := range order {
		h.publish(c)
	}

	got := h.waitTranscripts("shuffled", len(said), 30*time.Second)
	h.waitSettled(30 * time.Second)
	elapsed := time.Since(start)
	if !slices.Equal(texts(got), said) {
		t.Errorf("transcripts:\n got %q\nwant %q", texts(got), said)
	}
	for i, tr := range got {
		if tr.GetSegmentId() != int64(i) || len(tr.GetGaps()) != 0 || tr.GetLanguage() != "en-US" {
			t.Errorf("transcript %d: segment %d, gaps %v, language %q", i, tr.GetSegmentId(), tr.GetGaps(), tr.GetLanguage())
		}
		if i > 0 && tr.GetKind() == jetflowv1.Transcript_KIND_FINAL && tr.GetStart().AsDuration() < got[i-1].GetEnd().AsDuration() {
			t.Errorf("transcript %d starts at %v, before %d ends (%v)", i, tr.GetStart().AsDuration(), i-1, got[i-1].GetEnd().AsDuration())
		}
	}
	if dl := h.messages(streams.StreamDeadLetter, ""); len(dl) != 0 {
		t.Errorf("%d dead letters, first: %s", len(dl), dl[0].Header.Get(stage.HeaderError))
	}
	seq, most := seen.most()
	t.Logf("%d messages (%d duplicates) settled in %v; most deliveries of a chunk: %d (chunk %d)",
		len(order), len(order)-total, elapsed.Round(time.Millisecond), most, seq)
	if most > 3 {
		t.Errorf("chunk %d needed %d deliveries, want at most 3", seq, most)
	}
	// Nothing more comes later: the session is done and its outbox empty, and once a marker
	// session has gone through the stage and a sweeper, still no transcript was added.
	st := h.session("shuffled")
	if !st.Ended || len(st.Outbox) != 0 || len(st.Pending) != 0 || st.NextSeq != total {
		t.Errorf("session: ended %v, outbox %d, pending %d, next seq %d", st.Ended, len(st.Outbox), len(st.Pending), st.NextSeq)
	}
	h.marker("shuffled-marker", false)
	if n := len(h.transcripts("shuffled")); n != len(said) {
		t.Errorf("%d transcripts in the end, want %d", n, len(said))
	}
}

func (h *harness) store() *session.Store[sessionState] {
	h.t.Helper()
	store, err := newWorker(h.t, h.js, h.stt, testConfig()).sessions.Get(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return store
}

func (h *harness) session(id string) sessionState {
	h.t.Helper()
	e, err := h.store().Get(h.ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return e.Value
}

// A chunk that never arrives is reported in a GAP transcript after the gap timeout, carried on
// the next segment, and the session goes on.
func TestMissingChunkIsReportedAndSkipped(t *testing.T) {
	h := newHarness(t)
	cfg := testConfig()
	cfg.GapTimeout = 300 * time.Millisecond
	cfg.Concurrency = 1 // in order, so that only the missing chunk waits
	h.replicas(1, cfg, nil, false, nil)
	first := speech(sentences[0])
	chunks := chunked("gap", append(first, speech(sentences[1], sentences[2])...))
	// Late in the pause after the first sentence: its segment has closed by then.
	missing := int64(len(first)/len(silence(chunkDur))) - 3
	for _, c := range chunks {
		if c.GetSequence() != missing {
			h.publish(c)
		}
	}
	got := h.waitTranscripts("gap", 4, 20*time.Second)
	want := []string{sentences[0], "KIND_GAP", sentences[1], sentences[2]}
	if !slices.Equal(texts(got), want) {
		t.Fatalf("transcripts:\n got %q\nwant %q", texts(got), want)
	}
	gap := got[1]
	if len(gap.GetGaps()) != 1 || gap.GetGaps()[0].GetFirstMissing() != missing || gap.GetGaps()[0].GetLastMissing() != missing {
		t.Errorf("GAP transcript names %v, want [%d, %d]", gap.GetGaps(), missing, missing)
	}
	if gap.GetSegmentId() != 1 {
		t.Errorf("GAP transcript for segment %d, want 1 (the next one)", gap.GetSegmentId())
	}
	if g := got[2].GetGaps(); len(g) != 1 || g[0].GetFirstMissing() != missing {
		t.Errorf("segment after the gap carries gaps %v, want [%d, %d]", g, missing, missing)
	}
	if g := got[3].GetGaps(); len(g) != 0 {
		t.Errorf("later segment carries gaps %v, want none", g)
	}
	h.waitSettled(10 * time.Second)
	if dl := h.messages(streams.StreamDeadLetter, ""); len(dl) != 0 {
		t.Errorf("%d dead letters, first: %s", len(dl), dl[0].Header.Get(stage.HeaderError))
	}
}

// A session whose chunks stop while a segment is open gets that segment's transcript after the
// idle timeout, from the sweeper, in the encoding the session's chunks came in.
func TestIdleSessionIsClosedBySweeper(t *testing.T) {
	for _, asJSON := range []bool{false, true} {
		t.Run(map[bool]string{false: "protobuf", true: "protojson"}[asJSON], func(t *testing.T) {
			h := newHarness(t)
			cfg := testConfig()
			h.replicas(2, cfg, nil, true, nil)
			// The second sentence stops 100 ms after its tones: the VAD still hears a segment in
			// progress.
			second := standin.EncodeSpeech(sentences[1], testRate)
			pcm := append(speech(sentences[0]), second[:len(second)-len(silence(200*time.Millisecond))]...)
			chunks := chunked("idle", pcm)
			for _, c := range chunks {
				if asJSON {
					h.publishJSON(c)
				} else {
					h.publish(c)
				}
			}
			last := time.Now()
			got := h.waitTranscripts("idle", 2, 20*time.Second)
			if want := sentences[:2]; !slices.Equal(texts(got), want) {
				t.Fatalf("transcripts:\n got %q\nwant %q", texts(got), want)
			}
			if waited := time.Since(last); waited < cfg.VAD.IdleTimeout {
				t.Errorf("the open segment was closed %v after the last chunk, before the idle timeout %v", waited, cfg.VAD.IdleTimeout)
			}
			wantType := map[bool]string{false: "application/protobuf", true: "application/json"}[asJSON]
			for i, m := range h.messages(streams.StreamResults, streams.ResultSubject(streams.ResultKindSTT, "idle")) {
				if ct := m.Header.Get(stage.HeaderContentType); ct != wantType {
					t.Errorf("result %d has Content-Type %q, want %q like the chunks", i, ct, wantType)
				}
			}
			h.waitSettled(10 * time.Second)
		})
	}
}

// The sweeper publishes a result under the Nats-Msg-Id the stage gives it, so that a segment
// published by a handler and again by the sweeper (after a crash, or a lease that ran out) lands
// once.
func TestSweeperPublishesUnderTheStageIDs(t *testing.T) {
	h := newHarness(t)
	h.replicas(1, testConfig(), nil, false, nil) // no sweeper: the handlers publish
	for _, c := range chunked("ids", speech(sentences[0], sentences[1])) {
		h.publish(c)
	}
	got := h.waitTranscripts("ids", 2, 20*time.Second)
	h.waitSettled(10 * time.Second)
	publish := newWorker(t, h.js, h.stt, testConfig()).Sweeper().publisher(false)
	subject := streams.ResultSubject(streams.ResultKindSTT, "ids")
	for i, tr := range got {
		if err := publish(h.ctx, subject, tr, SegmentID("ids", int64(i))); err != nil {
			t.Fatalf("sweeper publishing segment %d: %v", i, err)
		}
	}
	stored := h.messages(streams.StreamResults, subject)
	if len(stored) != len(got) {
		t.Fatalf("%d results after the sweeper published the %d segments again, want %d: its ids differ from the stage's", len(stored), len(got), len(got))
	}
	for i, m := range stored {
		if id, want := m.Header.Get(jetstream.MsgIDHeader), StageName+":"+SegmentID("ids", int64(i)); id != want {
			t.Errorf("result %d has Nats-Msg-Id %q, want %q", i, id, want)
		}
	}
}

// A session whose chunks name no language gets, in its transcripts, the language the
// transcription server detected.
func TestDetectedLanguageIsReported(t *testing.T) {
	h := newHarness(t)
	h.replicas(1, testConfig(), nil, false, nil)
	for _, c := range chunked("detect", speech(sentences[2])) {
		c.Language = ""
		h.publish(c)
	}
	got := h.waitTranscripts("detect", 1, 20*time.Second)
	// The stand-in detects "en" in every audio, and reports it only in the verbose response.
	if texts(got)[0] != sentences[2] || got[0].GetLanguage() != "en" {
		t.Fatalf("transcript %q in language %q, want %q in \"en\"", texts(got)[0], got[0].GetLanguage(), sentences[2])
	}
	h.waitSettled(10 * time.Second)
}

// speaker_id is carried from the chunks to the transcripts of the segments they close, not
// interpreted: a chunk without one keeps the session's last label.
func TestSpeakerIDIsCarriedThrough(t *testing.T) {
	h := newHarness(t)
	h.replicas(1, testConfig(), nil, false, nil)
	var chunks []*jetflowv1.SttAudioChunk
	for i, speaker := range []string{"spk_a", "spk_b"} {
		for j, c := range chunked("speakers", speech(sentences[i])) {
			c.Sequence = int64(len(chunks))
			c.RequestId = "speakers-" + strconv.Itoa(len(chunks))
			if j == 0 || speaker == "spk_a" {
				c.SpeakerId = speaker // spk_b names itself on its first chunk only
			}
			chunks = append(chunks, c)
		}
	}
	for _, c := range chunks {
		h.publish(c)
	}
	got := h.waitTranscripts("speakers", 2, 20*time.Second)
	if !slices.Equal(texts(got), sentences[:2]) {
		t.Fatalf("transcripts %q, want %q", texts(got), sentences[:2])
	}
	for i, want := range []string{"spk_a", "spk_b"} {
		if sp := got[i].GetSpeakerId(); sp != want {
			t.Errorf("transcript %d (%q) has speaker_id %q, want %q", i, got[i].GetText(), sp, want)
		}
	}
	h.waitSettled(10 * time.Second)
}

// end_of_stream closes the open segment at once, and chunks after it are dropped.
func TestEndOfStreamClosesOpenSegment(t *testing.T) {
	h := newHarness(t)
	cfg := testConfig()
	cfg.VAD.IdleTimeout = time.Hour // only end_of_stream can close it
	cfg.Concurrency = 1             // the chunk after the end arrives after it, and is dropped at once
	h.replicas(1, cfg, nil, true, nil)
	tones := standin.EncodeSpeech(sentences[3], testRate)
	chunks := chunked("eos", tones[:len(tones)-len(silence(200*time.Millisecond))])
	n := int64(len(chunks))
	chunks = append(chunks,
		&jetflowv1.SttAudioChunk{RequestId: "eos-end", SessionId: "eos", Sequence: n, SampleRate: testRate, EndOfStream: true},
		&jetflowv1.SttAudioChunk{RequestId: "eos-late", SessionId: "eos", Sequence: n + 1, SampleRate: testRate, Pcm: standin.EncodeSpeech(sentences[4], testRate)},
	)
	for _, c := range chunks {
		h.publish(c)
	}
	h.waitTranscripts("eos", 1, 10*time.Second)
	h.waitSettled(10 * time.Second)
	// The marker is handled after the late chunk (one replica, one chunk at a time): whatever
	// the late chunk caused is out by then.
	h.marker("eos-marker", true)
	if got := h.transcripts("eos"); !slices.Equal(texts(got), sentences[3:4]) {
		t.Fatalf("transcripts %q, want %q", texts(got), sentences[3:4])
	}
	if dl := h.messages(streams.StreamDeadLetter, ""); len(dl) != 0 {
		t.Errorf("%d dead letters, first: %s", len(dl), dl[0].Header.Get(stage.HeaderError))
	}
}

// Malformed chunks are dead-lettered with a reason and leave the session alone.
func TestInvalidChunksAreDeadLettered(t *testing.T) {
	h := newHarness(t)
	h.replicas(1, testConfig(), nil, false, nil)
	good := func(id string, seq int64) *jetflowv1.SttAudioChunk {
		return &jetflowv1.SttAudioChunk{RequestId: id + "-" + strconv.FormatInt(seq, 10), SessionId: id, Sequence: seq, SampleRate: testRate, Pcm: silence(chunkDur)}
	}
	h.publish(good("rate", 0)) // fixes the session's rate
	jstest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		if e, err := h.store().Get(h.ctx, "rate"); err != nil || e.Value.NextSeq != 1 {
			return jstest.Errorf("first chunk not consumed yet")
		}
		return nil
	})
	tests := []struct {
		name    string
		subject string
		chunk   func(c *jetflowv1.SttAudioChunk)
		reason  string
	}{
		{"sample rate out of range", "", func(c *jetflowv1.SttAudioChunk) { c.SampleRate = 7999 }, "sample_rate: is 7999 Hz, must be 8000..48000"},
		{"sample rate above range", "", func(c *jetflowv1.SttAudioChunk) { c.SampleRate = 96000 }, "sample_rate: is 96000 Hz, must be 8000..48000"},
		{"sample rate differs from the session's", "", func(c *jetflowv1.SttAudioChunk) { c.SessionId, c.Sequence, c.SampleRate = "rate", 1, 16000 }, "chunk 1 at 16000 Hz: sample rate differs from the session's (8000 Hz)"},
		{"odd byte count", "", func(c *jetflowv1.SttAudioChunk) { c.Pcm = c.Pcm[:3] }, "pcm: has 3 bytes, PCM16 needs an even count"},
		{"negative sequence", "", func(c *jetflowv1.SttAudioChunk) { c.Sequence = -1 }, "sequence: is -1, must be >= 0"},
		{"audio without end of stream", "", func(c *jetflowv1.SttAudioChunk) { c.Pcm = nil }, "pcm: is required unless end_of_stream is set"},
		{"session differs from the subject", streams.STTAudioSubject("other"), func(*jetflowv1.SttAudioChunk) {}, "arrived on ai.stt.audio.other"},
	}
	// Each row's chunk carries its row's name in a header, which its dead letter keeps: a row
	// passes on its own letter only, not on another row's reason.
	const rowHeader = "Test-Row"
	for i, tt := range tests {
		c := good("bad"+strconv.Itoa(i), 0)
		tt.chunk(c)
		subject := tt.subject
		if subject == "" {
			subject = streams.STTAudioSubject(c.GetSessionId())
		}
		h.publishOn(subject, c, nats.Header{rowHeader: {tt.name}})
	}
	letters := map[string]*jetstream.RawStreamMsg{}
	jstest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		for _, m := range h.messages(streams.StreamDeadLetter, "") {
			if row := m.Header.Get(rowHeader); row != "" {
				letters[row] = m
			}
		}
		if len(letters) < len(tests) {
			return jstest.Errorf("%d dead letters, want %d", len(letters), len(tests))
		}
		return nil
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := letters[tt.name]
			if !ok {
				t.Fatalf("no dead letter of this row; dead letters of rows %q", slices.Sorted(maps.Keys(letters)))
			}
			if m.Subject != streams.DeadLetterSubject(StageName) || m.Header.Get(stage.HeaderErrorKind) != stage.KindPermanent {
				t.Errorf("dead letter on %s of kind %q", m.Subject, m.Header.Get(stage.HeaderErrorKind))
			}
			if reason := m.Header.Get(stage.HeaderError); !strings.Contains(reason, tt.reason) {
				t.Errorf("dead letter says %q, want %q in it", reason, tt.reason)
			}
		})
	}
	if st := h.session("rate"); st.SampleRate != testRate || st.NextSeq != 1 {
		t.Errorf("session rate: sample rate %d, next seq %d; want %d and 1", st.SampleRate, st.NextSeq, testRate)
	}
	h.waitSettled(10 * time.Second)
}

// flaky fails the first transcription with a retryable error, as a server restarting would.
type flaky struct {
	next  transcribe.Transcriber
	calls atomic.Int64
}

func (f *flaky) Transcribe(ctx context.Context, req transcribe.Request) (transcribe.Result, error) {
	if f.calls.Add(1) == 1 {
		return transcribe.Result{}, errors.New("connection reset by peer")
	}
	return f.next.Transcribe(ctx, req)
}

// A segment closed but not published because of a failure (a transcription error, or a crash
// between publishing and removing it from the session) still gives exactly one transcript.
func TestUnpublishedSegmentIsPublishedOnce(t *testing.T) {
	tests := []struct {
		name  string
		flaky bool
		crash bool
	}{
		{name: "transcription fails once", flaky: true},
		{name: "crash after publishing, before removing", crash: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			var tr transcribe.Transcriber = h.stt
			f := &flaky{next: h.stt}
			if tt.flaky {
				tr = f
			}
			var crashed atomic.Bool
			cfg := testConfig()
			cfg.PublishLease = time.Second // the crashed publisher's lease runs out, then the sweeper takes over
			h.replicas(1, cfg, tr, true, func(w *Worker) {
				if tt.crash {
					w.crashAfterPublish = func() bool { return crashed.CompareAndSwap(false, true) }
				}
			})
			for _, c := range chunked("once", speech(sentences[5], sentences[6])) {
				h.publish(c)
			}
			h.waitTranscripts("once", 2, 20*time.Second)
			h.waitSettled(10 * time.Second)
			jstest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
				if st := h.session("once"); len(st.Outbox) > 0 || st.Lease != nil {
					return jstest.Errorf("outbox %d, lease %v", len(st.Outbox), st.Lease)
				}
				return nil
			})
			if got := h.transcripts("once"); !slices.Equal(texts(got), sentences[5:7]) {
				t.Errorf("transcripts %q, want %q", texts(got), sentences[5:7])
			}
			// Handler and sweeper publish a segment under the same id, so the second copy was dropped.
			for i, m := range h.messages(streams.StreamResults, streams.ResultSubject(streams.ResultKindSTT, "once")) {
				if id, want := m.Header.Get(jetstream.MsgIDHeader), StageName+":"+SegmentID("once", int64(i)); id != want {
					t.Errorf("result %d has Nats-Msg-Id %q, want %q", i, id, want)
				}
			}
			if tt.flaky && f.calls.Load() < 3 {
				t.Errorf("%d transcription calls, want the failed one and two more", f.calls.Load())
			}
			if tt.crash && !crashed.Load() {
				t.Error("the crash hook never ran")
			}
			if dl := h.messages(streams.StreamDeadLetter, ""); len(dl) != 0 {
				t.Errorf("%d dead letters, first: %s", len(dl), dl[0].Header.Get(stage.HeaderError))
			}
		})
	}
}
