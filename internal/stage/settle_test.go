package stage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/failure"
)

func TestRetryableFailureIsRedeliveredAfterScheduledDelay(t *testing.T) {
	e := newEnv(t, envOpts{})
	const delay = 700 * time.Millisecond
	cfg := e.cfg()
	cfg.Backoff = []time.Duration{delay}
	var mu sync.Mutex
	var seen []time.Time
	e.run(cfg, Typed(func(ctx context.Context, msg *wrapperspb.StringValue, in *Input) ([]Output, error) {
		mu.Lock()
		seen = append(seen, time.Now())
		n := len(seen)
		mu.Unlock()
		if n == 1 {
			return nil, errors.New("upstream answered 503")
		}
		return []Output{{Subject: "out.r", Msg: msg}}, nil
	}))
	e.publish("work.r", wrapperspb.String("r"))
	e.waitCount("OUT", 1)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 {
		t.Fatalf("handler ran %d times, want 2", len(seen))
	}
	gap := seen[1].Sub(seen[0])
	if gap < delay || gap > delay+1500*time.Millisecond {
		t.Fatalf("redelivered after %v, want %v (tolerance +1.5s)", gap, delay)
	}
}

func TestRetryAfterHintStretchesTheDelay(t *testing.T) {
	if got := retryDelay([]time.Duration{time.Second}, 1, 3*time.Second); got != 3*time.Second {
		t.Fatalf("delay = %v, want the hinted 3s", got)
	}
	if got := retryDelay([]time.Duration{time.Second, 2 * time.Second}, 9, 0); got != 2*time.Second {
		t.Fatalf("delay = %v, want the last entry to repeat", got)
	}
}

func TestPermanentFailureIsDeadLetteredAtOnce(t *testing.T) {
	e := newEnv(t, envOpts{})
	var calls counter
	e.run(e.cfg(), Typed(func(ctx context.Context, msg *wrapperspb.StringValue, in *Input) ([]Output, error) {
		calls.add("p")
		return nil, failure.Permanentf("model rejected the input: 400")
	}))
	seq := e.publishRaw("work.p", mustMarshal(t, wrapperspb.String("p")), "Trace-Me", "yes", jetstream.MsgIDHeader, "client-1")
	dl := e.waitCount("DLQ", 1)[0]
	checkDeadLetter(t, dl, deadLetterWant{
		subject: "ai.dlq.work", kind: KindPermanent, reasonHas: "model rejected the input: 400",
		originalSubject: "work.p", seq: seq, deliveries: 1,
	})
	if dl.Header.Get("Trace-Me") != "yes" || dl.Header.Get(HeaderOriginalMsgID) != "client-1" {
		t.Errorf("original headers not kept: %v", dl.Header)
	}
	var payload wrapperspb.StringValue
	if err := proto.Unmarshal(dl.Data, &payload); err != nil || payload.GetValue() != "p" {
		t.Errorf("dead letter payload = %q, %v; want the original", payload.GetValue(), err)
	}
	e.waitCount("WORK", 0)
	if n := calls.get("p"); n != 1 {
		t.Errorf("handler ran %d times, want 1", n)
	}
}

func TestLastDeliveryIsDeadLettered(t *testing.T) {
	e := newEnv(t, envOpts{maxDeliver: 3})
	var calls counter
	e.run(e.cfg(), Typed(func(ctx context.Context, msg *wrapperspb.StringValue, in *Input) ([]Output, error) {
		calls.add("x")
		return nil, errors.New("still down")
	}))
	seq := e.publish("work.x", wrapperspb.String("x"))
	dl := e.waitCount("DLQ", 1)[0]
	checkDeadLetter(t, dl, deadLetterWant{
		subject: "ai.dlq.work", kind: KindExhausted, reasonHas: "still down",
		originalSubject: "work.x", seq: seq, deliveries: 3,
	})
	if n := calls.get("x"); n != 3 {
		t.Errorf("handler ran %d times, want 3", n)
	}
}

// stageMetrics reads a stage's counters from a manual reader: "processed/<outcome>",
// "retried" and "dead_lettered".
func stageMetrics(t *testing.T) (metric.MeterProvider, func() map[string]int64) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = provider.Shutdown(context.Background()) })
	return provider, func() map[string]int64 {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatalf("collecting metrics: %v", err)
		}
		got := map[string]int64{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				sum, ok := m.Data.(metricdata.Sum[int64])
				if !ok {
					continue
				}
				for _, p := range sum.DataPoints {
					key := strings.TrimPrefix(m.Name, "jetflow.stage.")
					if outcome, ok := p.Attributes.Value("outcome"); ok {
						key += "/" + outcome.AsString()
					}
					got[key] += p.Value
				}
			}
		}
		return got
	}
}

// A requeue whose publish fails falls back to a delayed nak: a retry, in both counters.
func TestFailedRequeueCountsAsRetried(t *testing.T) {
	e := newEnv(t, envOpts{})
	// The original fills the stream: its copy is refused until the original is acked, which
	// waits for the copy.
	if _, err := e.js.UpdateStream(e.ctx, jetstream.StreamConfig{
		Name: "WORK", Subjects: []string{"work.>"}, Retention: jetstream.WorkQueuePolicy, MaxMsgs: 1, Discard: jetstream.DiscardNew,
	}); err != nil {
		t.Fatal(err)
	}
	provider, read := stageMetrics(t)
	e.run(e.cfg(), Typed(func(ctx context.Context, msg *wrapperspb.StringValue, in *Input) ([]Output, error) {
		return nil, failure.NotAttempted(errors.New("circuit breaker open"))
	}), WithMeterProvider(provider))
	e.publish("work.f", wrapperspb.String("f"))
	jstest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		m := read()
		if m["processed/retried"] < 1 || m["retried"] != m["processed/retried"] || m["processed/requeued"] != 0 {
			return fmt.Errorf("metrics %v, want retries counted as processed/retried and retried alike, and no requeue", m)
		}
		return nil
	})
}

// A dead letter whose publish fails keeps the original for a later try: a retry, in both
// counters; once the dead-letter stream is back the message is dead-lettered once.
func TestFailedDeadLetterCountsAsRetried(t *testing.T) {
	e := newEnv(t, envOpts{})
	if err := e.js.DeleteStream(e.ctx, "DLQ"); err != nil {
		t.Fatal(err)
	}
	provider, read := stageMetrics(t)
	e.run(e.cfg(), Typed(func(ctx context.Context, msg *wrapperspb.StringValue, in *Input) ([]Output, error) {
		return nil, failure.Permanentf("model rejected the input: 400")
	}), WithMeterProvider(provider))
	e.publish("work.d", wrapperspb.String("d"))
	jstest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		m := read()
		if m["processed/retried"] < 1 || m["retried"] != m["processed/retried"] || m["dead_lettered"] != 0 {
			return fmt.Errorf("metrics %v, want the failed dead letter counted as processed/retried and retried alike", m)
		}
		return nil
	})
	e.mustStream(jetstream.StreamConfig{Name: "DLQ", Subjects: []string{"ai.dlq.>"}})
	e.waitCount("DLQ", 1)
	jstest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		if m := read(); m["processed/dead_lettered"] != 1 || m["dead_lettered"] != 1 {
			return fmt.Errorf("metrics %v, want one dead letter", m)
		}
		return nil
	})
}
