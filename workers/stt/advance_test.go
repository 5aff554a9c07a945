package stt

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/audio/vad"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/internal/failure"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

// testWorker is a worker for the pure session logic: no connection is ever used.
func testWorker() *Worker {
	return &Worker{cfg: testConfig().withDefaults(), log: slog.New(slog.DiscardHandler)}
}

func chunkAt(seq int64) *jetflowv1.SttAudioChunk {
	return &jetflowv1.SttAudioChunk{RequestId: "r", SessionId: "s", Sequence: seq, SampleRate: testRate, Pcm: silence(chunkDur)}
}

// streamSeq is where the tests pretend chunk seq is stored: 100 + seq.
func streamSeq(seq int64) uint64 { return uint64(100 + seq) }

// fresh returns a session that has consumed chunks 0..next-1 of silence.
func fresh(t *testing.T, w *Worker, next int64) sessionState {
	t.Helper()
	var st sessionState
	for seq := range next {
		if _, err := w.arrive(&st, seq > 0, "s", chunkAt(seq), streamSeq(seq), time.Now(), chunkCache{}, "t"); err != nil {
			t.Fatal(err)
		}
	}
	if next == 0 {
		det, err := w.detector(testRate)
		if err != nil {
			t.Fatal(err)
		}
		st = sessionState{SampleRate: testRate, VAD: det.State()}
	}
	return st
}

