package voice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/internal/upstream/transcribe"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

func TestSpokenQuestionIsAnsweredInSpeech(t *testing.T) {
	p := newPlatform(t)
	p.runBuild(t)
	const question = "How does KEDA scale each worker?"
	p.ask(t, spoken("v-keda", "s-keda", question))
	resp, chunks := p.response(t, "v-keda")

	want := "According to [source 1]: KEDA scales each worker on its consumer lag."
	if resp.GetTranscript() != question || resp.GetAnswer() != want {
		t.Fatalf("transcript %q answer %q, want %q and %q", resp.GetTranscript(), resp.GetAnswer(), question, want)
	}
	if resp.GetTurnId() != "v-keda" || resp.GetSessionId() != "s-keda" {
		t.Errorf("turn %q session %q", resp.GetTurnId(), resp.GetSessionId())
	}
	if len(resp.GetSources()) == 0 || resp.GetSources()[0].GetId() != "keda" {
		t.Errorf("sources = %v, want keda first", resp.GetSources())
	}
	var stages []string
	for _, tm := range resp.GetTimings() {
		stages = append(stages, tm.GetStage())
	}
	for _, s := range []string{"transcribe", "embed", "search", "rerank", "llm", "synthesize"} {
		if !slices.Contains(stages, s) {
			t.Errorf("no timing for %s in %v", s, stages)
		}
	}
	if f := resp.GetAudioFormat(); f.GetEncoding() != jetflowv1.AudioFormat_ENCODING_PCM16 || f.GetSampleRate() != sampleRate {
		t.Errorf("audio format %v", f)
	}
	if int(resp.GetAudioChunks()) != len(chunks) || len(chunks) < 2 {
		t.Fatalf("%d chunks published, response says %d; want several", len(chunks), resp.GetAudioChunks())
	}
	texts, err := standin.DecodeSpeech(audio(t, chunks, "v-keda"), sampleRate)
	if err != nil || len(texts) != 1 || texts[0] != want {
		t.Fatalf("the audio says %q (%v), want %q", texts, err, want)
	}
	for route, n := range map[string]int64{routeSTT: 1, routeLLM: 1, routeTTS: 1} {
		if got := p.models.calls(route); got != n {
			t.Errorf("%s called %d times, want %d", route, got, n)
		}
	}
	jstest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		h := p.session(t, "s-keda").History
		if len(h) != 2 || h[0].Content != question || h[1].Content != want {
			return fmt.Errorf("history = %+v", h)
		}
		return nil
	})
}

func TestRequestsThatEndAtTranscribe(t *testing.T) {
	p := newPlatform(t)
	p.runBuild(t)
	silence := make([]byte, sampleRate) // half a second
	wav, err := transcribe.EncodeWAV(silence, sampleRate)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		req  *jetflowv1.VoiceRequest
		// deadLetter is a part of the dead letter's reason; empty means a response is expected.
		deadLetter string
	}{
		{
			name: "silence answers with an empty transcript",
			req:  &jetflowv1.VoiceRequest{RequestId: "v-silence", SessionId: "s-quiet", Audio: wav},
		},
		{
			name:       "compressed audio is dead-lettered",
			req:        &jetflowv1.VoiceRequest{RequestId: "v-mp3", Audio: []byte("ID3\x04\x00\x00 not really mp3")},
			deadLetter: "MP3",
		},
		{
			name:       "raw audio without a format is dead-lettered",
			req:        &jetflowv1.VoiceRequest{RequestId: "v-raw", Audio: silence},
			deadLetter: "format is unset",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p.ask(t, tc.req)
			if tc.deadLetter == "" {
				resp, chunks := p.response(t, tc.req.GetRequestId())
				if resp.GetTranscript() != "" || resp.GetAnswer() != "" || resp.GetAudioChunks() != 0 || len(chunks) != 0 {
					t.Fatalf("response %v with %d chunks", resp, len(chunks))
				}
				if resp.GetTurnId() != tc.req.GetRequestId() || len(resp.GetTimings()) != 1 {
					t.Errorf("turn %q timings %v", resp.GetTurnId(), resp.GetTimings())
				}
				return
			}
			jstest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
				for _, m := range p.stored(t, streams.StreamDeadLetter, streams.DeadLetterSubject(StageTranscribe)) {
					if m.Header.Get(stage.HeaderError) != "" && strings.Contains(m.Header.Get(stage.HeaderError), tc.deadLetter) &&
						m.Header.Get(stage.HeaderErrorKind) == stage.KindPermanent {
						return nil
					}
				}
				return fmt.Errorf("no permanent dead letter saying %q", tc.deadLetter)
			})
		})
	}
	p.settled(t)
	if n := p.models.calls(routeLLM) + p.models.calls(routeTTS); n != 0 {
		t.Errorf("%d LLM and TTS calls for turns that had nothing to answer", n)
	}
	if n := p.models.calls(routeSTT); n != 1 {
		t.Errorf("%d STT calls, want 1 (the silence; bad audio is refused before)", n)
	}
}

