package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/syncbuf"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/streams"
)

var errDown = errors.New("503 no healthy replicas")

// tripSet opens the breaker of upstream in set (its ConsecutiveFailures must be 1).
func tripSet(t *testing.T, set *breaker.Set, upstream string) {
	t.Helper()
	_, _ = breaker.Do(t.Context(), set.Get(upstream), func(context.Context) (struct{}, error) { return struct{}{}, errDown })
	if got := set.Get(upstream).State(); got != breaker.Open {
		t.Fatalf("breaker %s is %v after a failure, want open", upstream, got)
	}
}

// readStatus reads key from the status bucket; a missing key is an error.
func readStatus(ctx context.Context, kv jetstream.KeyValue, key string) (Status, error) {
	e, err := kv.Get(ctx, key)
	if err != nil {
		return Status{}, fmt.Errorf("reading %s: %w", key, err)
	}
	var st Status
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return Status{}, fmt.Errorf("decoding %s: %w", key, err)
	}
	return st, nil
}

// A replica's entry holds its stages and their breakers, shows a breaker that opens long before
// the next periodic put, and is gone as soon as the replica stops.
func TestStatusPublisherPutsChangesAtOnceAndDeletesItsEntry(t *testing.T) {
	p := testplatform.New(t)
	kv, err := p.JS.KeyValue(p.Ctx, streams.BucketStatus)
	if err != nil {
		t.Fatal(err)
	}
	set := breaker.NewSet(streams.ConsumerTTS, breaker.Settings{ConsecutiveFailures: 1, Timeout: time.Minute})
	set.Get(breaker.TTS)
	pub := NewStatusPublisher(p.JS, StatusConfig{Worker: "tts-module", Replica: "pod.1", Interval: 5 * time.Second},
		StageSpec{Consumer: streams.ConsumerTTS, Breakers: set}, StageSpec{Consumer: streams.ConsumerDeadLetterAdvisories})
	if got, want := pub.Key(), "tts-module.pod_1"; got != want {
		t.Fatalf("key %q, want %q (a dot in the replica would split the key)", got, want)
	}
	stop := jstest.Run(t, p.Ctx, pub.Run)

	var first Status
	jstest.Eventually(t, 5*time.Second, 20*time.Millisecond, func() (err error) {
		first, err = readStatus(p.Ctx, kv, pub.Key())
		return err
	})
	want := []StageStatus{
		{Stage: streams.ConsumerTTS, Stream: streams.StreamTTS, Consumer: streams.ConsumerTTS, Gate: GatePulling,
			Breakers: []BreakerStatus{{Upstream: breaker.TTS, State: "closed"}}},
		{Stage: streams.ConsumerDeadLetterAdvisories, Stream: streams.StreamAdvisories, Consumer: streams.ConsumerDeadLetterAdvisories,
			Gate: GatePulling, Breakers: []BreakerStatus{}},
	}
	if first.Worker != "tts-module" || first.Replica != "pod_1" || first.IntervalMS != 5000 || !sameStates(first.Stages, want) ||
		first.Stages[0].Stream != streams.StreamTTS || first.Stages[1].Stream != streams.StreamAdvisories {
		t.Fatalf("entry %+v, want %+v", first, want)
	}

	tripped := time.Now()
	tripSet(t, set, breaker.TTS)
	var open Status
	jstest.Eventually(t, 4*time.Second, 20*time.Millisecond, func() (err error) {
		open, err = readStatus(p.Ctx, kv, pub.Key())
		if err == nil && open.Stages[0].Gate != GatePaused {
			err = fmt.Errorf("stage %+v, want paused", open.Stages[0])
		}
		return err
	})
	if waited := time.Since(tripped); waited >= 5*time.Second {
		t.Errorf("the change was put after %v, no sooner than the periodic put", waited)
	}
	if b := open.Stages[0].Breakers[0]; b.State != "open" || b.OpenForMS <= 0 || b.OpenForMS > time.Minute.Milliseconds() {
		t.Errorf("breaker %+v, want open for at most a minute", b)
	}

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(p.Ctx, pub.Key()); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("entry after the publisher stopped: %v, want it deleted", err)
	}
}