func TestArrive(t *testing.T) {
	now := time.Now()
	gap := testConfig().GapTimeout
	pending := func(seqs ...int64) func(*sessionState, time.Duration) {
		return func(st *sessionState, ago time.Duration) {
			st.Pending = map[int64]pendingChunk{}
			for _, s := range seqs {
				st.Pending[s] = pendingChunk{StreamSeq: streamSeq(s), Arrived: now.Add(-ago).UnixMilli()}
			}
		}
	}
	tests := []struct {
		name      string
		next      int64                              // chunks consumed before
		setup     func(*sessionState, time.Duration) // pending chunks, arrived ago
		ago       time.Duration
		cached    []int64 // pending chunks already read back; -seq means gone from the stream
		chunk     *jetflowv1.SttAudioChunk
		outcome   outcome
		changed   bool
		nextSeq   int64
		gaps      []seqGap
		wait      time.Duration
		needReads int // a *needChunksError listing that many chunks
	}{
		{name: "first chunk starts the session", chunk: chunkAt(0), outcome: outcomeConsumed, changed: true, nextSeq: 1},
		{name: "duplicate writes nothing", next: 3, chunk: chunkAt(1), outcome: outcomeDuplicate, nextSeq: 3},
		{name: "ahead chunk waits for the rest of the gap", next: 1, setup: pending(2), ago: 500 * time.Millisecond, chunk: chunkAt(3),
			outcome: outcomeWaiting, changed: true, nextSeq: 1, wait: gap - 500*time.Millisecond},
		{name: "waiting chunk back early writes nothing", next: 1, setup: pending(3), ago: 500 * time.Millisecond, chunk: chunkAt(3),
			outcome: outcomeWaiting, nextSeq: 1, wait: gap - 500*time.Millisecond},
		{name: "first ahead chunk waits the whole gap timeout", next: 1, chunk: chunkAt(4), outcome: outcomeWaiting, changed: true, nextSeq: 1, wait: gap},
		{name: "missing chunk consumes the pending ones after it", next: 1, setup: pending(2, 3), ago: time.Second, cached: []int64{2, 3}, chunk: chunkAt(1),
			outcome: outcomeConsumed, changed: true, nextSeq: 4},
		{name: "pending chunks not read yet are asked for", next: 1, setup: pending(2, 3, 5), ago: time.Second, chunk: chunkAt(1), needReads: 2},
		{name: "timed-out gap is skipped", next: 1, setup: pending(3), ago: gap + time.Millisecond, cached: []int64{3}, chunk: chunkAt(4),
			outcome: outcomeConsumed, changed: true, nextSeq: 5, gaps: []seqGap{{1, 2}}},
		{name: "timed-out gaps are skipped one after another", next: 0, setup: pending(2, 5), ago: 2 * gap, cached: []int64{2, 5}, chunk: chunkAt(7),
			outcome: outcomeWaiting, changed: true, nextSeq: 6, gaps: []seqGap{{0, 1}, {3, 4}}, wait: gap}, // 6 is known missing only since 7 arrived
		{name: "pending entry below next, from an edited value, is dropped", next: 3, setup: pending(1, 5), ago: 2 * gap, cached: []int64{5}, chunk: chunkAt(6),
			outcome: outcomeConsumed, changed: true, nextSeq: 7, gaps: []seqGap{{3, 4}}},
		{name: "chunk gone from the stream is a gap", next: 1, setup: pending(2), ago: time.Second, cached: []int64{-2}, chunk: chunkAt(1),
			outcome: outcomeConsumed, changed: true, nextSeq: 3, gaps: []seqGap{{2, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := testWorker()
			st := fresh(t, w, tt.next)
			if tt.setup != nil {
				tt.setup(&st, tt.ago)
			}
			cache := chunkCache{}
			for _, s := range tt.cached {
				if s < 0 {
					cache[streamSeq(-s)] = nil
				} else {
					cache[streamSeq(s)] = chunkAt(s)
				}
			}
			res, err := w.arrive(&st, true, "s", tt.chunk, streamSeq(tt.chunk.GetSequence()), now, cache, "t")
			if tt.needReads > 0 {
				var need *needChunksError
				if !errors.As(err, &need) || len(need.streamSeqs) != tt.needReads {
					t.Fatalf("error %v, want a request to read %d chunks", err, tt.needReads)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.outcome != tt.outcome || res.changed != tt.changed || st.NextSeq != tt.nextSeq {
				t.Errorf("outcome %d changed %v next %d, want %d %v %d", res.outcome, res.changed, st.NextSeq, tt.outcome, tt.changed, tt.nextSeq)
			}
			if len(res.gaps) != len(tt.gaps) {
				t.Fatalf("gaps %v, want %v", res.gaps, tt.gaps)
			}
			for i, g := range tt.gaps {
				if res.gaps[i] != g {
					t.Errorf("gap %d is %v, want %v", i, res.gaps[i], g)
				}
				if it := st.Outbox[i]; it.Kind != itemGap || it.ID != GapID("s", g.First) {
					t.Errorf("outbox item %d is %s %s, want the gap report %s", i, it.Kind, it.ID, GapID("s", g.First))
				}
			}
			if len(tt.gaps) > 0 && (!res.claimed || !st.holds("t")) {
				t.Error("the writer of the gap reports did not take the outbox lease")
			}
			if tt.outcome == outcomeWaiting && (res.wait < tt.wait-2*time.Millisecond || res.wait > tt.wait+2*time.Millisecond) {
				t.Errorf("wait %v, want %v", res.wait, tt.wait)
			}
			for seq := range st.Pending {
				if seq < st.NextSeq {
					t.Errorf("consumed chunk %d is still pending", seq)
				}
			}
		})
	}
}

func TestArriveRefusesAnotherSampleRate(t *testing.T) {
	w := testWorker()
	st := fresh(t, w, 1)
	c := chunkAt(1)
	c.SampleRate = 16000
	_, err := w.arrive(&st, true, "s", c, 1, time.Now(), chunkCache{}, "t")
	if !errors.Is(err, errSampleRate) || !failure.IsPermanent(err) {
		t.Fatalf("error %v, want a permanent errSampleRate", err)
	}
}

// Speech through arrive: the segment closes after the silence, end_of_stream ends the session,
// and later chunks are dropped.
func TestArriveSegmentsSpeechAndEnds(t *testing.T) {
	w := testWorker()
	var st sessionState
	chunks := chunked("s", speech(sentences[0]))
	tones := standin.EncodeSpeech(sentences[1], testRate)
	chunks = append(chunks, chunked("s", tones[:len(tones)/2])...)
	for i, c := range chunks {
		c.Sequence = int64(i)
	}
	end := &jetflowv1.SttAudioChunk{RequestId: "r", SessionId: "s", Sequence: int64(len(chunks)), SampleRate: testRate, EndOfStream: true}
	chunks = append(chunks, end)
	now := time.Now()
	for i, c := range chunks {
		if _, err := w.arrive(&st, i > 0, "s", c, streamSeq(int64(i)), now, chunkCache{}, "t"); err != nil {
			t.Fatal(err)
		}
	}
	if len(st.Outbox) != 2 {
		t.Fatalf("outbox %+v, want two segments", st.Outbox)
	}
	for i, want := range []vad.Reason{vad.ReasonSilence, vad.ReasonFlush} {
		it := st.Outbox[i]
		if it.ID != SegmentID("s", int64(i)) || it.Kind != itemFinal || it.Reason != want || it.End <= it.Start || it.Language != "en-US" {
			t.Errorf("segment %d: %+v, want %s closed by %s", i, it, SegmentID("s", int64(i)), want)
		}
	}
	if !st.Ended || st.Chunks[0].Offset > st.Outbox[0].Start {
		t.Errorf("ended %v; first kept chunk at %d, first segment starts at %d", st.Ended, st.Chunks[0].Offset, st.Outbox[0].Start)
	}
	res, err := w.arrive(&st, true, "s", chunkAt(end.GetSequence()+1), 999, now, chunkCache{}, "late")
	if err != nil || res.outcome != outcomeDropped || res.changed || res.claimed {
		t.Errorf("chunk after the end: %+v, %v; want dropped", res, err)
	}
}

func TestClaim(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name   string
		outbox int
		lease  *lease
		want   bool
	}{
		{"nothing to publish", 0, nil, false},
		{"free", 1, nil, true},
		{"held by another", 1, &lease{Token: "other", Until: now.Add(time.Second)}, false},
		{"held by us", 1, &lease{Token: "t", Until: now.Add(time.Second)}, true},
		{"expired", 1, &lease{Token: "other", Until: now.Add(-time.Millisecond)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := sessionState{Outbox: make([]outItem, tt.outbox), Lease: tt.lease}
			if got := st.claim(now, time.Second, "t"); got != tt.want || got != st.holds("t") {
				t.Errorf("claim = %v (holds %v), want %v", got, st.holds("t"), tt.want)
			}
		})
	}
}

func TestIdle(t *testing.T) {
	w := testWorker()
	idle := w.cfg.VAD.IdleTimeout
	open := func() sessionState {
		var st sessionState
		tones := standin.EncodeSpeech(sentences[2], testRate)
		for i, c := range chunked("s", tones[:len(tones)*3/4]) {
			if _, err := w.arrive(&st, i > 0, "s", c, streamSeq(int64(i)), time.Now(), chunkCache{}, "t"); err != nil {
				t.Fatal(err)
			}
		}
		if st.VAD.Phase != vad.PhaseSpeech {
			t.Fatalf("VAD in %s, want speech", st.VAD.Phase)
		}
		return st
	}
	tests := []struct {
		name    string
		since   time.Duration
		pending bool
		ended   bool
		closes  bool
	}{
		{name: "idle", since: idle, closes: true},
		{name: "audio still coming", since: idle / 2},
		{name: "waiting on a gap", since: 2 * idle, pending: true},
		{name: "ended", since: 2 * idle, ended: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := open()
			now := st.LastAudioAt.Add(tt.since)
			if tt.pending {
				st.Pending = map[int64]pendingChunk{99: {StreamSeq: 1, Arrived: now.UnixMilli()}}
			}
			st.Ended = tt.ended
			changed, claimed, err := w.idle(&st, "s", now, "t")
			if err != nil {
				t.Fatal(err)
			}
			closed := len(st.Outbox) == 1 && st.Outbox[0].Reason == vad.ReasonIdle
			if changed != tt.closes || claimed != tt.closes || closed != tt.closes {
				t.Errorf("changed %v claimed %v closed %v, want %v", changed, claimed, closed, tt.closes)
			}
		})
	}
}