func TestSynthesizeCrashResumesWithoutRepeatingSTTOrLLM(t *testing.T) {
	p := newPlatform(t)
	// The crashed process's message comes back after ack_wait; 60 s in production, 1 s here.
	c, err := p.js.Consumer(p.ctx, streams.StreamVoice, StageSynthesize)
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.CachedInfo().Config
	cfg.AckWait = time.Second
	if _, err := p.js.UpdateConsumer(p.ctx, streams.StreamVoice, cfg); err != nil {
		t.Fatal(err)
	}
	held := p.models.hold(pathTTS, 1)
	p.start(t, StageTranscribe, StageAnswer)
	crashing := p.start(t, StageSynthesize)

	const question = "Where are the document vectors stored?"
	wav, err := transcribe.EncodeWAV(standin.EncodeSpeech(question, sampleRate), sampleRate)
	if err != nil {
		t.Fatal(err)
	}
	p.ask(t, &jetflowv1.VoiceRequest{RequestId: "v-crash", SessionId: "s-crash", TurnId: "turn-1", Audio: wav,
		Format: &jetflowv1.AudioFormat{Encoding: jetflowv1.AudioFormat_ENCODING_WAV}})
	waitFor(t, held.entered, "the first synthesis")

	// The process dies mid-call: its connection is gone, the TTS call finishes into the void.
	crashing.nc.Close()
	held.open()
	crashing.stop()
	p.start(t, StageSynthesize)

	resp, chunks := p.response(t, "v-crash")
	want := "According to [source 1]: Milvus stores the document vectors."
	if resp.GetTranscript() != question || resp.GetAnswer() != want || resp.GetTurnId() != "turn-1" {
		t.Fatalf("response %v", resp)
	}
	if texts, err := standin.DecodeSpeech(audio(t, chunks, "turn-1"), sampleRate); err != nil || len(texts) != 1 || texts[0] != want {
		t.Fatalf("the audio says %q (%v)", texts, err)
	}
	p.settled(t)
	if o := p.outcome(t, "v-crash"); len(o.responses) != 1 || len(o.chunks) != int(resp.GetAudioChunks()) {
		t.Fatalf("%d responses and %d chunks, want 1 and %d", len(o.responses), len(o.chunks), resp.GetAudioChunks())
	}
	for route, n := range map[string]int64{routeSTT: 1, routeLLM: 1, routeTTS: 2} {
		if got := p.models.calls(route); got != n {
			t.Errorf("%s called %d times, want %d", route, got, n)
		}
	}
	if h := p.session(t, "s-crash").History; len(h) != 2 || h[1].Content != want {
		t.Errorf("history = %+v", h)
	}
}

func TestNewTurnCancelsTheOldOne(t *testing.T) {
	topologies := []struct {
		name string
		run  func(t *testing.T, p *platform)
	}{
		{name: "all stages in one process, through Build", run: func(t *testing.T, p *platform) { p.runBuild(t) }},
		{
			// The answer stage learns of the new turn from its own watch of the bucket only.
			name: "answer stage on another replica than transcribe",
			run: func(t *testing.T, p *platform) {
				p.start(t, StageTranscribe, StageSynthesize)
				p.start(t, StageAnswer)
			},
		},
	}
	for _, topo := range topologies {
		t.Run(topo.name, func(t *testing.T) {
			p := newPlatform(t)
			held := p.models.hold(pathLLM, 1)
			topo.run(t, p)

			first := spoken("v-first", "s-barge", "How does KEDA scale each worker?")
			first.TurnId = "t-first"
			p.ask(t, first)
			waitFor(t, held.entered, "the first turn's LLM call")

			second := spoken("v-second", "s-barge", "What hosts the model servers?")
			second.TurnId = "t-second"
			p.ask(t, second)
			waitFor(t, held.cancelled, "the first turn's LLM call to be cancelled")

			resp, chunks := p.response(t, "v-second")
			want := "According to [source 1]: Ray Serve hosts the model servers."
			if resp.GetAnswer() != want || resp.GetTurnId() != "t-second" {
				t.Fatalf("second turn answered %q as turn %q", resp.GetAnswer(), resp.GetTurnId())
			}
			audio(t, chunks, "t-second")
			p.settled(t)
			if o := p.outcome(t, "v-first"); len(o.responses)+len(o.chunks) != 0 {
				t.Fatalf("the superseded turn published %d responses and %d chunks", len(o.responses), len(o.chunks))
			}
			for _, m := range p.stored(t, streams.StreamResults, "") {
				if strings.Contains(string(m.Data), "t-first") {
					t.Fatalf("a result of the superseded turn on %s", m.Subject)
				}
			}
			if n := p.models.calls(routeTTS); n != 1 {
				t.Errorf("%d TTS calls, want 1 (the second turn's)", n)
			}
			s := p.session(t, "s-barge")
			if s.CurrentTurn != "t-second" || len(s.History) != 2 || s.History[0].Turn != "t-second" {
				t.Errorf("session = %+v", s)
			}
		})
	}
}