// A replica that dies without deleting its entry drops out when the bucket's TTL expires it.
func TestStatusEntryOfADeadReplicaExpires(t *testing.T) {
	srv := jstest.Server(t)
	_, admin := jstest.Connect(t, srv)
	ctx := jstest.Context(t)
	// The bucket as streams/ defines it, with a TTL short enough for a test.
	kv, err := admin.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: streams.BucketStatus, History: 1, TTL: time.Second, Storage: jetstream.MemoryStorage})
	if err != nil {
		t.Fatal(err)
	}
	workerNC, workerJS := jstest.Connect(t, srv)
	pub := NewStatusPublisher(workerJS, StatusConfig{Worker: "stt-module", Interval: 300 * time.Millisecond},
		StageSpec{Consumer: streams.ConsumerSTT, Breakers: breaker.NewSet(streams.ConsumerSTT, breaker.Settings{})})
	stop := jstest.Run(t, ctx, pub.Run)
	jstest.Eventually(t, 5*time.Second, 20*time.Millisecond, func() error {
		_, err := readStatus(ctx, kv, pub.Key())
		return err
	})
	// The process is gone: no more puts, and no delete.
	workerNC.Close()
	jstest.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		if _, err := kv.Get(ctx, pub.Key()); !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("entry of the dead replica still there (%v)", err)
		}
		return nil
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// Status never stops a worker: without its bucket the publisher warns once, keeps running, and
// publishes once the bucket exists (streams.Apply may run after the workers start).
func TestStatusPublisherWaitsForItsBucket(t *testing.T) {
	srv := jstest.Server(t)
	_, js := jstest.Connect(t, srv)
	ctx := jstest.Context(t)
	var logs syncbuf.Buffer
	pub := NewStatusPublisher(js, StatusConfig{Worker: "tts-module", Interval: 100 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(&logs, nil))}, StageSpec{Consumer: streams.ConsumerTTS})
	stop := jstest.Run(t, ctx, pub.Run)
	jstest.Eventually(t, 5*time.Second, 20*time.Millisecond, func() error {
		if !strings.Contains(logs.String(), "publishing status, will try again") {
			return errors.New("no warning about the missing bucket")
		}
		return nil
	})
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: streams.BucketStatus, History: 1, TTL: streams.StatusTTL})
	if err != nil {
		t.Fatal(err)
	}
	jstest.Eventually(t, 5*time.Second, 20*time.Millisecond, func() error {
		_, err := readStatus(ctx, kv, pub.Key())
		return err
	})
	if n := strings.Count(logs.String(), "will try again"); n != 1 {
		t.Errorf("warned %d times, want once until it works again:\n%s", n, logs.String())
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "publishing status again") {
		t.Errorf("no notice that publishing works again:\n%s", logs.String())
	}
}

