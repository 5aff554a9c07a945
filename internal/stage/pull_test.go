package stage

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
)

func TestConcurrencyBoundsUnackedMessages(t *testing.T) {
	const n = 3
	e := newEnv(t, envOpts{})
	release := make(chan struct{})
	var running, peak atomic.Int32
	cfg := e.cfg()
	cfg.Concurrency = n
	e.run(cfg, Typed(func(ctx context.Context, msg *wrapperspb.StringValue, in *Input) ([]Output, error) {
		r := running.Add(1)
		for {
			p := peak.Load()
			if r <= p || peak.CompareAndSwap(p, r) {
				break
			}
		}
		defer running.Add(-1)
		<-release
		return nil, nil
	}))
	for i := range 20 {
		e.publish("work."+strconv.Itoa(i), wrapperspb.String(strconv.Itoa(i)))
	}
	jstest.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		if running.Load() != n {
			return fmt.Errorf("%d handlers running, want %d", running.Load(), n)
		}
		return nil
	})
	// Give the server every chance to over-deliver, looking all along.
	jstest.Consistently(t, 200*time.Millisecond, 20*time.Millisecond, func() error {
		if info := e.consumerInfo(); info.NumAckPending > n {
			return fmt.Errorf("num_ack_pending = %d with concurrency %d", info.NumAckPending, n)
		}
		return nil
	})
	close(release)
	e.waitCount("WORK", 0)
	if peak.Load() > n {
		t.Fatalf("peak concurrency %d > %d", peak.Load(), n)
	}
}

// Slow handlers with a short ack wait: nothing sits in a client buffer while its ack wait runs
// out, so nothing is redelivered.
func TestNoMessageExpiresInAClientBuffer(t *testing.T) {
	// 12 messages of 300 ms each through 2 handlers take 1.8 s: any message that waited in a
	// client buffer would outlive the 1 s ack wait and be redelivered.
	e := newEnv(t, envOpts{ackWait: time.Second})
	var calls counter
	cfg := e.cfg()
	cfg.Concurrency = 2
	e.run(cfg, Typed(func(ctx context.Context, msg *wrapperspb.StringValue, in *Input) ([]Output, error) {
		calls.add(msg.GetValue())
		return nil, simulatedWork(ctx, 300*time.Millisecond)
	}))
	for i := range 12 {
		e.publish("work."+strconv.Itoa(i), wrapperspb.String(strconv.Itoa(i)))
	}
	e.waitCount("WORK", 0)
	for i := range 12 {
		if n := calls.get(strconv.Itoa(i)); n != 1 {
			t.Errorf("message %d handled %d times", i, n)
		}
	}
	if info := e.consumerInfo(); info.NumRedelivered != 0 {
		t.Fatalf("num_redelivered = %d, want 0", info.NumRedelivered)
	}
}

func TestOpenGateStopsPulling(t *testing.T) {
	e := newEnv(t, envOpts{})
	var gate fakeGate
	gate.open.Store(true)
	var calls counter
	e.run(e.cfg(), echo(&calls), WithGate(&gate))
	e.publish("work.g", wrapperspb.String("g"))
	// The stage consults the gate before every pull: once it has done so a few times since the
	// message was stored, it had every chance to pull it.
	since := gate.consulted.Load()
	jstest.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n := gate.consulted.Load() - since; n < 3 {
			return fmt.Errorf("gate consulted %d times since the publish", n)
		}
		return nil
	})
	if calls.get("g") != 0 {
		t.Fatal("pulled while the gate was open")
	}
	if info := e.consumerInfo(); info.NumAckPending != 0 || info.NumPending != 1 {
		t.Fatalf("num_ack_pending=%d num_pending=%d while gated", info.NumAckPending, info.NumPending)
	}
	gate.open.Store(false)
	e.waitCount("OUT", 1)
}

type fakeGate struct {
	open      atomic.Bool
	consulted atomic.Int64 // OpenFor calls
}

func (g *fakeGate) OpenFor() time.Duration {
	g.consulted.Add(1)
	if g.open.Load() {
		return 50 * time.Millisecond
	}
	return 0
}

// A stage idle through several pull-request expiries gets each expired request's slots back
// (408 with Nats-Pending-Messages) and still takes every message afterwards.
func TestExpiredPullRequestsGiveTheirSlotsBack(t *testing.T) {
	e := newEnv(t, envOpts{})
	var calls counter
	cfg := e.cfg()
	cfg.Concurrency = 2
	cfg.FetchWait = 100 * time.Millisecond
	e.run(cfg, echo(&calls))
	// Idle for five expiries of its pull requests.
	jstest.Consistently(t, 500*time.Millisecond, 50*time.Millisecond, func() error {
		if info := e.consumerInfo(); info.NumAckPending != 0 || info.NumWaiting > 2 {
			return fmt.Errorf("idle stage: num_ack_pending=%d num_waiting=%d", info.NumAckPending, info.NumWaiting)
		}
		return nil
	})
	for i := range 6 {
		e.publish("work.e"+strconv.Itoa(i), wrapperspb.String("e"+strconv.Itoa(i)))
	}
	e.waitCount("OUT", 6)
	for i := range 6 {
		if n := calls.get("e" + strconv.Itoa(i)); n != 1 {
			t.Errorf("message e%d handled %d times", i, n)
		}
	}
}

// A deleted consumer ends the stage's pull requests (409 Consumer Deleted): the stage keeps
// asking, with backoff, and pulls again from the consumer once it is back.
func TestStagePullsAgainFromARecreatedConsumer(t *testing.T) {
	e := newEnv(t, envOpts{})
	var calls counter
	e.run(e.cfg(), echo(&calls))
	e.publish("work.before", wrapperspb.String("before"))
	e.waitCount("OUT", 1)
	if err := e.js.DeleteConsumer(e.ctx, "WORK", "work"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.js.CreateConsumer(e.ctx, "WORK", jetstream.ConsumerConfig{
		Durable: "work", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 5 * time.Second, MaxDeliver: 5, MaxAckPending: 1000,
	}); err != nil {
		t.Fatal(err)
	}
	e.publish("work.after", wrapperspb.String("after"))
	e.waitCount("OUT", 2)
	if calls.get("after") != 1 {
		t.Fatalf("message after the consumer came back handled %d times", calls.get("after"))
	}
}
