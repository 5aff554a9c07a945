package breaker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
)

func TestSetOpenFor(t *testing.T) {
	tests := []struct {
		name string
		trip []string
	}{
		{name: "all closed"},
		{name: "one open", trip: []string{Embeddings}},
		{name: "two open", trip: []string{LLM, Milvus}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := NewSet("chat", Settings{ConsecutiveFailures: 1, Timeout: time.Minute})
			for _, name := range []string{LLM, Embeddings, Reranker, Milvus} {
				set.Get(name)
			}
			u := &upstream{}
			for _, name := range tt.trip {
				trip(t, set.Get(name), u)
			}
			longest := func() time.Duration {
				var d time.Duration
				for _, name := range []string{LLM, Embeddings, Reranker, Milvus} {
					d = max(d, set.Get(name).OpenFor())
				}
				return d
			}
			// Open time only shrinks, so the set's answer lies between the maxima taken just
			// before and just after it.
			before := longest()
			got := set.OpenFor()
			after := longest()
			if got < after || got > before {
				t.Fatalf("Set.OpenFor = %v, want within [%v, %v]", got, after, before)
			}
			if (len(tt.trip) > 0) != (got > 0) {
				t.Fatalf("Set.OpenFor = %v with %d breakers open", got, len(tt.trip))
			}
		})
	}
}

func TestSetGetReturnsOneBreakerPerUpstream(t *testing.T) {
	set := NewSet("voice", Settings{})
	first, second := set.Get(LLM), set.Get(LLM)
	if first != second {
		t.Fatal("Get made a second breaker for the same upstream")
	}
	if set.Get(LLM) == set.Get(TTS) {
		t.Fatal("two upstreams share a breaker")
	}
	if b := set.Get(STT); b.stage != "voice" || b.upstream != STT {
		t.Fatalf("breaker is for %s/%s, want voice/stt", b.stage, b.upstream)
	}
}

func TestSetProbingWhileHalfOpen(t *testing.T) {
	s := NewSet("chat-generate", Settings{ConsecutiveFailures: 1, Timeout: 30 * time.Millisecond})
	b := s.Get(LLM)
	if s.Probing() {
		t.Fatal("probing while closed")
	}
	var u upstream
	trip(t, b, &u)
	if s.Probing() {
		t.Fatal("probing while open")
	}
	waitHalfOpen(t, b)
	if !s.Probing() {
		t.Fatal("not probing while half-open")
	}
	if _, err := Do(t.Context(), b, u.answer(nil)); err != nil {
		t.Fatal(err)
	}
	if s.Probing() {
		t.Fatal("still probing after a successful probe closed the breaker")
	}
}

func TestSetStatesReadsWithoutMoving(t *testing.T) {
	set := NewSet("chat", Settings{ConsecutiveFailures: 1, Timeout: time.Minute})
	u := &upstream{}
	set.Get(Reranker)
	trip(t, set.Get(LLM), u)
	expired := NewSet("chat", Settings{ConsecutiveFailures: 1, Timeout: 20 * time.Millisecond})
	trip(t, expired.Get(Embeddings), u)
	jstest.Eventually(t, 5*time.Second, 2*time.Millisecond, func() error {
		if got := expired.States()[0]; got.State != HalfOpen {
			return fmt.Errorf("expired open breaker reported %v", got.State)
		}
		return nil
	})

	got := set.States()
	if len(got) != 2 || got[0].Upstream != LLM || got[1].Upstream != Reranker {
		t.Fatalf("States = %+v, want llm then reranker", got)
	}
	if got[0].State != Open || got[0].OpenFor <= 0 || got[0].OpenFor > time.Minute {
		t.Errorf("llm = %+v, want open for at most a minute", got[0])
	}
	if got[1].State != Closed || got[1].OpenFor != 0 {
		t.Errorf("reranker = %+v, want closed", got[1])
	}
	// Reading reported the expired breaker half-open but left it open: only a call (or State)
	// moves it, and logs the move.
	b := expired.Get(Embeddings)
	b.mu.Lock()
	recorded := b.state
	b.mu.Unlock()
	if recorded != Open {
		t.Errorf("States moved the expired breaker to %v", recorded)
	}
}

func TestSetStatesOfAnEmptySet(t *testing.T) {
	if got := NewSet("tts", Settings{}).States(); len(got) != 0 {
		t.Errorf("States of a set no call used = %+v, want none", got)
	}
}

// CanProgress is read while metrics are collected: it must report an expired open breaker as
// unable to progress (half-open) without moving it, so that a collection changes nothing.
func TestSetCanProgressMovesNoBreaker(t *testing.T) {
	set := NewSet("chat", Settings{ConsecutiveFailures: 1, Timeout: 50 * time.Millisecond})
	b := set.Get(LLM)
	if !set.CanProgress() {
		t.Fatal("a closed set cannot progress")
	}
	trip(t, b, &upstream{})
	if set.CanProgress() {
		t.Fatal("an open set can progress")
	}
	jstest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		if b.observedState(time.Now()) != HalfOpen {
			return fmt.Errorf("breaker still open")
		}
		return nil
	})
	if set.CanProgress() {
		t.Fatal("a set whose breaker's open time ran out can progress before a probe closed it")
	}
	b.mu.Lock()
	moved := b.state != Open
	b.mu.Unlock()
	if moved {
		t.Fatal("CanProgress moved the breaker out of open")
	}
}

// A metrics collection reads the set (the stage's can-progress gauge) while a stage makes a
// breaker for an upstream it calls for the first time, whose instruments register on the same
// meter provider. With the set's lock held across the registration the two waited for each other
// forever (a worker that stopped answering /metrics and SIGTERM).
func TestSetGetDuringMetricsCollectionDoesNotDeadlock(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	meter := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("test")
	set := NewSet("chat-generate", Settings{}, WithMeter(meter))
	gauge, err := meter.Int64ObservableGauge("jetflow.stage.can_progress")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		if set.CanProgress() {
			o.ObserveInt64(gauge, 1)
		}
		return nil
	}, gauge); err != nil {
		t.Fatal(err)
	}

	const upstreams = 1000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range upstreams {
			set.Get(fmt.Sprintf("upstream-%d", i))
		}
	}()
	// Collections run beside the Gets until they are done; a deadlock fails the test instead of
	// hanging it until go test's timeout.
	collected := make(chan error, 1)
	go func() {
		for {
			var rm metricdata.ResourceMetrics
			if err := reader.Collect(context.Background(), &rm); err != nil {
				collected <- err
				return
			}
			select {
			case <-done:
				collected <- nil
				return
			default:
			}
		}
	}()
	select {
	case err := <-collected:
		if err != nil {
			t.Fatalf("collecting metrics: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Get and a metrics collection still running after a minute: deadlocked")
	}
	if got := len(set.States()); got != upstreams {
		t.Errorf("the set holds %d breakers, want %d", got, upstreams)
	}
}