func TestHistoryHoldsOnlyAnsweredTurns(t *testing.T) {
	p := newPlatform(t)
	heldTTS := p.models.hold(pathTTS, 2) // the second turn's synthesis
	p.runBuild(t)

	const (
		qA = "How does KEDA scale each worker?"
		qB = "Where are the document vectors stored?"
		qC = "What hosts the model servers?"
	)
	p.ask(t, spoken("v-a", "s-hist", qA))
	respA, _ := p.response(t, "v-a")
	jstest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		if h := p.session(t, "s-hist").History; len(h) != 2 {
			return fmt.Errorf("history has %d messages", len(h))
		}
		return nil
	})

	p.ask(t, spoken("v-b", "s-hist", qB))
	waitFor(t, heldTTS.entered, "the second turn's synthesis")
	var answerB struct {
		Input string `json:"input"`
	}
	if err := json.Unmarshal(p.models.body(pathTTS, 2), &answerB); err != nil || answerB.Input == "" {
		t.Fatalf("second synthesis request: %v", err)
	}

	p.ask(t, spoken("v-c", "s-hist", qC))
	waitFor(t, heldTTS.cancelled, "the second turn's synthesis to be cancelled")
	respC, _ := p.response(t, "v-c")
	p.settled(t)

	msgs := prompt(t, p.models.body(pathLLM, 3))
	var roles, contents []string
	for _, m := range msgs {
		roles, contents = append(roles, m.Role), append(contents, m.Content)
	}
	wantRoles := []string{"system", "user", "assistant", "user"}
	if !slices.Equal(roles, wantRoles) {
		t.Fatalf("third prompt roles %v, want %v", roles, wantRoles)
	}
	if contents[1] != qA || contents[2] != respA.GetAnswer() || contents[3] != qC {
		t.Fatalf("third prompt %q", contents[1:])
	}
	if slices.Contains(contents, answerB.Input) || slices.Contains(contents, qB) {
		t.Fatalf("the superseded turn is in the prompt: %q", contents)
	}
	h := p.session(t, "s-hist").History
	var got []string
	for _, m := range h {
		got = append(got, m.Content)
	}
	if want := []string{qA, respA.GetAnswer(), qC, respC.GetAnswer()}; !slices.Equal(got, want) {
		t.Fatalf("history %q, want %q", got, want)
	}
	if o := p.outcome(t, "v-b"); len(o.responses) != 0 {
		t.Fatalf("the superseded turn has a response")
	}
}

