package stagestatus

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/worker"
	"github.com/jetflow-dev/jetflow/streams"
)

func stageOf(t *testing.T, r *Report, name string) StageReport {
	t.Helper()
	for _, s := range r.Stages {
		if s.Stage == name {
			return s
		}
	}
	t.Fatalf("no stage %s in the report", name)
	return StageReport{}
}

func loadSet(t *testing.T) *streams.Set {
	t.Helper()
	set, err := streams.Load()
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// One look reads every consumer's counts, every stage's dead letters (in total and in the last
// hour) and every replica's breakers, leaves nothing behind on the server, and counts the last
// hour from the time it is given.
func TestCollectReadsThePlatform(t *testing.T) {
	p := testplatform.New(t)
	js, ctx := p.JS, p.Ctx
	for range 3 {
		if _, err := js.Publish(ctx, streams.SubjectTTSRequest, []byte("waiting")); err != nil {
			t.Fatal(err)
		}
	}
	for _, stage := range []string{streams.ConsumerTTS, streams.ConsumerTTS, streams.ConsumerSTT} {
		if _, err := js.Publish(ctx, streams.DeadLetterSubject(stage), []byte("dead")); err != nil {
			t.Fatal(err)
		}
	}
	kv, err := js.KeyValue(ctx, streams.BucketStatus)
	if err != nil {
		t.Fatal(err)
	}
	entries := map[string]worker.Status{
		"tts-module.a": replica("a", ttsStage(StateOpen, 30_000)),
		"stt-module.b": {Worker: "stt-module", Replica: "b", Stages: []worker.StageStatus{{Stage: streams.ConsumerSTT, Breakers: []worker.BreakerStatus{}}}},
	}
	for key, st := range entries {
		data, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Put(ctx, key, data); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kv.Put(ctx, "odd.worker", []byte("not json")); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "gone.worker", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, "gone.worker"); err != nil {
		t.Fatal(err)
	}
	c := &Collector{JS: js, Set: loadSet(t), Window: DefaultWindow}

	r, err := c.Collect(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Stages) != len(c.Set.Consumers()) {
		t.Errorf("%d stages, want one per consumer of streams/ (%d)", len(r.Stages), len(c.Set.Consumers()))
	}
	tts, stt := stageOf(t, r, streams.ConsumerTTS), stageOf(t, r, streams.ConsumerSTT)
	if tts.Stream != streams.StreamTTS || tts.Pending != 3 || tts.Replicas != 1 || len(tts.Breakers) != 1 || tts.Breakers[0].State != StateOpen {
		t.Errorf("tts %+v, want 3 pending, 1 replica, breaker open", tts)
	}
	if d := tts.DeadLetters; d.Subject != "ai.dlq.tts" || d.Total != 2 || d.LastHour != 2 || d.Newest == nil || time.Since(*d.Newest) > time.Minute {
		t.Errorf("tts dead letters %+v, want 2 of the last hour, the newest just now", d)
	}
	if d := stt.DeadLetters; d.Total != 1 || d.LastHour != 1 || stt.Replicas != 1 {
		t.Errorf("stt %+v, want 1 dead letter, 1 replica", stt)
	}
	if len(r.Replicas) != 2 || r.Replicas[0].Worker != "stt-module" || r.Replicas[1].Worker != "tts-module" {
		t.Errorf("replicas %+v, want stt-module's and tts-module's, sorted, without the deleted one", r.Replicas)
	}
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "odd.worker") {
		t.Errorf("warnings %q, want one about the entry that does not decode", r.Warnings)
	}
	if r.Healthy || len(r.Problems) != 3 {
		t.Errorf("problems %q, want tts open, tts and stt growing", r.Problems)
	}
	dlq, err := js.Stream(ctx, streams.StreamDeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := dlq.Info(ctx); err != nil || info.State.Consumers != 0 {
		t.Errorf("%s has %d consumers after a look (%v), want none left", streams.StreamDeadLetter, info.State.Consumers, err)
	}

	// An hour and a bit later (by the clock the look is given) the same dead letters are old.
	later, err := c.Collect(ctx, time.Now().Add(61*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if d := stageOf(t, later, streams.ConsumerTTS).DeadLetters; d.Total != 2 || d.LastHour != 0 {
		t.Errorf("tts dead letters an hour later %+v, want 2 in total, none in the last hour", d)
	}
	if len(later.Problems) != 1 || !strings.Contains(later.Problems[0], "breaker tts open") {
		t.Errorf("problems an hour later %q, want only the open breaker", later.Problems)
	}
}

// The last hour is counted from its start, not from the newest dead letter: of two dead letters
// one is inside the hour, one outside.
func TestCollectCountsOnlyTheLastHour(t *testing.T) {
	p := testplatform.New(t)
	js, ctx := p.JS, p.Ctx
	subject := streams.DeadLetterSubject(streams.ConsumerChatGenerate)
	if _, err := js.Publish(ctx, subject, []byte("old")); err != nil {
		t.Fatal(err)
	}
	dlq, err := js.Stream(ctx, streams.StreamDeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	first, err := dlq.GetLastMsgForSubject(ctx, subject)
	if err != nil {
		t.Fatal(err)
	}
	// The second is stored strictly after the first, so an hour starting just after the first
	// holds only the second.
	var second time.Time
	for second.IsZero() || !second.After(first.Time) {
		if _, err := js.Publish(ctx, subject, []byte("new")); err != nil {
			t.Fatal(err)
		}
		m, err := dlq.GetLastMsgForSubject(ctx, subject)
		if err != nil {
			t.Fatal(err)
		}
		second = m.Time
	}
	c := &Collector{JS: js, Set: loadSet(t), Window: DefaultWindow}
	r, err := c.Collect(ctx, second.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if d := stageOf(t, r, streams.ConsumerChatGenerate).DeadLetters; d.Total < 2 || d.LastHour == 0 || d.LastHour >= d.Total {
		t.Errorf("dead letters %+v, want some but not all of them in the last hour", d)
	}
}

func TestCollectReportsAMissingConsumerAndBucket(t *testing.T) {
	p := testplatform.New(t)
	js, ctx := p.JS, p.Ctx
	if err := js.DeleteConsumer(ctx, streams.StreamPipeline, streams.ConsumerPipelineBridge); err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteKeyValue(ctx, streams.BucketStatus); err != nil {
		t.Fatal(err)
	}
	c := &Collector{JS: js, Set: loadSet(t), Window: DefaultWindow}
	r, err := c.Collect(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !stageOf(t, r, streams.ConsumerPipelineBridge).Missing || stageOf(t, r, streams.ConsumerTTS).Missing {
		t.Error("want only pipeline-bridge missing")
	}
	if len(r.Problems) != 2 || !strings.Contains(r.Problems[0], "no status bucket") || !strings.Contains(r.Problems[1], "pipeline-bridge not found") {
		t.Errorf("problems %q, want the bucket and the consumer", r.Problems)
	}
}
