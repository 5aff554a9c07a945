package streams

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
)

// Exactly-once results rest on Nats-Msg-Id: a stage derives each output's id from its input, so
// whichever delivery of the input publishes it, the stream keeps one copy, but only while the
// stream remembers the id: its duplicate window. An output republished after the window lands
// twice. So each stream's window must cover the longest time between two publishes of one
// output: the redelivery span of the stages that publish into it.

// runtimeBackoff is the stage runtime's retry schedule when a stage sets none (defaultBackoff
// in internal/stage/config.go; the last entry repeats). No stage sets its own.
var runtimeBackoff = []time.Duration{time.Second, 5 * time.Second, 15 * time.Second, 30 * time.Second, time.Minute}

// publisher is one stage (named by its consumer) and what bounds its redeliveries besides its
// consumer's ack_wait and max_deliver.
type publisher struct {
	consumer string
	// handler bounds one handler call: the stage's default handler timeout (the workers'
	// config), or for a stage without one, its slowest call's timeout. A redelivery republishes
	// at most this long after it starts.
	handler time.Duration
	// hint is the longest retry delay an error may ask for (failure.RetryAfter), which replaces
	// the runtime's backoff when longer: a model server's or KFP's Retry-After, capped at
	// modelhttp.MaxRetryAfter.
	hint time.Duration
	// into are the streams the stage publishes outputs into, besides AI_DLQ (every stage
	// dead-letters) and its own stream (every stage requeues there).
	into []string
	// settleHandler, when set, replaces handler for the spans of requeued copies and dead
	// letters: see pipeline-bridge.
	settleHandler time.Duration
}

var publishers = []publisher{
	// chat.defaultStageConfig: RetrieveTimeout 30s, GenerateTimeout 5m.
	{ConsumerChatRetrieve, 30 * time.Second, modelhttp.MaxRetryAfter, []string{StreamChat}, 0},
	{ConsumerChatGenerate, 5 * time.Minute, modelhttp.MaxRetryAfter, []string{StreamResults}, 0},
	// voice.defaults: TranscribeTimeout 2m, AnswerTimeout 5m, SynthesizeTimeout 2m.
	{ConsumerVoiceTranscribe, 2 * time.Minute, modelhttp.MaxRetryAfter, []string{StreamVoice, StreamResults}, 0},
	{ConsumerVoiceAnswer, 5 * time.Minute, modelhttp.MaxRetryAfter, []string{StreamVoice, StreamResults}, 0},
	{ConsumerVoiceSynthesize, 2 * time.Minute, modelhttp.MaxRetryAfter, []string{StreamResults}, 0},
	// tts: Config.Timeout 2m.
	{ConsumerTTS, 2 * time.Minute, modelhttp.MaxRetryAfter, []string{StreamResults}, 0},
	// stt has no handler timeout: a chunk costs at most one transcription call
	// (modelhttp.DefaultTimeout, 60s) and a few KV and publish calls.
	{ConsumerSTT, 2 * time.Minute, modelhttp.MaxRetryAfter, []string{StreamResults}, 0},
	// pipeline.Bridge.Spec: Timeout (6h) + 2 x CallTimeout (30s) + 1m: the handler follows the
	// run to its end. Its requeued triggers and dead letters are covered without the following
	// (2 x CallTimeout to list and create or adopt, and 1m of it): a trigger handled again
	// adopts its run by name and by the pipeline-runs claim, so a second copy of either cannot
	// start a second run, and remembering a day of ids is not worth that.
	{ConsumerPipelineBridge, 6*time.Hour + 2*time.Minute, modelhttp.MaxRetryAfter, []string{StreamResults}, 2 * time.Minute},
	// The advisory catcher reads, copies and deletes one message: three NATS calls, each within
	// the runtime's 10s settle timeout. Its errors carry no retry hint.
	{ConsumerDeadLetterAdvisories, 30 * time.Second, 0, []string{StreamDeadLetter}, 0},
}