// TestTurnOrder checks that a request older than the session's current turn cannot take the
// session back, except after the order window.
func TestTurnOrder(t *testing.T) {
	p := newPlatform(t)
	w, err := New(p.js, Clients{}, Breakers{}, Config{TurnOrderWindow: time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := w.sessionStore.Get(p.ctx)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	steps := []struct {
		name       string
		turn       string
		seq        uint64
		at         time.Time
		superseded bool
		current    string
	}{
		{name: "first turn starts", turn: "a", seq: 10, at: t0, current: "a"},
		{name: "newer turn takes over", turn: "b", seq: 12, at: t0, current: "b"},
		{name: "late request of an older turn is dropped", turn: "c", seq: 11, at: t0, superseded: true, current: "b"},
		{name: "redelivery of the current turn keeps it", turn: "b", seq: 12, at: t0, current: "b"},
		{name: "after the window sequences are not trusted", turn: "d", seq: 3, at: t0.Add(2 * time.Minute), current: "d"},
	}
	for _, st := range steps {
		e, superseded, err := s.startTurn(p.ctx, "s-order", st.turn, "r-"+st.turn, st.seq, st.at)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if superseded != st.superseded || e.Value.CurrentTurn != st.current {
			t.Fatalf("%s: superseded=%v current=%q, want %v and %q", st.name, superseded, e.Value.CurrentTurn, st.superseded, st.current)
		}
	}
}

// TestTurnsCancelOlderTurnsAcrossProcesses runs the registry on its own and changes sessions
// the way another replica would.
func TestTurnsCancelOlderTurnsAcrossProcesses(t *testing.T) {
	p := newPlatform(t)
	kv, err := p.js.KeyValue(p.ctx, streams.BucketVoiceSessions)
	if err != nil {
		t.Fatal(err)
	}
	put := func(session, turn string) uint64 {
		t.Helper()
		rev, err := kv.Put(p.ctx, session, fmt.Appendf(nil, `{"current_turn":%q}`, turn))
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	turns := NewTurns(p.js, streams.BucketVoiceSessions, testLogger())

	// Registered before the registry runs: the start of the watch reconciles it.
	rev := put("s-early", "t1")
	early, releaseEarly := turns.Register(p.ctx, "s-early", "t1", rev)
	defer releaseEarly()
	put("s-early", "t2")

	jstest.Run(t, p.ctx, turns.Run)
	jstest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		if !errors.Is(context.Cause(early), ErrSuperseded) {
			return fmt.Errorf("early registration: cause %v", context.Cause(early))
		}
		return nil
	})

	rev = put("s-a", "t1")
	old, releaseOld := turns.Register(p.ctx, "s-a", "t1", rev)
	defer releaseOld()
	other, releaseOther := turns.Register(p.ctx, "s-b", "t1", put("s-b", "t1"))
	defer releaseOther()
	// A stale update (at or below what the handler saw) cancels nothing.
	if n := turns.Observe("s-a", "t0", rev); n != 0 {
		t.Fatalf("a stale update cancelled %d handlers", n)
	}
	// Writes that keep the turn current (a history append) cancel nothing either. The watch
	// applies updates in bucket order: once a later write to another session has cancelled its
	// turn, these writes have been applied too.
	put("s-a", "t1")
	if _, err := kv.Put(p.ctx, "s-a", []byte("not json")); err != nil {
		t.Fatal(err)
	}
	barrier, releaseBarrier := turns.Register(p.ctx, "s-barrier", "t1", put("s-barrier", "t1"))
	defer releaseBarrier()
	put("s-barrier", "t2")
	jstest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		if !errors.Is(context.Cause(barrier), ErrSuperseded) {
			return fmt.Errorf("barrier turn: cause %v", context.Cause(barrier))
		}
		return nil
	})
	if old.Err() != nil {
		t.Fatalf("writes that kept turn t1 current cancelled its handler: %v", context.Cause(old))
	}
	put("s-a", "t2")
	current, releaseCurrent := turns.Register(p.ctx, "s-a", "t2", put("s-a", "t2"))
	defer releaseCurrent()
	jstest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		if !errors.Is(context.Cause(old), ErrSuperseded) {
			return fmt.Errorf("old turn: cause %v", context.Cause(old))
		}
		return nil
	})
	if other.Err() != nil || current.Err() != nil {
		t.Fatalf("other session %v, current turn %v: cancelled", other.Err(), current.Err())
	}

	// A deleted session supersedes all its turns.
	if err := kv.Delete(p.ctx, "s-a"); err != nil {
		t.Fatal(err)
	}
	jstest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		if !errors.Is(context.Cause(current), ErrSuperseded) {
			return fmt.Errorf("turn of a deleted session: cause %v", context.Cause(current))
		}
		return nil
	})
	if other.Err() != nil {
		t.Fatal("another session's turn was cancelled")
	}
}

// TestRequeuedRequestDoesNotTakeOverFromANewerTurn: a request the runtime requeued (its copy
// published after the newer turn's request, as after an open breaker) is ordered by the
// sequence it was first published at, so it cannot take the session back.
func TestRequeuedRequestDoesNotTakeOverFromANewerTurn(t *testing.T) {
	p := newPlatform(t)
	p.runBuild(t)
	first := spoken("v-old", "s-requeue", "How does KEDA scale each worker?")
	first.TurnId = "t-old"
	p.ask(t, first)
	p.response(t, "v-old")
	firstSeq := p.session(t, "s-requeue").TurnSequence
	second := spoken("v-new", "s-requeue", "What hosts the model servers?")
	second.TurnId = "t-new"
	p.ask(t, second)
	p.response(t, "v-new")
	p.settled(t)
	secondSeq := p.session(t, "s-requeue").TurnSequence
	if secondSeq <= firstSeq {
		t.Fatalf("turn sequences %d then %d, want increasing", firstSeq, secondSeq)
	}

	p.requeue(t, streams.SubjectVoiceRequest, first, firstSeq, 1)
	p.settled(t)
	if s := p.session(t, "s-requeue"); s.CurrentTurn != "t-new" || s.TurnSequence != secondSeq {
		t.Fatalf("after the requeued copy of the older request the session is at turn %q (sequence %d), want t-new (%d)",
			s.CurrentTurn, s.TurnSequence, secondSeq)
	}
	if n := p.models.calls(routeSTT); n != 2 {
		t.Errorf("%d STT calls, want 2: the requeued copy is dropped before transcribing", n)
	}
	if o := p.outcome(t, "v-old"); len(o.responses) != 1 {
		t.Errorf("%d responses to the older request, want 1", len(o.responses))
	}
}

