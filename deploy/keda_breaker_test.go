package deploy

import (
	"context"
	"fmt"
	"maps"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	promqlengine "github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	autoscalingv2 "k8s.io/api/autoscaling/v2"

	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/stage"
)

// Trigger types of the ScaledObjects: the lag of a consumer, and whether its stage is stalled.
const (
	triggerLag     = "nats-jetstream"
	triggerStalled = "prometheus"
)

// canProgressMetric is the stage's gauge as Prometheus names it.
var canProgressMetric = strings.ReplaceAll(stage.CanProgressMetric, ".", "_")

// stalledQuery is the query of a stage's <consumer>-stalled trigger: the number of replicas
// running the stage when none of them can progress, 0 when one can, no data when none runs.
func stalledQuery(consumer string) string {
	sel := fmt.Sprintf("%s{stage=%q}", canProgressMetric, consumer)
	return fmt.Sprintf("count(%s) * (1 - max(%s))", sel, sel)
}

// evalStalled runs a stalled trigger's query with Prometheus's engine on one can-progress
// series per replica running, and reads the answer as KEDA's prometheus scaler does: no data is
// 0 (ignoreNullValues), more than one element is an error.
func evalStalled(t *testing.T, query, consumer string, canProgress []float64) float64 {
	t.Helper()
	var series []storage.Series
	for i, v := range canProgress {
		lset := labels.FromStrings(model.MetricNameLabel, canProgressMetric, "pod", fmt.Sprintf("%s-%d", consumer, i), "stage", consumer)
		series = append(series, storage.NewListSeries(lset, []chunks.Sample{floatSample{f: v}}))
	}
	engine := promqlengine.NewEngine(promqlengine.EngineOpts{MaxSamples: 1000, Timeout: time.Minute})
	q, err := engine.NewInstantQuery(t.Context(), memoryQueryable(series), nil, query, time.UnixMilli(0))
	if err != nil {
		t.Fatalf("preparing %q: %v", query, err)
	}
	defer q.Close()
	vec, err := q.Exec(t.Context()).Vector()
	if err != nil {
		t.Fatalf("evaluating %q: %v", query, err)
	}
	switch len(vec) {
	case 0:
		return 0
	case 1:
		return vec[0].F
	default:
		t.Fatalf("%q returned %d elements; KEDA's prometheus scaler takes one", query, len(vec))
		return 0
	}
}

// memoryQueryable serves series, filtered by the selectors' matchers, to Prometheus's engine.
func memoryQueryable(series []storage.Series) storage.Queryable {
	return &storage.MockQueryable{MockQuerier: &storage.MockQuerier{
		SelectMockFunction: func(_ bool, _ *storage.SelectHints, matchers ...*labels.Matcher) storage.SeriesSet {
			var out []storage.Series
			for _, s := range series {
				if matchAll(s.Labels(), matchers) {
					out = append(out, s)
				}
			}
			return &listSeriesSet{series: out}
		},
	}}
}

func matchAll(lset labels.Labels, matchers []*labels.Matcher) bool {
	for _, m := range matchers {
		if !m.Matches(lset.Get(m.Name)) {
			return false
		}
	}
	return true
}

// listSeriesSet is a storage.SeriesSet over a slice.
type listSeriesSet struct {
	series []storage.Series
	next   int
}

func (l *listSeriesSet) Next() bool                        { l.next++; return l.next <= len(l.series) }
func (l *listSeriesSet) At() storage.Series                { return l.series[l.next-1] }
func (l *listSeriesSet) Err() error                        { return nil }
func (l *listSeriesSet) Warnings() annotations.Annotations { return nil }

// floatSample is one float sample at time 0, the time the queries are evaluated at.
type floatSample struct{ f float64 }

func (s floatSample) T() int64                      { return 0 }
func (s floatSample) ST() int64                     { return 0 }
func (s floatSample) F() float64                    { return s.f }
func (s floatSample) H() *histogram.Histogram       { return nil }
func (s floatSample) FH() *histogram.FloatHistogram { return nil }
func (s floatSample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s floatSample) Copy() chunks.Sample           { return s }

