package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
)

// The baseline must keep the guarantees it is compared under: never more unacknowledged
// messages than its concurrency, one output per input with the input-derived Nats-Msg-Id.
func TestBareLoopKeepsTheGuarantees(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const concurrency, m = 4, 300
	h, err := newHarness(ctx, Config{Concurrency: concurrency, StoreDir: t.TempDir()}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	defer h.close(ctx)
	nc, js, err := h.Connect("test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	streams, err := h.NewStreams(ctx, js, []string{"work"}, "unused")
	if err != nil {
		t.Fatal(err)
	}
	data, err := request(1 << 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := prepublish(ctx, js, streams.Subject("work")+".x", data, m); err != nil {
		t.Fatal(err)
	}
	in := streams.hop("work", "out")
	outSubject := in.To
	// At first no stream takes the outputs, and a subscriber that never answers swallows their
	// publishes: no publish ack comes back, so the loop holds every message it fetches until
	// its publish times out. (A failed publish would nak, and a nak still in flight while the
	// next pull is served makes the server count more than the loop holds.)
	swallow, err := nc.Subscribe(outSubject+".>", func(*nats.Msg) {})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	cons, err := js.Consumer(ctx, in.Stream, in.Name)
	if err != nil {
		t.Fatal(err)
	}

	wnc, err := nats.Connect(h.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer wnc.Close()
	const publishTimeout = 2 * time.Second // longer than the look below
	wjs, err := jetstream.New(wnc, jetstream.WithPublishAsyncTimeout(publishTimeout))
	if err != nil {
		t.Fatal(err)
	}
	stop := started(ctx, bareSide{concurrency: concurrency}, wjs, []hop{in})
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	held := 0
	jstest.Consistently(t, publishTimeout/4, 20*time.Millisecond, func() error {
		info, err := cons.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumAckPending > concurrency {
			return fmt.Errorf("%d messages unacknowledged with concurrency %d", info.NumAckPending, concurrency)
		}
		held = max(held, info.NumAckPending)
		return nil
	})
	if held != concurrency {
		t.Fatalf("at most %d messages held, want %d: the check saw nothing", held, concurrency)
	}

	if err := swallow.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: streams.Stream("out"), Subjects: []string{outSubject + ".>"}}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = js.DeleteStream(context.WithoutCancel(ctx), streams.Stream("out")) }()
	if err := waitEmpty(ctx, js, in.Stream, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	out, err := js.Stream(ctx, streams.Stream("out"))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for seq := uint64(1); seq <= m; seq++ {
		msg, err := out.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("output %d: %v", seq, err)
		}
		if len(msg.Data) != len(data) {
			t.Errorf("output %d has %d bytes, want %d", seq, len(msg.Data), len(data))
		}
		ids[msg.Header.Get(jetstream.MsgIDHeader)] = true
	}
	if _, err := out.GetMsg(ctx, m+1); err == nil {
		t.Errorf("more than %d outputs", m)
	}
	for seq := 1; seq <= m; seq++ {
		if id := fmt.Sprintf("work:%s:%d:#1", in.Stream, seq); !ids[id] {
			t.Errorf("no output with Nats-Msg-Id %s", id)
		}
	}
}