// TestRequeuedSynthesisAfterTheResponseDoesNotSpeakAgain: a synthesize hand-off requeued after
// an attempt (its copy is a first delivery, but not a first attempt) that finds the response
// published records the turn without calling the TTS again.
func TestRequeuedSynthesisAfterTheResponseDoesNotSpeakAgain(t *testing.T) {
	p := newPlatform(t)
	p.runBuild(t)
	const question = "Where are the document vectors stored?"
	p.ask(t, spoken("v-once", "s-once", question))
	resp, chunks := p.response(t, "v-once")
	p.settled(t)
	// The synthesize hand-off was the last message of AI_VOICE.
	voice, err := p.js.Stream(p.ctx, streams.StreamVoice)
	if err != nil {
		t.Fatal(err)
	}
	info, err := voice.Info(p.ctx)
	if err != nil {
		t.Fatal(err)
	}
	handOff := &jetflowv1.VoiceTurn{
		RequestId: resp.GetRequestId(), SessionId: resp.GetSessionId(), TurnId: resp.GetTurnId(),
		Transcript: resp.GetTranscript(), Answer: resp.GetAnswer(), Sources: resp.GetSources(),
	}

	p.requeue(t, streams.SubjectVoiceSynthesize, handOff, info.State.LastSeq, 1)
	p.settled(t)
	if n := p.models.calls(routeTTS); n != 1 {
		t.Errorf("%d TTS calls, want 1: the requeued copy finds the response published", n)
	}
	if o := p.outcome(t, "v-once"); len(o.responses) != 1 || len(o.chunks) != len(chunks) {
		t.Errorf("%d responses and %d chunks, want 1 and %d", len(o.responses), len(o.chunks), len(chunks))
	}
	if h := p.session(t, "s-once").History; len(h) != 2 || h[0].Content != question || h[1].Content != resp.GetAnswer() {
		t.Errorf("history = %+v, want the turn once", h)
	}
}

// A client that has an answer asks its next question at once, which supersedes the answered
// turn. So the turn must be in the history by the time its response can be seen: recorded only
// after publishing, a process that died between the two (or a failed history write) left the
// record to a redelivery that then found the turn superseded and skipped it (the reliability
// suite's scenario 9 lost 1 turn of 215 that way).
func TestAnsweredTurnIsInTheHistoryWhenItsResponseIsSeen(t *testing.T) {
	p := newPlatform(t)
	p.runBuild(t)
	kv, err := p.js.KeyValue(p.ctx, streams.BucketVoiceSessions)
	if err != nil {
		t.Fatal(err)
	}
	// What the history held at the moment each response arrived, read in the subscription's
	// callback, before the next question is asked.
	seen := make(chan []historyMessage, 1)
	sub, err := p.tp.NC.Subscribe(streams.ResultSubject(streams.ResultKindVoice, "*"), func(m *nats.Msg) {
		if m.Header.Get(stage.HeaderType) != typeResponse {
			return
		}
		var s sessionState
		e, err := kv.Get(p.ctx, "s-answered")
		if err == nil {
			err = json.Unmarshal(e.Value(), &s)
		}
		if err != nil {
			t.Errorf("reading the session when the response arrived: %v", err)
		}
		seen <- s.History
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })

	const turns = 5
	for i := range turns {
		turn := fmt.Sprintf("turn-%d", i)
		req := spoken("v-answered-"+turn, "s-answered", "Where are the document vectors stored?")
		req.TurnId = turn
		p.ask(t, req)
		select {
		case h := <-seen:
			if n := len(h); n == 0 || h[n-1].Turn != turn || h[n-1].Role != jetflowv1.RoleAssistant {
				t.Fatalf("when the response of %s arrived the history was %+v, want it to end with that turn's answer", turn, h)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no response to %s", turn)
		}
	}
}