// Run publishes every stage the worker built through Env.Stages, the advisory catcher
// included, and the entry leaves with the process.
func TestRunPublishesTheStatusOfEveryStage(t *testing.T) {
	p := testplatform.New(t)
	kv, err := p.JS.KeyValue(p.Ctx, streams.BucketStatus)
	if err != nil {
		t.Fatal(err)
	}
	env := envconfig.Map(map[string]string{"NATS_URL": p.URL(), "STATUS_INTERVAL": "200ms"})
	build := func(_ context.Context, e *Env) ([]Runner, error) {
		return e.Stages(StageSpec{
			Consumer: streams.ConsumerTTS,
			Handler:  stage.HandlerFunc(func(context.Context, *stage.Input) ([]stage.Output, error) { return nil, nil }),
			Breakers: e.Breakers(streams.ConsumerTTS, "TTS"),
		})
	}
	stop := jstest.Run(t, p.Ctx, func(ctx context.Context) error {
		return Run(ctx, "test-worker", env, slog.New(slog.DiscardHandler), build, WithHealthListener(listen(t)))
	})
	var st Status
	jstest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		keys, err := kv.Keys(p.Ctx)
		if err != nil {
			return err
		}
		if len(keys) != 1 || !strings.HasPrefix(keys[0], "test-worker.") {
			return fmt.Errorf("keys %q, want one of test-worker", keys)
		}
		st, err = readStatus(p.Ctx, kv, keys[0])
		return err
	})
	var stages []string
	for _, s := range st.Stages {
		stages = append(stages, s.Stage)
	}
	if got, want := strings.Join(stages, ","), streams.ConsumerTTS+","+streams.ConsumerDeadLetterAdvisories; got != want || st.IntervalMS != 200 {
		t.Errorf("stages %s every %dms, want %s every 200ms", got, st.IntervalMS, want)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if keys, err := kv.Keys(p.Ctx); !errors.Is(err, jetstream.ErrNoKeysFound) {
		t.Errorf("keys after the worker stopped: %q (%v), want none", keys, err)
	}
}

func TestStatusIntervalStaysWithinTheTTL(t *testing.T) {
	for value, ok := range map[string]bool{"": true, "1s": true, "5s": true, "6s": false, "10ms": false, "often": false} {
		r := envconfig.New(envconfig.Map(map[string]string{"STATUS_INTERVAL": value}))
		statusConfigFromEnv(r, "w")
		if err := r.Err(); (err == nil) != ok || (err != nil && !strings.Contains(err.Error(), "STATUS_INTERVAL")) {
			t.Errorf("STATUS_INTERVAL=%q: error %v, want accepted: %v", value, err, ok)
		}
	}
}

func TestStageStatusGate(t *testing.T) {
	tests := []struct {
		name     string
		trip     []string
		probe    bool
		wantGate string
	}{
		{name: "no breakers", wantGate: GatePulling},
		{name: "all closed", wantGate: GatePulling},
		{name: "one open", trip: []string{breaker.LLM}, wantGate: GatePaused},
		{name: "half-open", trip: []string{breaker.LLM}, probe: true, wantGate: GateProbing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := time.Minute
			if tt.probe {
				timeout = 10 * time.Millisecond
			}
			var set *breaker.Set
			if tt.name != "no breakers" {
				set = breaker.NewSet("chat-generate", breaker.Settings{ConsecutiveFailures: 1, Timeout: timeout})
				set.Get(breaker.Embeddings)
				for _, u := range tt.trip {
					tripSet(t, set, u)
				}
			}
			jstest.Eventually(t, 5*time.Second, 5*time.Millisecond, func() error {
				if got := stageStatus("chat-generate", streams.StreamChat, set); got.Gate != tt.wantGate {
					return fmt.Errorf("gate %s (%+v), want %s", got.Gate, got.Breakers, tt.wantGate)
				}
				return nil
			})
		})
	}
}

func TestSameStatesIgnoresTheTimeLeftOpen(t *testing.T) {
	a := []StageStatus{{Stage: "tts", Gate: GatePaused, Breakers: []BreakerStatus{{Upstream: "tts", State: "open", OpenForMS: 900}}}}
	b := []StageStatus{{Stage: "tts", Gate: GatePaused, Breakers: []BreakerStatus{{Upstream: "tts", State: "open", OpenForMS: 400}}}}
	if !sameStates(a, b) {
		t.Error("a shorter time left open counted as a change")
	}
	b[0].Breakers[0].State, b[0].Gate = "half-open", GateProbing
	if sameStates(a, b) {
		t.Error("open to half-open did not count as a change")
	}
	if sameStates(a, nil) {
		t.Error("a stage appearing did not count as a change")
	}
}