// redeliverySpan bounds the time between two publishes of one output by deliveries of one
// message: the first delivery may publish at its start and the last one at the end of its
// handler, and between two deliveries the handler runs (at most handler) and then the message
// waits for the ack wait (a crash) or for the retry delay (a failure), whichever is longer.
// A copy requeued while a breaker was open keeps its attempt count (it spends no delivery), so
// attempts stay within max_deliver, but the time a copy waits for the breaker to close is an
// outage's length: no window covers every outage.
func redeliverySpan(c jetstream.ConsumerConfig, p publisher) time.Duration {
	n := max(c.MaxDeliver, 1)
	span := time.Duration(n) * p.handler
	for k := 1; k < n; k++ {
		delay := runtimeBackoff[min(k-1, len(runtimeBackoff)-1)]
		span += max(c.AckWait, delay, p.hint)
	}
	return span
}

// requirement is the window a stream needs for one publisher, and why.
type requirement struct {
	consumer string
	span     time.Duration
	why      string
}

// requirements lists, for each stream, the redelivery span of every stage that publishes into
// it.
func requirements(t *testing.T, set *Set) map[string][]requirement {
	t.Helper()
	byConsumer := map[string]publisher{}
	for _, p := range publishers {
		byConsumer[p.consumer] = p
	}
	out := map[string][]requirement{}
	var advisorySpan time.Duration
	for _, c := range set.Consumers() {
		if c.Config.Durable == ConsumerDeadLetterAdvisories {
			advisorySpan = redeliverySpan(c.Config, byConsumer[c.Config.Durable])
		}
	}
	for _, c := range set.Consumers() {
		p, ok := byConsumer[c.Config.Durable]
		if !ok {
			t.Fatalf("consumer %s has no entry in publishers: say what its stage publishes into and how long its handler runs", c.Config.Durable)
		}
		span, settleSpan := redeliverySpan(c.Config, p), redeliverySpan(c.Config, p)
		if p.settleHandler > 0 {
			settle := p
			settle.handler = p.settleHandler
			settleSpan = redeliverySpan(c.Config, settle)
		}
		add := func(stream, why string, span time.Duration) {
			out[stream] = append(out[stream], requirement{c.Config.Durable, span, why})
		}
		for _, s := range p.into {
			add(s, "outputs", span)
		}
		add(c.Stream, "requeued copies (requeue:<stream>:<seq>)", settleSpan)
		add(StreamDeadLetter, "dead letters (dlq:<stream>:<seq>)", settleSpan)
		// A dead letter published on the last delivery, whose message was not terminated (a
		// crash), is copied again by the advisory catcher once the server gives up on it: an
		// ack wait later, plus the catcher's own redeliveries.
		add(StreamDeadLetter, "the advisory catcher's copy of a dead letter", c.Config.AckWait+advisorySpan)
	}
	return out
}

// Every stream's duplicate window covers the redelivery span of the stages that publish into
// it, or equals its max_age (the server allows no longer; an id the window forgot then belongs
// to a message the stream no longer holds, so the stream never holds two copies of an output).
// Raising a stage's handler timeout above its default needs a longer window: the span grows by
// max_deliver x the increase.
func TestDuplicateWindowsCoverRedelivery(t *testing.T) {
	set := mustLoad(t)
	reqs := requirements(t, set)
	for _, s := range set.Streams() {
		t.Run(s.Name, func(t *testing.T) {
			if s.MaxAge > 0 && s.Duplicates > s.MaxAge {
				t.Errorf("duplicate_window %v exceeds max_age %v: the server refuses it", s.Duplicates, s.MaxAge)
			}
			var longest requirement
			for _, r := range reqs[s.Name] {
				if r.span > longest.span {
					longest = r
				}
				if r.span > s.Duplicates && s.Duplicates != s.MaxAge {
					t.Errorf("duplicate_window %v is shorter than the %v redelivery span of %s's %s", s.Duplicates, r.span, r.consumer, r.why)
				}
			}
			t.Logf("duplicate_window %v, max_age %v; longest redelivery span %v (%s's %s)", s.Duplicates, s.MaxAge, longest.span, longest.consumer, longest.why)
		})
	}
	// The figures the README states.
	spans := map[string]time.Duration{}
	for _, c := range set.Consumers() {
		for _, p := range publishers {
			if p.consumer == c.Config.Durable {
				spans[p.consumer] = redeliverySpan(c.Config, p)
			}
		}
	}
	want := map[string]time.Duration{
		ConsumerChatRetrieve: 22*time.Minute + 30*time.Second, ConsumerChatGenerate: 45 * time.Minute,
		ConsumerVoiceTranscribe: 30 * time.Minute, ConsumerVoiceAnswer: 45 * time.Minute, ConsumerVoiceSynthesize: 30 * time.Minute,
		ConsumerTTS: 30 * time.Minute, ConsumerSTT: 30 * time.Minute, ConsumerPipelineBridge: 30*time.Hour + 30*time.Minute,
		ConsumerDeadLetterAdvisories: 12 * time.Minute,
	}
	for c, w := range want {
		if spans[c] != w {
			t.Errorf("redelivery span of %s = %v, want %v", c, spans[c], w)
		}
	}
}

