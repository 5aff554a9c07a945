package stage

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
)

// TestCanProgressFollowsTheBreaker drives a real breaker set through closed, open, half-open
// and closed again, and reads the stage's can-progress gauge as an exporter would, with the
// stage attribute the autoscaler's query selects on.
func TestCanProgressFollowsTheBreaker(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = provider.Shutdown(context.Background()) })
	const openFor = 50 * time.Millisecond
	set := breaker.NewSet("chat-generate", breaker.Settings{Timeout: openFor, ConsecutiveFailures: 1})
	if _, err := New(nil, Config{Name: "chat-generate", Stream: "AI_CHAT", Consumer: "chat-generate"},
		HandlerFunc(func(context.Context, *Input) ([]Output, error) { return nil, nil }),
		WithGate(set), WithMeterProvider(provider)); err != nil {
		t.Fatal(err)
	}
	want := func(v int64) func() error {
		return func() error {
			if got, err := canProgress(t, reader, "chat-generate"); err != nil || got != v {
				return fmt.Errorf("can_progress %d (%v), want %d", got, err, v)
			}
			return nil
		}
	}
	llm := set.Get("llm")
	call := func(err error) func(context.Context) (struct{}, error) {
		return func(context.Context) (struct{}, error) { return struct{}{}, err }
	}

	if err := want(1)(); err != nil {
		t.Fatalf("closed: %v", err)
	}
	if _, err := breaker.Do(t.Context(), llm, call(errors.New("503 service unavailable"))); err == nil {
		t.Fatal("the failing call succeeded")
	}
	if llm.State() != breaker.Open {
		t.Fatalf("breaker %v after a failure, want open", llm.State())
	}
	if err := want(0)(); err != nil {
		t.Fatalf("open: %v", err)
	}
	jstest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		if s := llm.State(); s != breaker.HalfOpen {
			return fmt.Errorf("breaker %v, want half-open after %v", s, openFor)
		}
		return nil
	})
	if err := want(0)(); err != nil {
		t.Fatalf("half-open: %v", err)
	}
	if _, err := breaker.Do(t.Context(), llm, call(nil)); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if err := want(1)(); err != nil {
		t.Fatalf("closed again: %v", err)
	}
}

// TestCanProgressWithoutGate: a stage with no gate always says it can progress.
func TestCanProgressWithoutGate(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = provider.Shutdown(context.Background()) })
	if _, err := New(nil, Config{Name: "tts", Stream: "AI_TTS", Consumer: "tts"},
		HandlerFunc(func(context.Context, *Input) ([]Output, error) { return nil, nil }),
		WithMeterProvider(provider)); err != nil {
		t.Fatal(err)
	}
	if got, err := canProgress(t, reader, "tts"); err != nil || got != 1 {
		t.Errorf("can_progress %d (%v), want 1", got, err)
	}
}

// canProgress collects the gauge's point for stage.
func canProgress(t *testing.T, reader sdkmetric.Reader, stage string) (int64, error) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		return 0, fmt.Errorf("collecting metrics: %w", err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != CanProgressMetric {
				continue
			}
			g, ok := m.Data.(metricdata.Gauge[int64])
			if !ok {
				return 0, fmt.Errorf("%s is a %T, want an int64 gauge", m.Name, m.Data)
			}
			for _, p := range g.DataPoints {
				if v, _ := p.Attributes.Value("stage"); v.AsString() == stage {
					return p.Value, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("no %s point for stage %s", CanProgressMetric, stage)
}