// lagTrigger is a stage's nats-jetstream trigger and the lag one replica should carry.
type lagTrigger struct {
	name      string
	threshold float64
}

func lagTriggers(t *testing.T, so *kedav1alpha1.ScaledObject) []lagTrigger {
	t.Helper()
	var out []lagTrigger
	for _, tr := range so.Spec.Triggers {
		if tr.Type != triggerLag {
			continue
		}
		thr, err := strconv.ParseFloat(tr.Metadata["lagThreshold"], 64)
		if err != nil || thr <= 0 {
			t.Fatalf("ScaledObject %s trigger %s: lagThreshold %q", so.Name, tr.Name, tr.Metadata["lagThreshold"])
		}
		out = append(out, lagTrigger{name: tr.Name, threshold: thr})
	}
	return out
}

// compileFormula runs KEDA's own webhook validation of the scaling modifiers, which also
// compiles the formula as the operator does (after wrapping it in float()).
func compileFormula(t *testing.T, so *kedav1alpha1.ScaledObject) *vm.Program {
	t.Helper()
	prog, err := kedav1alpha1.ValidateAndCompileScalingModifiers(so.DeepCopy())
	if err != nil {
		t.Fatalf("KEDA rejects the scaling modifiers of %s: %v", so.Name, err)
	}
	return prog
}

// evalFormula runs the compiled formula on trigger values keyed by trigger name, as KEDA's
// calculateScalingModifiersFormula does (pkg/scaling/modifiers/formula.go).
func evalFormula(t *testing.T, prog *vm.Program, values map[string]float64) float64 {
	t.Helper()
	data := make(map[string]any, len(values))
	for k, v := range values {
		data[k] = v
	}
	out, err := expr.Run(prog, data)
	if err != nil {
		t.Fatalf("running the formula on %v: %v", values, err)
	}
	f, ok := out.(float64)
	if !ok {
		t.Fatalf("formula returned %T %v, want float64", out, out)
	}
	return f
}

// hpaTolerance is the HPA controller's default --horizontal-pod-autoscaler-tolerance.
const hpaTolerance = 0.1

// desiredReplicas is what KEDA and the HPA make of the formula's value with current replicas
// running: KEDA takes a ScaledObject that may scale to zero down to zero when the value is at
// or below activationTarget; otherwise the HPA, for an AverageValue external metric, keeps
// current within its tolerance and else asks for ceil(value / target) (kubernetes
// pkg/controller/podautoscaler/replica_calculator.go, GetExternalPerPodMetricReplicas),
// clamped to the HPA's bounds. Stabilization windows come on top and are not modelled.
func desiredReplicas(t *testing.T, so *kedav1alpha1.ScaledObject, value float64, current int32) int32 {
	t.Helper()
	sm := so.Spec.Advanced.ScalingModifiers
	target, err := strconv.ParseFloat(sm.Target, 64)
	if err != nil {
		t.Fatal(err)
	}
	activation := 0.0
	if sm.ActivationTarget != "" {
		if activation, err = strconv.ParseFloat(sm.ActivationTarget, 64); err != nil {
			t.Fatal(err)
		}
	}
	if so.Spec.MinReplicaCount != nil && *so.Spec.MinReplicaCount == 0 && value <= activation {
		return 0
	}
	desired := int32(math.Ceil(value / target))
	if ratio := value / (target * float64(current)); math.Abs(ratio-1) <= hpaTolerance {
		desired = current
	}
	return min(max(desired, *so.GetHPAMinReplicas()), so.GetHPAMaxReplicas())
}