// The model's arithmetic on a consumer small enough to check by hand.
func TestRedeliverySpan(t *testing.T) {
	c := jetstream.ConsumerConfig{AckWait: 10 * time.Second, MaxDeliver: 3}
	// 3 handler runs of 1s, then max(10s ack wait, 1s backoff) + max(10s, 5s).
	if got, want := redeliverySpan(c, publisher{handler: time.Second}), 23*time.Second; got != want {
		t.Errorf("span %v, want %v", got, want)
	}
	// A 1m retry hint replaces both waits.
	if got, want := redeliverySpan(c, publisher{handler: time.Second, hint: time.Minute}), 123*time.Second; got != want {
		t.Errorf("span with hint %v, want %v", got, want)
	}
}

// The server keeps one copy of an id republished after a gap the old window could not cover,
// as long as the stream's window covers the gap. The gap is scaled down (minutes cannot be
// waited for in a test): AI_RESULTS as defined here and a copy of it whose window is 1s (the
// 2m the definitions used to have, scaled) both receive an output, and again, with the same
// Nats-Msg-Id, once the copy has forgotten it. The copy stores it twice; AI_RESULTS once. What
// this proves is the server's side: an id republished within the window is dropped, after it
// is stored again. That the configured windows are long enough is
// TestDuplicateWindowsCoverRedelivery's arithmetic.
func TestRepublishAfterTheOldWindowLandsOnce(t *testing.T) {
	set := mustLoad(t)
	ctx := jstest.Context(t)
	_, js := jstest.Connect(t, jstest.Server(t))
	results, ok := set.Stream(StreamResults)
	if !ok {
		t.Fatal("no AI_RESULTS definition")
	}
	short := results
	short.Name, short.Subjects, short.Duplicates = "RESULTS_OLD_WINDOW", []string{"old.result.>"}, time.Second
	for _, cfg := range []jetstream.StreamConfig{results, short} {
		if _, err := js.CreateStream(ctx, cfg); err != nil {
			t.Fatalf("creating stream %s: %v", cfg.Name, err)
		}
	}
	publish := func(subject string) *jetstream.PubAck {
		t.Helper()
		msg := &nats.Msg{Subject: subject, Data: []byte("answer"), Header: nats.Header{jetstream.MsgIDHeader: {"chat-generate:AI_CHAT:42"}}}
		ack, err := js.PublishMsg(ctx, msg)
		if err != nil {
			t.Fatalf("publishing to %s: %v", subject, err)
		}
		return ack
	}
	current, old := ResultSubject(ResultKindChat, "r1"), "old.result.chat.r1"
	publish(current)
	publish(old)
	// Republish into the short-window stream until it takes the id as new: its window is over.
	jstest.Eventually(t, 10*time.Second, 100*time.Millisecond, func() error {
		if publish(old).Duplicate {
			return errors.New("the 1s window still remembers the id")
		}
		return nil
	})
	if ack := publish(current); !ack.Duplicate {
		t.Errorf("AI_RESULTS stored the republished output again (seq %d)", ack.Sequence)
	}
	for name, want := range map[string]uint64{StreamResults: 1, short.Name: 2} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs != want {
			t.Errorf("%s holds %d copies of the output, want %d", name, info.State.Msgs, want)
		}
	}
}
