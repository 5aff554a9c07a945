package stage

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/natsserver"
)

// env is one test's broker: a work stream with consumer "work", an output stream and a
// dead-letter stream, on a real embedded JetStream server.
type env struct {
	t   *testing.T
	srv *natsserver.Server
	nc  *nats.Conn
	js  jetstream.JetStream
	ctx context.Context
}

type envOpts struct {
	ackWait    time.Duration
	maxDeliver int
	maxPayload int32
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	var sopts []func(*natsserver.Options)
	if o.maxPayload > 0 {
		sopts = append(sopts, jstest.WithMaxPayload(o.maxPayload))
	}
	srv := jstest.Server(t, sopts...)
	nc, js := jstest.Connect(t, srv)
	e := &env{t: t, srv: srv, nc: nc, js: js, ctx: jstest.Context(t)}
	if o.ackWait == 0 {
		o.ackWait = 5 * time.Second
	}
	if o.maxDeliver == 0 {
		o.maxDeliver = 5
	}
	e.mustStream(jetstream.StreamConfig{Name: "WORK", Subjects: []string{"work.>"}, Retention: jetstream.WorkQueuePolicy})
	e.mustStream(jetstream.StreamConfig{Name: "OUT", Subjects: []string{"out.>"}})
	e.mustStream(jetstream.StreamConfig{Name: "DLQ", Subjects: []string{"ai.dlq.>"}})
	e.mustStream(jetstream.StreamConfig{Name: "ADVISORIES", Subjects: []string{"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>"}, Retention: jetstream.WorkQueuePolicy})
	if _, err := js.CreateConsumer(e.ctx, "WORK", jetstream.ConsumerConfig{
		Durable:       "work",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       o.ackWait,
		MaxDeliver:    o.maxDeliver,
		MaxAckPending: 1000,
	}); err != nil {
		t.Fatalf("creating consumer: %v", err)
	}
	if _, err := js.CreateConsumer(e.ctx, "ADVISORIES", jetstream.ConsumerConfig{
		Durable: "advisories", AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: 10,
	}); err != nil {
		t.Fatalf("creating advisory consumer: %v", err)
	}
	return e
}

func (e *env) mustStream(cfg jetstream.StreamConfig) {
	e.t.Helper()
	if _, err := e.js.CreateStream(e.ctx, cfg); err != nil {
		e.t.Fatalf("creating stream %s: %v", cfg.Name, err)
	}
}

func (e *env) cfg() Config {
	return Config{Name: "work", Stream: "WORK", Consumer: "work", Concurrency: 4, Backoff: []time.Duration{50 * time.Millisecond}}
}

// run runs a stage until the test ends.
func (e *env) run(cfg Config, h Handler, opts ...Option) {
	e.t.Helper()
	e.runOn(e.js, cfg, h, opts...)
}

func (e *env) runOn(js jetstream.JetStream, cfg Config, h Handler, opts ...Option) {
	e.t.Helper()
	jstest.Run(e.t, e.ctx, e.stage(js, cfg, h, opts...).Run)
}

func (e *env) stage(js jetstream.JetStream, cfg Config, h Handler, opts ...Option) *Stage {
	e.t.Helper()
	s, err := New(js, cfg, h, opts...)
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	return s
}

// simulatedWork is a handler's own work taking d (a model call, say): the handler's time, not
// the test waiting for something. It ends early, with the context's error, when ctx ends.
func simulatedWork(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *env) publish(subject string, msg proto.Message, hdr ...string) uint64 {
	e.t.Helper()
	data, err := proto.Marshal(msg)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.publishRaw(subject, data, hdr...)
}

func (e *env) publishRaw(subject string, data []byte, hdr ...string) uint64 {
	e.t.Helper()
	m := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	for i := 0; i+1 < len(hdr); i += 2 {
		m.Header.Set(hdr[i], hdr[i+1])
	}
	ack, err := e.js.PublishMsg(e.ctx, m)
	if err != nil {
		e.t.Fatalf("publishing to %s: %v", subject, err)
	}
	return ack.Sequence
}

// messages returns every message stored in a stream, in order.
func (e *env) messages(stream string) []*jetstream.RawStreamMsg {
	e.t.Helper()
	return jstest.Stored(e.t, e.ctx, e.js, stream, "")
}

func (e *env) waitCount(stream string, n int) []*jetstream.RawStreamMsg {
	e.t.Helper()
	var got []*jetstream.RawStreamMsg
	jstest.Eventually(e.t, 20*time.Second, 20*time.Millisecond, func() error {
		got = e.messages(stream)
		if len(got) != n {
			return jstest.Errorf("%s holds %d messages, want %d", stream, len(got), n)
		}
		return nil
	})
	return got
}

func (e *env) consumerInfo() *jetstream.ConsumerInfo {
	e.t.Helper()
	c, err := e.js.Consumer(e.ctx, "WORK", "work")
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := c.Info(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return info
}

// echo answers every StringValue with "echo: <value>" on out.<value>.
func echo(calls *counter) Handler {
	return Typed(func(ctx context.Context, msg *wrapperspb.StringValue, in *Input) ([]Output, error) {
		calls.add(msg.GetValue())
		return []Output{{Subject: "out." + msg.GetValue(), Msg: wrapperspb.String("echo: " + msg.GetValue())}}, nil
	})
}

type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) add(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[k]++
	return c.n[k]
}

func (c *counter) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k]
}