// TestScaledObjectsCombineLagWithTheBreakers checks the shape the formula relies on: KEDA's
// webhook validation of the scaling modifiers and of the fallback passes, the target is an
// integer (KEDA's fallback ignores a ScaledObject whose formula target is not, see
// pkg/fallback HasValidFallback) with an AverageValue metric, and every lag trigger has one
// stalled trigger whose query is stalledQuery of its consumer, on a Prometheus URL.
func TestScaledObjectsCombineLagWithTheBreakers(t *testing.T) {
	sos := all[*kedav1alpha1.ScaledObject](manifestFiles(t, dirBase))
	if len(sos) == 0 {
		t.Fatal("no ScaledObject")
	}
	for _, so := range sos {
		t.Run(so.Name, func(t *testing.T) {
			if !so.IsUsingModifiers() {
				t.Fatal("no advanced.scalingModifiers")
			}
			compileFormula(t, so)
			if err := kedav1alpha1.CheckFallbackValid(so); err != nil {
				t.Errorf("KEDA rejects the fallback: %v", err)
			}
			sm := so.Spec.Advanced.ScalingModifiers
			if n, err := strconv.ParseInt(sm.Target, 10, 64); err != nil || n <= 0 {
				t.Errorf("target %q, want a positive integer: KEDA's fallback needs one", sm.Target)
			}
			if sm.MetricType != autoscalingv2.AverageValueMetricType {
				t.Errorf("metricType %q, want AverageValue: the formula's value is the replicas wanted", sm.MetricType)
			}
			if so.Spec.Fallback == nil {
				t.Error("no fallback: a source that is down would leave the HPA without a metric")
			}
			want := map[string]string{}
			for _, lt := range lagTriggers(t, so) {
				want[lt.name+"-stalled"] = stalledQuery(lt.name)
			}
			got := map[string]string{}
			for _, tr := range so.Spec.Triggers {
				switch tr.Type {
				case triggerLag:
				case triggerStalled:
					got[tr.Name] = tr.Metadata["query"]
					if keys := slices.Sorted(maps.Keys(tr.Metadata)); !slices.Equal(keys, []string{"ignoreNullValues", "query", "serverAddress", "threshold"}) {
						t.Errorf("trigger %s metadata keys %v", tr.Name, keys)
					}
					if u, err := url.Parse(tr.Metadata["serverAddress"]); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
						t.Errorf("trigger %s serverAddress %q, want an http(s) URL", tr.Name, tr.Metadata["serverAddress"])
					}
					// No data (no replica scraped yet) reads as "not stalled": lag alone decides.
					if tr.Metadata["ignoreNullValues"] != "true" {
						t.Errorf("trigger %s ignoreNullValues %q, want \"true\"", tr.Name, tr.Metadata["ignoreNullValues"])
					}
				default:
					t.Errorf("trigger %s type %q", tr.Name, tr.Type)
				}
			}
			if !maps.Equal(got, want) {
				t.Errorf("stalled triggers %v, want %v", got, want)
			}
		})
	}
}

// TestStalledQueriesNameExportedMetrics parses every prometheus trigger's query with
// Prometheus's parser and checks that each metric it names is on a running worker's /metrics,
// selected for the trigger's own stage.
func TestStalledQueriesNameExportedMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a worker")
	}
	exported := workerMetrics(t)
	for _, so := range all[*kedav1alpha1.ScaledObject](manifestFiles(t, dirBase)) {
		for _, tr := range so.Spec.Triggers {
			if tr.Type != triggerStalled {
				continue
			}
			expr, err := promql.ParseExpr(tr.Metadata["query"])
			if err != nil {
				t.Errorf("%s/%s: parsing %q: %v", so.Name, tr.Name, tr.Metadata["query"], err)
				continue
			}
			consumer := strings.TrimSuffix(tr.Name, "-stalled")
			parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
				vs, ok := n.(*parser.VectorSelector)
				if !ok {
					return nil
				}
				if !exported[vs.Name] {
					t.Errorf("%s/%s: %s is not exported by the worker; it exports %v", so.Name, tr.Name, vs.Name, slices.Sorted(maps.Keys(exported)))
				}
				var stageMatched bool
				for _, m := range vs.LabelMatchers {
					if m.Name == "stage" && m.Type == labels.MatchEqual && m.Value == consumer {
						stageMatched = true
					}
				}
				if !stageMatched {
					t.Errorf("%s/%s: selector %s does not select stage %q", so.Name, tr.Name, vs, consumer)
				}
				return nil
			})
		}
	}
}

