package breaker

import (
	"errors"
	"maps"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
)

// collect reads the breaker metrics: the gauge by (stage, upstream) and the transition counts
// by (stage, upstream, state).
func collect(t *testing.T, r *sdkmetric.ManualReader) (gauge, transitions map[string]int64) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(t.Context(), &rm); err != nil {
		t.Fatalf("collecting metrics: %v", err)
	}
	key := func(attrs attribute.Set, keys ...attribute.Key) string {
		var s string
		for _, k := range keys {
			v, _ := attrs.Value(k)
			s += "/" + v.AsString()
		}
		return s[1:]
	}
	gauge, transitions = map[string]int64{}, map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch m.Name {
			case StateMetric:
				for _, p := range m.Data.(metricdata.Gauge[int64]).DataPoints {
					gauge[key(p.Attributes, "stage", "upstream")] = p.Value
				}
			case TransitionsMetric:
				for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
					transitions[key(p.Attributes, "stage", "upstream", "state")] = p.Value
				}
			}
		}
	}
	return gauge, transitions
}

func TestMetricsReportState(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = provider.Shutdown(t.Context()) })
	set := NewSet("chat", Settings{ConsecutiveFailures: 1, Timeout: 30 * time.Millisecond},
		WithMeter(provider.Meter("breaker-test")))
	llm, milvus := set.Get(LLM), set.Get(Milvus)
	u := &upstream{}

	steps := []struct {
		name        string
		act         func(t *testing.T)
		gauge       map[string]int64
		transitions map[string]int64
	}{
		{
			name:        "both closed",
			act:         func(*testing.T) {},
			gauge:       map[string]int64{"chat/llm": 0, "chat/milvus": 0},
			transitions: map[string]int64{},
		},
		{
			name:        "llm open",
			act:         func(t *testing.T) { trip(t, llm, u) },
			gauge:       map[string]int64{"chat/llm": 2, "chat/milvus": 0},
			transitions: map[string]int64{"chat/llm/open": 1},
		},
		{
			// The gauge shows half-open once Timeout passed, before any call moves the breaker.
			name: "llm timeout passed",
			act: func(t *testing.T) {
				jstest.Eventually(t, 5*time.Second, 2*time.Millisecond, func() error {
					if g, _ := collect(t, reader); g["chat/llm"] != 1 {
						return errors.New("gauge still reports open")
					}
					return nil
				})
			},
			gauge:       map[string]int64{"chat/llm": 1, "chat/milvus": 0},
			transitions: map[string]int64{"chat/llm/open": 1},
		},
		{
			name: "llm probe succeeded",
			act: func(t *testing.T) {
				if _, err := Do(t.Context(), llm, u.answer(nil)); err != nil {
					t.Fatalf("probe: %v", err)
				}
			},
			gauge:       map[string]int64{"chat/llm": 0, "chat/milvus": 0},
			transitions: map[string]int64{"chat/llm/open": 1, "chat/llm/half-open": 1, "chat/llm/closed": 1},
		},
		{
			name:  "milvus open",
			act:   func(t *testing.T) { trip(t, milvus, u) },
			gauge: map[string]int64{"chat/llm": 0, "chat/milvus": 2},
			transitions: map[string]int64{"chat/llm/open": 1, "chat/llm/half-open": 1, "chat/llm/closed": 1,
				"chat/milvus/open": 1},
		},
	}
	for _, step := range steps {
		step.act(t)
		gauge, transitions := collect(t, reader)
		if !maps.Equal(gauge, step.gauge) {
			t.Errorf("%s: gauge = %v, want %v", step.name, gauge, step.gauge)
		}
		if !maps.Equal(transitions, step.transitions) {
			t.Errorf("%s: transitions = %v, want %v", step.name, transitions, step.transitions)
		}
	}
}
