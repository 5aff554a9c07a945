package stage

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/syncbuf"
	"github.com/jetflow-dev/jetflow/internal/failure"
)

// Shutdown with messages in flight: the quick ones finish and are acked, the stuck ones are
// cancelled at the end of the grace period and naked; none is lost, Run returns in time and
// leaves no goroutine behind.
func TestShutdownFinishesOrNaksInFlightMessages(t *testing.T) {
	e := newEnv(t, envOpts{ackWait: 30 * time.Second})
	// Outputs are published asynchronously. The first async publish on a JetStream context
	// starts its ack subscription, which lives as long as the connection, not as Run: start it
	// before taking the baseline.
	if _, err := e.js.PublishAsync("ai.dlq.warm-up", []byte("x")); err != nil {
		t.Fatal(err)
	}
	<-e.js.PublishAsyncComplete()
	before := goleak.IgnoreCurrent()
	const grace = 500 * time.Millisecond
	cfg := e.cfg()
	cfg.Concurrency = 4
	cfg.GracePeriod = grace
	started := make(chan string, 4)
	finish := make(chan struct{})
	h := Typed(func(ctx context.Context, msg *wrapperspb.StringValue, in *Input) ([]Output, error) {
		started <- msg.GetValue()
		if strings.HasPrefix(msg.GetValue(), "quick") {
			<-finish
		} else {
			<-ctx.Done() // stuck until cancelled
			return nil, ctx.Err()
		}
		return []Output{{Subject: "out." + msg.GetValue(), Msg: msg}}, nil
	})
	ctx, cancel := context.WithCancel(e.ctx)
	stop := jstest.Run(t, ctx, e.stage(e.js, cfg, h).Run)
	for _, v := range []string{"quick1", "quick2", "stuck1", "stuck2"} {
		e.publish("work."+v, wrapperspb.String(v))
	}
	for range 4 {
		<-started
	}
	cancel()
	stoppedAt := time.Now()
	close(finish)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(stoppedAt); took > grace+2*time.Second {
		t.Fatalf("Run returned %v after cancel, grace period is %v", took, grace)
	}
	e.waitCount("OUT", 2)
	goleak.VerifyNone(t, before, goleak.IgnoreTopFunction("github.com/nats-io/nats.go.(*Conn).flusher"))

	// Nothing lost: a new worker finishes the naked ones, well before the 30 s ack wait would
	// have brought them back had they not been naked.
	e.run(e.cfg(), Typed(func(ctx context.Context, msg *wrapperspb.StringValue, in *Input) ([]Output, error) {
		return []Output{{Subject: "out." + msg.GetValue(), Msg: msg}}, nil
	}))
	e.waitCount("OUT", 4)
}

// A stage whose consumer does not exist yet waits for it; stopped meanwhile, Run returns nil at
// once and has started nothing: its puller would consult the gate before its first pull.
func TestRunStoppedBeforeTheConsumerExistsStartsNothing(t *testing.T) {
	e := newEnv(t, envOpts{})
	cfg := e.cfg()
	cfg.Consumer = "not-created"
	var logs syncbuf.Buffer
	var gate fakeGate
	s := e.stage(e.js, cfg, echo(&counter{}), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))), WithGate(&gate))

	stop := jstest.Run(t, e.ctx, s.Run)
	jstest.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		if !strings.Contains(logs.String(), "waiting for consumer") {
			return errors.New("the stage is not waiting for its consumer yet")
		}
		return nil
	})
	stoppedAt := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if took := time.Since(stoppedAt); took > time.Second {
		t.Errorf("Run returned %v after cancel", took)
	}

	ended, cancel := context.WithCancel(e.ctx)
	cancel()
	if err := s.Run(ended); err != nil {
		t.Fatalf("Run with an ended context = %v, want nil", err)
	}
	if n := gate.consulted.Load(); n != 0 {
		t.Fatalf("the gate was consulted %d times: Run started pulling without a consumer", n)
	}
}

// An option given nil keeps the default instead of panicking, as the workers' options do.
func TestNilOptionsKeepTheDefaults(t *testing.T) {
	e := newEnv(t, envOpts{})
	s := e.stage(e.js, e.cfg(), echo(&counter{}), WithLogger(nil), WithTracerProvider(nil), WithMeterProvider(nil), WithGate(nil))
	if s.log == nil || s.tracer == nil || s.meterProvider == nil || s.gate != nil {
		t.Fatalf("log %v, tracer %v, meter provider %v, gate %v: want the defaults and no gate", s.log, s.tracer, s.meterProvider, s.gate)
	}
	jstest.Run(t, e.ctx, s.Run)
	e.publish("work.n", wrapperspb.String("n"))
	e.waitCount("OUT", 1)
}

// New wraps the handler in the runtime's middleware: a panic becomes a permanent error, and
// Config.HandlerTimeout bounds the call.
func TestNewWrapsTheHandlerInTheRuntimeMiddleware(t *testing.T) {
	cfg := Config{Name: "work", Stream: "WORK", Consumer: "work", HandlerTimeout: time.Hour}
	s, err := New(nil, cfg, HandlerFunc(func(ctx context.Context, in *Input) ([]Output, error) {
		if in.Subject == "panic" {
			panic("boom")
		}
		if _, ok := ctx.Deadline(); !ok {
			return nil, errors.New("the handler's context has no deadline")
		}
		return nil, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.handler.Handle(context.Background(), &Input{}); err != nil {
		t.Fatalf("handler timeout not applied: %v", err)
	}
	if _, err := s.handler.Handle(context.Background(), &Input{Subject: "panic"}); !failure.IsPermanent(err) {
		t.Fatalf("panic = %v, want a permanent error", err)
	}
	if _, err := New(nil, cfg, nil); !errors.Is(err, ErrNoHandler) {
		t.Fatalf("New without a handler = %v, want ErrNoHandler", err)
	}
}