// TestStalledQuery pins what a stalled trigger answers, evaluated by Prometheus's engine: the
// replicas running when none can progress, else 0, and 0 when no replica exports the gauge.
func TestStalledQuery(t *testing.T) {
	for _, c := range []struct {
		name        string
		canProgress []float64
		want        float64
	}{
		{"no replica", nil, 0},
		{"one replica progressing", []float64{1}, 0},
		{"one replica stalled", []float64{0}, 1},
		{"four replicas stalled", []float64{0, 0, 0, 0}, 4},
		{"one of four progressing", []float64{0, 1, 0, 0}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := evalStalled(t, stalledQuery("chat-generate"), "chat-generate", c.canProgress); got != c.want {
				t.Errorf("%s = %v, want %v", stalledQuery("chat-generate"), got, c.want)
			}
		})
	}
}

// breakerStates are the states of a stage's breaker the table runs through.
var breakerStates = []breaker.State{breaker.Closed, breaker.Open, breaker.HalfOpen}

// TestScalingModifiersFollowTheBreaker evaluates every ScaledObject's formula with the
// expression library KEDA uses, for each stage, lag 0, 500 and 5,000, its breaker closed, open
// and half-open (the gauge read from a real stage gated by a real breaker in that state), and
// 1 or 4 replicas running, and checks the replicas the HPA would then ask for against the rule
// the README states: lag drives scaling (ceil(lag / lagThreshold) within min and max) while the
// breaker is closed; otherwise no more than the replicas running, and at least one while work
// is pending. A few rows are pinned to numbers, as the README's table gives them.
func TestScalingModifiersFollowTheBreaker(t *testing.T) {
	gauge := map[breaker.State]float64{}
	for _, s := range breakerStates {
		gauge[s] = canProgressWith(t, s)
	}
	if gauge[breaker.Closed] != 1 || gauge[breaker.Open] != 0 || gauge[breaker.HalfOpen] != 0 {
		t.Fatalf("can_progress by breaker state %v, want closed 1, open 0, half-open 0", gauge)
	}

	pinned := map[string]int32{
		// chat-generate: lagThreshold 8, replicas 1 to 10.
		"chat-handler/chat-generate/lag=0/closed/running=4":       1,
		"chat-handler/chat-generate/lag=500/closed/running=1":     10,
		"chat-handler/chat-generate/lag=500/open/running=1":       1,
		"chat-handler/chat-generate/lag=500/open/running=4":       4,
		"chat-handler/chat-generate/lag=5000/half-open/running=4": 4,
		"chat-handler/chat-generate/lag=5000/closed/running=4":    10,
		// chat-retrieve: lagThreshold 16.
		"chat-handler/chat-retrieve/lag=0/open/running=1":     1,
		"chat-handler/chat-retrieve/lag=500/closed/running=4": 10,
		// pipeline-bridge: replicas 0 to 3.
		"pipeline-bridge/pipeline-bridge/lag=0/closed/running=1":    0,
		"pipeline-bridge/pipeline-bridge/lag=0/open/running=1":      0,
		"pipeline-bridge/pipeline-bridge/lag=500/open/running=1":    1,
		"pipeline-bridge/pipeline-bridge/lag=500/closed/running=1":  3,
		"pipeline-bridge/pipeline-bridge/lag=5000/open/running=4":   3,
		"pipeline-bridge/pipeline-bridge/lag=5000/closed/running=1": 3,
	}
	seen := map[string]bool{}
	type stalledKey struct {
		consumer    string
		running     int32
		canProgress float64
	}
	stalledCache := map[stalledKey]float64{}
	stalled := func(consumer string, running int32, canProgress float64) float64 {
		k := stalledKey{consumer, running, canProgress}
		if v, ok := stalledCache[k]; ok {
			return v
		}
		v := evalStalled(t, stalledQuery(consumer), consumer, slices.Repeat([]float64{canProgress}, int(running)))
		stalledCache[k] = v
		return v
	}
	for _, so := range all[*kedav1alpha1.ScaledObject](manifestFiles(t, dirBase)) {
		prog := compileFormula(t, so)
		lags := lagTriggers(t, so)
		for _, stalledStage := range lags {
			for _, lag := range []float64{0, 500, 5000} {
				for _, state := range breakerStates {
					for _, running := range []int32{1, 4} {
						name := fmt.Sprintf("%s/%s/lag=%v/%s/running=%d", so.Name, stalledStage.name, lag, state, running)
						values := map[string]float64{}
						for _, lt := range lags { // the other stages: no lag, breakers closed
							values[lt.name] = 0
							values[lt.name+"-stalled"] = stalled(lt.name, running, 1)
						}
						values[stalledStage.name] = lag
						values[stalledStage.name+"-stalled"] = stalled(stalledStage.name, running, gauge[state])

						got := desiredReplicas(t, so, evalFormula(t, prog, values), running)
						want := promised(so, lag/stalledStage.threshold, state, running)
						if got != want {
							t.Errorf("%s: the HPA would ask for %d replicas, the README promises %d", name, got, want)
						}
						if p, ok := pinned[name]; ok {
							seen[name] = true
							if got != p {
								t.Errorf("%s: %d replicas, the README's table says %d", name, got, p)
							}
						}
					}
				}
			}
		}
	}
	for name := range pinned {
		if !seen[name] {
			t.Errorf("pinned row %s matches no case", name)
		}
	}
}

