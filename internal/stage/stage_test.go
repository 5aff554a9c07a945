package stage

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
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