// promised is the README's rule: with the breaker closed, lag / lagThreshold replicas rounded up;
// otherwise that, but no more than the replicas running; at least one while work is pending
// (lag > 0), none at all only for a ScaledObject that may scale to zero and has no lag; always
// within minReplicaCount and maxReplicaCount.
func promised(so *kedav1alpha1.ScaledObject, replicasForLag float64, state breaker.State, running int32) int32 {
	want := int32(math.Ceil(replicasForLag))
	if state != breaker.Closed {
		want = min(want, running)
	}
	if replicasForLag == 0 && *so.Spec.MinReplicaCount == 0 {
		return 0
	}
	return min(max(want, *so.GetHPAMinReplicas()), so.GetHPAMaxReplicas())
}

// canProgressWith builds a stage gated by a breaker set, puts the breaker in state, and reads
// the stage's can-progress gauge as the exporter would.
func canProgressWith(t *testing.T, state breaker.State) float64 {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = provider.Shutdown(context.Background()) })
	// An open breaker must stay open until the gauge is read; a half-open one comes soon.
	openFor := time.Hour
	if state == breaker.HalfOpen {
		openFor = 20 * time.Millisecond
	}
	set := breaker.NewSet("tts", breaker.Settings{Timeout: openFor, ConsecutiveFailures: 1})
	idle := stage.HandlerFunc(func(context.Context, *stage.Input) ([]stage.Output, error) { return nil, nil })
	if _, err := stage.New(nil, stage.Config{Name: "tts", Stream: "AI_TTS", Consumer: "tts"}, idle,
		stage.WithGate(set), stage.WithMeterProvider(provider)); err != nil {
		t.Fatal(err)
	}
	b := set.Get("tts-server")
	if state != breaker.Closed {
		_, _ = breaker.Do(t.Context(), b, func(context.Context) (struct{}, error) {
			return struct{}{}, fmt.Errorf("503 service unavailable")
		})
	}
	jstest.Eventually(t, 5*time.Second, 5*time.Millisecond, func() error {
		if s := b.State(); s != state {
			return fmt.Errorf("breaker %v, want %v", s, state)
		}
		return nil
	})
	// A half-open breaker stays so until a probe, and nothing probes here.
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if g, ok := m.Data.(metricdata.Gauge[int64]); ok && m.Name == stage.CanProgressMetric && len(g.DataPoints) == 1 {
				return float64(g.DataPoints[0].Value)
			}
		}
	}
	t.Fatalf("no %s point", stage.CanProgressMetric)
	return 0
}
