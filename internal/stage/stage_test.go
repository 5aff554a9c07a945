package stage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/telemetry"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

func TestOutputPublishedThenInputAcked(t *testing.T) {
	e := newEnv(t, envOpts{})
	var calls counter
	e.run(e.cfg(), echo(&calls))
	e.publish("work.a", wrapperspb.String("a"))

	out := e.waitCount("OUT", 1)
	var got wrapperspb.StringValue
	if err := proto.Unmarshal(out[0].Data, &got); err != nil || got.GetValue() != "echo: a" {
		t.Fatalf("output = %q, %v", got.GetValue(), err)
	}
	if id := out[0].Header.Get(jetstream.MsgIDHeader); id != "work:WORK:1:#1" {
		t.Errorf("Nats-Msg-Id = %q, want work:WORK:1:#1", id)
	}
	if typ := out[0].Header.Get(HeaderType); typ != "google.protobuf.StringValue" {
		t.Errorf("%s = %q", HeaderType, typ)
	}
	e.waitCount("WORK", 0) // acked: a work queue drops it
}

// The connection dies after the output's publish ack and before the input's ack: the input
// comes back, the handler runs again, and the output is not duplicated.
func TestRedeliveryAfterLostAckDoesNotDuplicateOutput(t *testing.T) {
	e := newEnv(t, envOpts{ackWait: 500 * time.Millisecond})
	nc1, js1 := jstest.Connect(t, e.srv)
	var calls counter
	s, err := New(js1, e.cfg(), echo(&calls))
	if err != nil {
		t.Fatal(err)
	}
	var killed atomic.Bool
	s.afterPublish = func(*Input) {
		if killed.CompareAndSwap(false, true) {
			nc1.Close()
		}
	}
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	e.publish("work.k", wrapperspb.String("k"))
	jstest.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		if !killed.Load() {
			return errors.New("connection not killed yet")
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// A healthy replica takes over once the ack wait runs out.
	e.run(e.cfg(), echo(&calls))
	jstest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n := calls.get("k"); n != 2 {
			return fmt.Errorf("handler ran %d times, want 2", n)
		}
		return nil
	})
	e.waitCount("WORK", 0)
	if out := e.messages("OUT"); len(out) != 1 {
		t.Fatalf("OUT holds %d messages, want exactly 1", len(out))
	}
}

// Two inputs that produce the same output (by ID) publish it once.
func TestOutputWithIDLandsOnceWhicheverInputPublishesIt(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.run(e.cfg(), Typed(func(ctx context.Context, msg *wrapperspb.StringValue, in *Input) ([]Output, error) {
		return []Output{{Subject: "out.segment", Msg: wrapperspb.String("segment 1"), ID: "session-a.segment-1"}}, nil
	}))
	e.publish("work.1", wrapperspb.String("chunk 1"))
	e.publish("work.2", wrapperspb.String("chunk 2"))
	e.waitCount("WORK", 0)
	out := e.messages("OUT")
	if len(out) != 1 || out[0].Header.Get(jetstream.MsgIDHeader) != "work:session-a.segment-1" {
		t.Fatalf("OUT holds %d messages (want 1 with id work:session-a.segment-1)", len(out))
	}
}

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

func TestPanicDeadLettersThatMessageAndServingGoesOn(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.run(e.cfg(), Typed(func(ctx context.Context, msg *wrapperspb.StringValue, in *Input) ([]Output, error) {
		if msg.GetValue() == "boom" {
			var values []int
			_ = values[len(msg.GetValue())] // a real runtime panic: index out of range
		}
		return []Output{{Subject: "out." + msg.GetValue(), Msg: msg}}, nil
	}))
	e.publish("work.1", wrapperspb.String("boom"))
	e.publish("work.2", wrapperspb.String("fine"))
	dl := e.waitCount("DLQ", 1)[0]
	checkDeadLetter(t, dl, deadLetterWant{subject: "ai.dlq.work", kind: KindPermanent, reasonHas: "handler panicked", originalSubject: "work.1", seq: 1, deliveries: 1})
	out := e.waitCount("OUT", 1)
	if out[0].Subject != "out.fine" {
		t.Fatalf("output on %s, want out.fine", out[0].Subject)
	}
}

// A worker that dies on a message every time never gets to dead-letter it; the server's
// max-deliveries advisory, captured in a stream, does.
func TestAdvisoryCatcherDeadLettersWhatWorkersNeverReported(t *testing.T) {
	e := newEnv(t, envOpts{ackWait: 200 * time.Millisecond, maxDeliver: 2})
	seq := e.publishRaw("work.crash", []byte("crashes the worker"), "Origin", "test")

	// The "worker": takes the message and dies (never acks) each time.
	cons, err := e.js.Consumer(e.ctx, "WORK", "work")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
		if md, _ := msg.Metadata(); md.NumDelivered != uint64(i+1) {
			t.Fatalf("delivery count %d, want %d", md.NumDelivered, i+1)
		}
	}
	// The server notices the exhausted message when it next tries to deliver: a worker pulls.
	jstest.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		if _, err := cons.Fetch(1, jetstream.FetchMaxWait(300*time.Millisecond)); err != nil {
			return err
		}
		if n := len(e.messages("ADVISORIES")); n != 1 {
			return fmt.Errorf("ADVISORIES holds %d", n)
		}
		return nil
	})

	e.run(Config{Name: "dead-letter-advisories", Stream: "ADVISORIES", Consumer: "advisories", Backoff: []time.Duration{50 * time.Millisecond}},
		AdvisoryCatcher{JS: e.js})
	dl := e.waitCount("DLQ", 1)[0]
	checkDeadLetter(t, dl, deadLetterWant{subject: "ai.dlq.work", kind: KindMaxDeliveries, reasonHas: "crashed or hung", originalSubject: "work.crash", seq: seq, deliveries: 2})
	if string(dl.Data) != "crashes the worker" || dl.Header.Get("Origin") != "test" {
		t.Fatalf("dead letter lost the original: %q %v", dl.Data, dl.Header)
	}
	e.waitCount("ADVISORIES", 0)
	e.waitCount("WORK", 0) // removed from the work queue once copied
}

func TestAdvisoryForAMessageAlreadyGoneIsDropped(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := AdvisoryCatcher{JS: e.js}
	adv := fmt.Sprintf(`{"type":%q,"stream":"WORK","consumer":"work","stream_seq":42,"deliveries":5}`, maxDeliverAdvisoryType)
	outs, err := c.Handle(e.ctx, &Input{Data: []byte(adv)})
	if err != nil || outs != nil {
		t.Fatalf("Handle = %v, %v; want nothing to do", outs, err)
	}
	if n := len(e.messages("DLQ")); n != 0 {
		t.Fatalf("DLQ holds %d", n)
	}
	if _, err := c.Handle(e.ctx, &Input{Data: []byte(`{"type":"other"}`)}); !failure.IsPermanent(err) {
		t.Fatalf("a foreign advisory must be a permanent error, got %v", err)
	}
}

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
	// Give the server every chance to over-deliver, then look.
	for range 10 {
		if info := e.consumerInfo(); info.NumAckPending > n {
			t.Fatalf("num_ack_pending = %d with concurrency %d", info.NumAckPending, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
		time.Sleep(300 * time.Millisecond) // the work itself
		return nil, nil
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

func TestLongHandlerIsKeptAliveWithInProgress(t *testing.T) {
	const ackWait = time.Second
	e := newEnv(t, envOpts{ackWait: ackWait})
	var calls counter
	e.run(e.cfg(), Typed(func(ctx context.Context, msg *wrapperspb.StringValue, in *Input) ([]Output, error) {
		calls.add("long")
		select {
		case <-time.After(3 * ackWait): // a slow LLM call
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return []Output{{Subject: "out.long", Msg: msg}}, nil
	}))
	e.publish("work.long", wrapperspb.String("long"))
	e.waitCount("OUT", 1)
	e.waitCount("WORK", 0)
	if n := calls.get("long"); n != 1 {
		t.Fatalf("handler ran %d times, want 1", n)
	}
	if info := e.consumerInfo(); info.NumRedelivered != 0 {
		t.Fatalf("num_redelivered = %d, want 0", info.NumRedelivered)
	}
}

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
	s, err := New(e.js, cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	for _, v := range []string{"quick1", "quick2", "stuck1", "stuck2"} {
		e.publish("work."+v, wrapperspb.String(v))
	}
	for range 4 {
		<-started
	}
	cancel()
	stoppedAt := time.Now()
	close(finish)
	if err := <-done; err != nil {
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

func TestBadInputIsDeadLetteredWithAReason(t *testing.T) {
	e := newEnv(t, envOpts{})
	var calls counter
	cfg := e.cfg()
	cfg.MaxPayload = 1024
	e.run(cfg, echo(&calls))
	valid := mustMarshal(t, wrapperspb.String("hello"))
	tests := []struct {
		name      string
		data      []byte
		hdr       []string
		reasonHas string
	}{
		{name: "garbage bytes", data: []byte{0xff, 0xff, 0xff, 0xff, 0x0f}, reasonHas: "decoding protobuf google.protobuf.StringValue"},
		{name: "empty payload", data: nil, reasonHas: "empty payload"},
		{name: "truncated protobuf", data: valid[:len(valid)-2], reasonHas: "truncated"},
		{name: "message of another type", data: mustMarshal(t, wrapperspb.Int64(42)), reasonHas: "unknown to google.protobuf.StringValue"},
		{name: "type header of another type", data: valid, hdr: []string{HeaderType, "jetflow.v1.TtsRequest"}, reasonHas: "is a jetflow.v1.TtsRequest"},
		{name: "payload above the stage limit", data: mustMarshal(t, wrapperspb.String(strings.Repeat("x", 2000))), reasonHas: "exceeds the stage limit of 1024 bytes"},
		{name: "bad json", data: []byte(`{"value": 1`), hdr: []string{HeaderContentType, "application/json"}, reasonHas: "decoding protojson"},
	}
	for i, tt := range tests {
		e.publishRaw("work.bad"+strconv.Itoa(i), tt.data, tt.hdr...)
	}
	e.publish("work.good", wrapperspb.String("good"))
	dls := e.waitCount("DLQ", len(tests))
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dl *jetstream.RawStreamMsg
			for _, m := range dls {
				if m.Header.Get(HeaderOriginalSubject) == "work.bad"+strconv.Itoa(i) {
					dl = m
				}
			}
			if dl == nil {
				t.Fatal("no dead letter")
			}
			if !strings.Contains(dl.Header.Get(HeaderError), tt.reasonHas) {
				t.Errorf("%s = %q, want it to say %q", HeaderError, dl.Header.Get(HeaderError), tt.reasonHas)
			}
			if dl.Header.Get(HeaderErrorKind) != KindPermanent || !bytes.Equal(dl.Data, tt.data) {
				t.Errorf("kind %q, payload kept %v", dl.Header.Get(HeaderErrorKind), bytes.Equal(dl.Data, tt.data))
			}
		})
	}
	out := e.waitCount("OUT", 1)
	if out[0].Subject != "out.good" {
		t.Fatalf("the worker stopped serving: output on %s", out[0].Subject)
	}
}

// A failing message near the server's max payload still produces a dead letter: the copy is
// cut to fit, keeping every Jetflow-* header and saying how big the original was.
func TestDeadLetterOfAMessageNearMaxPayload(t *testing.T) {
	const maxPayload = 64 * 1024
	e := newEnv(t, envOpts{maxPayload: maxPayload})
	cfg := e.cfg()
	cfg.MaxPayload = 16 * 1024
	e.run(cfg, echo(&counter{}))
	big := bytes.Repeat([]byte{0xAB}, maxPayload-200)
	seq := e.publishRaw("work.big", big, "Big-Header", strings.Repeat("h", 100))
	dl := e.waitCount("DLQ", 1)[0]
	checkDeadLetter(t, dl, deadLetterWant{subject: "ai.dlq.work", kind: KindPermanent, reasonHas: "exceeds the stage limit", originalSubject: "work.big", seq: seq, deliveries: 1})
	if got := dl.Header.Get(HeaderPayloadTruncated); got != strconv.Itoa(len(big)) {
		t.Fatalf("%s = %q, want %d", HeaderPayloadTruncated, got, len(big))
	}
	if len(dl.Data) == 0 || !bytes.Equal(dl.Data, big[:len(dl.Data)]) {
		t.Fatal("the kept part of the payload must be its beginning")
	}
}

func TestDeadLetterMessageKeepsEverythingWhenItFits(t *testing.T) {
	d := DeadLetter{Stage: "s", Kind: KindPermanent, Reason: "bad\r\ninput", OriginalSubject: "a.b", Stream: "S", Sequence: 7, Deliveries: 2,
		Header: nats.Header{"X": {"1"}, jetstream.MsgIDHeader: {"orig"}, jetstream.ExpectedLastSeqHeader: {"3"}, "Nats-Schedule": {"@every 1s"}},
		Data:   []byte("payload"), FailedAt: time.Unix(0, 0)}
	m := d.Message("ai.dlq.s", 1<<20)
	if m.Header.Get(jetstream.MsgIDHeader) != "dlq:S:7" || m.Header.Get(HeaderOriginalMsgID) != "orig" {
		t.Errorf("ids: %v", m.Header)
	}
	if m.Header.Get(jetstream.ExpectedLastSeqHeader) != "" || m.Header.Get("Nats-Schedule") != "" {
		t.Errorf("server instructions of the original must not apply to the copy: %v", m.Header)
	}
	if m.Header.Get(HeaderError) != "bad  input" || m.Header.Get("X") != "1" || string(m.Data) != "payload" {
		t.Errorf("copy lost something: %v %q", m.Header, m.Data)
	}
}

func TestJSONInputGivesJSONOutput(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.run(e.cfg(), echo(&counter{}))
	e.publishRaw("work.j", []byte(`"j"`), HeaderContentType, "application/json")
	out := e.waitCount("OUT", 1)[0]
	if ct := out.Header.Get(HeaderContentType); ct != "application/json" {
		t.Fatalf("content type %q", ct)
	}
	var got wrapperspb.StringValue
	if err := protojson.Unmarshal(out.Data, &got); err != nil || got.GetValue() != "echo: j" {
		t.Fatalf("output %s: %v", out.Data, err)
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

// Work refused by an open breaker is put back as a fresh copy: the consumer holds nothing, no
// delivery is spent, and the output keeps the original's identity.
func TestNotAttemptedWorkIsRequeuedWithoutSpendingDeliveries(t *testing.T) {
	e := newEnv(t, envOpts{maxDeliver: 2})
	var calls counter
	var deliveries []uint64
	var copies []deliveredCopy
	var mu sync.Mutex
	e.run(e.cfg(), Typed(func(ctx context.Context, msg *wrapperspb.StringValue, in *Input) ([]Output, error) {
		mu.Lock()
		deliveries = append(deliveries, in.Delivered)
		copies = append(copies, copyOf(in))
		mu.Unlock()
		if calls.add("q") <= 3 { // refused three times: more than max_deliver allows
			return nil, failure.NotAttempted(failure.RetryAfter(errors.New("circuit breaker open"), time.Second))
		}
		return []Output{{Subject: "out.q", Msg: msg}}, nil
	}))
	seq := e.publish("work.q", wrapperspb.String("q"))
	out := e.waitCount("OUT", 1)
	if id := out[0].Header.Get(jetstream.MsgIDHeader); id != "work:WORK:"+strconv.FormatUint(seq, 10)+":#1" {
		t.Fatalf("output id %q does not keep the original's identity", id)
	}
	e.waitCount("WORK", 0)
	if n := len(e.messages("DLQ")); n != 0 {
		t.Fatalf("%d dead letters: refused work must not spend the delivery budget", n)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, d := range deliveries {
		if d != 1 {
			t.Fatalf("attempt %d was delivery %d; every copy should be on its first delivery (%v)", i, d, deliveries)
		}
	}
	if len(copies) != 4 {
		t.Fatalf("handler saw %d copies, want 4", len(copies))
	}
	// A refused delivery spends no attempt: every copy carries the attempts of none.
	for i, c := range copies {
		want := deliveredCopy{attemptsHeader: "0", requeuedFrom: "WORK:" + strconv.FormatUint(seq, 10), attempt: 1, originalSequence: seq}
		if i == 0 {
			want.attemptsHeader, want.requeuedFrom = "", ""
		}
		got := c
		got.sequence = 0
		if got != want {
			t.Errorf("copy %d: %+v, want %+v", i, got, want)
		}
		if i > 0 && c.sequence == seq {
			t.Errorf("copy %d has the original's sequence %d", i, seq)
		}
	}
	if info := e.consumerInfo(); info.NumAckPending != 0 {
		t.Fatalf("num_ack_pending = %d", info.NumAckPending)
	}
}

// deliveredCopy is what a handler saw of one copy of a requeued message.
type deliveredCopy struct {
	attemptsHeader, requeuedFrom        string
	attempt, originalSequence, sequence uint64
}

func copyOf(in *Input) deliveredCopy {
	return deliveredCopy{
		attemptsHeader: in.Header.Get(HeaderAttempts), requeuedFrom: in.Header.Get(HeaderRequeuedFrom),
		attempt: in.Attempt, originalSequence: in.OriginalSequence, sequence: in.Sequence,
	}
}

// A retryable failure that meets an open breaker requeues the message: the attempt it spent
// goes with the copy, which is attempt 2 on its first delivery and keeps the original's
// sequence.
func TestRequeuedCopyCountsTheAttemptsOfItsOriginal(t *testing.T) {
	e := newEnv(t, envOpts{maxDeliver: 5})
	var gate fakeGate
	var mu sync.Mutex
	var copies []deliveredCopy
	e.run(e.cfg(), Typed(func(ctx context.Context, msg *wrapperspb.StringValue, in *Input) ([]Output, error) {
		mu.Lock()
		copies = append(copies, copyOf(in))
		n := len(copies)
		mu.Unlock()
		if n == 1 {
			gate.open.Store(true) // the failure trips the breaker
			return nil, errors.New("upstream answered 503")
		}
		return []Output{{Subject: "out.c", Msg: msg}}, nil
	}), WithGate(&gate))
	seq := e.publish("work.c", wrapperspb.String("c"))
	origin := "WORK:" + strconv.FormatUint(seq, 10)
	// The gate stays open until the message was requeued: stored, or already taken by a pull
	// that was waiting on the server when the gate opened.
	jstest.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		mu.Lock()
		handled := len(copies)
		mu.Unlock()
		if work := e.messages("WORK"); handled < 2 && (len(work) != 1 || work[0].Header.Get(HeaderRequeuedFrom) != origin) {
			return fmt.Errorf("WORK holds %d messages and the handler saw %d copies, want the requeued copy", len(work), handled)
		}
		return nil
	})
	gate.open.Store(false)
	e.waitCount("OUT", 1)
	e.waitCount("WORK", 0)
	mu.Lock()
	defer mu.Unlock()
	want := []deliveredCopy{
		{attempt: 1, originalSequence: seq, sequence: seq},
		{attemptsHeader: "1", requeuedFrom: origin, attempt: 2, originalSequence: seq},
	}
	if len(copies) != len(want) {
		t.Fatalf("handler saw %d copies, want %d: %+v", len(copies), len(want), copies)
	}
	copies[1].sequence = 0 // the copy's own sequence is the stream's choice
	for i := range want {
		if copies[i] != want[i] {
			t.Errorf("copy %d: %+v, want %+v", i, copies[i], want[i])
		}
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{name: "minimal", cfg: Config{Name: "chat-retrieve", Stream: "AI_CHAT", Consumer: "chat-retrieve"}, ok: true},
		{name: "dotted name", cfg: Config{Name: "chat.retrieve", Stream: "S", Consumer: "c"}},
		{name: "no consumer", cfg: Config{Name: "x", Stream: "S"}},
		{name: "negative concurrency", cfg: Config{Name: "x", Stream: "S", Consumer: "c", Concurrency: -1}},
		{name: "zero backoff", cfg: Config{Name: "x", Stream: "S", Consumer: "c", Backoff: []time.Duration{0}}},
		{name: "tiny fetch wait", cfg: Config{Name: "x", Stream: "S", Consumer: "c", FetchWait: time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

type deadLetterWant struct {
	subject, kind, reasonHas, originalSubject string
	seq, deliveries                           uint64
}

func checkDeadLetter(t *testing.T, dl *jetstream.RawStreamMsg, w deadLetterWant) {
	t.Helper()
	if dl.Subject != w.subject {
		t.Errorf("dead letter on %s, want %s", dl.Subject, w.subject)
	}
	h := dl.Header
	checks := map[string]string{
		HeaderErrorKind:       w.kind,
		HeaderOriginalSubject: w.originalSubject,
		HeaderOriginalStream:  "WORK",
		HeaderStreamSeq:       strconv.FormatUint(w.seq, 10),
		HeaderDeliveries:      strconv.FormatUint(w.deliveries, 10),
		HeaderStage:           "work",
		jetstream.MsgIDHeader: "dlq:WORK:" + strconv.FormatUint(w.seq, 10),
	}
	for k, want := range checks {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if !strings.Contains(h.Get(HeaderError), w.reasonHas) {
		t.Errorf("%s = %q, want it to contain %q", HeaderError, h.Get(HeaderError), w.reasonHas)
	}
	if _, err := time.Parse(time.RFC3339Nano, h.Get(HeaderFailedAt)); err != nil {
		t.Errorf("%s: %v", HeaderFailedAt, err)
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Outputs are encoded into pooled buffers that are reused once their publish ack is in. With
// several workers publishing outputs of different sizes at once, every stored output must still
// be exactly what its handler returned.
func TestRecycledEncodeBuffersKeepEveryOutputIntact(t *testing.T) {
	e := newEnv(t, envOpts{})
	const n = 300
	payload := func(i int) []byte {
		b := make([]byte, 1+(i*7919)%20000) // sizes from 1 byte to 20 KB, in no order
		for j := range b {
			b[j] = byte(i + j)
		}
		return b
	}
	cfg := e.cfg()
	cfg.Concurrency = 8
	e.run(cfg, Typed(func(_ context.Context, msg *wrapperspb.BytesValue, in *Input) ([]Output, error) {
		i := strings.TrimPrefix(in.Subject, "work.")
		return []Output{
			{Subject: "out." + i + ".copy", Msg: msg},
			{Subject: "out." + i + ".size", Msg: wrapperspb.Int64(int64(len(msg.GetValue())))},
		}, nil
	}))
	for i := range n {
		e.publish("work."+strconv.Itoa(i), wrapperspb.Bytes(payload(i)))
	}

	for _, m := range e.waitCount("OUT", 2*n) {
		parts := strings.Split(m.Subject, ".")
		i, err := strconv.Atoi(parts[1])
		if err != nil {
			t.Fatalf("output subject %q", m.Subject)
		}
		want := payload(i)
		switch parts[2] {
		case "copy":
			var got wrapperspb.BytesValue
			if err := proto.Unmarshal(m.Data, &got); err != nil || !bytes.Equal(got.GetValue(), want) {
				t.Errorf("%s: %d bytes that differ from the %d-byte input (%v)", m.Subject, len(got.GetValue()), len(want), err)
			}
		case "size":
			var got wrapperspb.Int64Value
			if err := proto.Unmarshal(m.Data, &got); err != nil || got.GetValue() != int64(len(want)) {
				t.Errorf("%s = %d, want %d (%v)", m.Subject, got.GetValue(), len(want), err)
			}
		}
	}
	e.waitCount("WORK", 0)
}

func TestEmitOnAnInputNotDeliveredByAStageFails(t *testing.T) {
	in := &Input{Subject: "work.a"}
	if err := in.Emit(context.Background(), Output{Subject: "out.a", Msg: wrapperspb.String("a")}); err == nil {
		t.Fatal("Emit on a hand-made Input succeeded")
	}
}

// An output no stream stores fails its publish: the input is retried like any retryable failure
// and dead-lettered on its last delivery, while the other messages' outputs go on being stored.
func TestOutputThatNoStreamStoresIsRetriedThenDeadLettered(t *testing.T) {
	e := newEnv(t, envOpts{maxDeliver: 3})
	var calls counter
	e.run(e.cfg(), Typed(func(ctx context.Context, msg *wrapperspb.StringValue, in *Input) ([]Output, error) {
		calls.add(msg.GetValue())
		subject := "out." + msg.GetValue()
		if msg.GetValue() == "bad" {
			subject = "nowhere.bad" // no stream takes it: the publish gets no stream's ack
		}
		return []Output{{Subject: subject, Msg: msg}}, nil
	}))
	seq := e.publish("work.bad", wrapperspb.String("bad"))
	for i := range 20 {
		e.publish("work.good", wrapperspb.String("good-"+strconv.Itoa(i)))
	}

	e.waitCount("OUT", 20)
	dl := e.waitCount("DLQ", 1)[0]
	checkDeadLetter(t, dl, deadLetterWant{
		subject: "ai.dlq.work", kind: KindExhausted, reasonHas: "publishing output to nowhere.bad",
		originalSubject: "work.bad", seq: seq, deliveries: 3,
	})
	if n := calls.get("bad"); n != 3 {
		t.Errorf("handler ran %d times for the bad message, want 3", n)
	}
	e.waitCount("WORK", 0)
}

// An output published to a subject that no stream captures yet gets "no responders", and the
// JetStream client sends the same *nats.Msg again after its retry wait (250 ms, twice): its
// encode buffer must not be reused before the publish ack, or the resend carries whatever was
// encoded into it since. The late outputs here wait for their stream while their own worker
// encodes the next ones and the other workers encode outputs of their own; every stored output
// must still be byte for byte what its handler returned.
func TestOutputResentAfterNoRespondersIsIntact(t *testing.T) {
	e := newEnv(t, envOpts{})
	const lateInputs, lateOutputs, fillers, fillerOutputs = 4, 6, 24, 5
	// Every late output has the same size, so that each fits the buffer of another.
	late := func(i, j int) []byte {
		b := make([]byte, 4096)
		for k := range b {
			b[k] = byte(i*31 + j*7 + k)
		}
		return b
	}
	filler := func(i, j int) []byte {
		b := make([]byte, 1+(i*7919+j*104729)%4096)
		for k := range b {
			b[k] = byte(128 + i*3 + j*5 + k)
		}
		return b
	}
	for i := range lateInputs {
		e.publish("work.late."+strconv.Itoa(i), wrapperspb.String("late"))
	}
	for i := range fillers {
		e.publish("work.fill."+strconv.Itoa(i), wrapperspb.String("fill"))
	}

	// The stage has a JetStream context of its own, for its count of pending publishes, on the
	// test's connection: the late outputs' first sends reach the server before the request that
	// creates their stream.
	stageJS, err := jetstream.New(e.nc)
	if err != nil {
		t.Fatal(err)
	}
	var lateCalls counter
	release := make(chan struct{})
	cfg := e.cfg()
	cfg.Concurrency = lateInputs + 4
	e.runOn(stageJS, cfg, Typed(func(ctx context.Context, _ *wrapperspb.StringValue, in *Input) ([]Output, error) {
		parts := strings.Split(in.Subject, ".")
		i, err := strconv.Atoi(parts[2])
		if err != nil {
			return nil, failure.Permanent(err)
		}
		if parts[1] == "late" {
			lateCalls.add(parts[2])
			outs := make([]Output, lateOutputs)
			for j := range outs {
				outs[j] = Output{Subject: fmt.Sprintf("late.%d.%d", i, j), Msg: wrapperspb.Bytes(late(i, j))}
			}
			return outs, nil
		}
		select {
		case <-release: // the late outputs are waiting for their resend
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		outs := make([]Output, fillerOutputs)
		for j := range outs {
			outs[j] = Output{Subject: fmt.Sprintf("out.%d.%d", i, j), Msg: wrapperspb.Bytes(filler(i, j))}
		}
		return outs, nil
	}))

	jstest.Eventually(t, 10*time.Second, time.Millisecond, func() error {
		if n := stageJS.PublishAsyncPending(); n != lateInputs*lateOutputs {
			return fmt.Errorf("%d publishes pending, want the %d late outputs", n, lateInputs*lateOutputs)
		}
		return nil
	})
	close(release)
	e.mustStream(jetstream.StreamConfig{Name: "LATE", Subjects: []string{"late.>"}})

	check := func(m *jetstream.RawStreamMsg, want func(i, j int) []byte) {
		t.Helper()
		parts := strings.Split(m.Subject, ".")
		i, errI := strconv.Atoi(parts[1])
		j, errJ := strconv.Atoi(parts[2])
		if errI != nil || errJ != nil {
			t.Fatalf("output subject %q", m.Subject)
		}
		var got wrapperspb.BytesValue
		if err := proto.Unmarshal(m.Data, &got); err != nil || !bytes.Equal(got.GetValue(), want(i, j)) {
			t.Errorf("%s: %d bytes that differ from the %d the handler returned (%v)", m.Subject, len(got.GetValue()), len(want(i, j)), err)
		}
	}
	for _, m := range e.waitCount("LATE", lateInputs*lateOutputs) {
		check(m, late)
	}
	for _, m := range e.waitCount("OUT", fillers*fillerOutputs) {
		check(m, filler)
	}
	e.waitCount("WORK", 0)
	// Handled once: the stored late outputs are the resent messages, not a redelivery's.
	for i := range lateInputs {
		if n := lateCalls.get(strconv.Itoa(i)); n != 1 {
			t.Errorf("late input %d handled %d times, want 1: its outputs were not stored by a resend", i, n)
		}
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

func TestDecodeRefusesWhatItCannotUnderstand(t *testing.T) {
	valid := mustMarshal(t, wrapperspb.String("hello"))
	tests := []struct {
		name      string
		h         nats.Header
		data      []byte
		reasonHas string
	}{
		{name: "empty payload", reasonHas: "empty payload"},
		{name: "type header of another type", h: nats.Header{HeaderType: {"jetflow.v1.TtsRequest"}}, data: valid, reasonHas: "is a jetflow.v1.TtsRequest"},
		{name: "message of another type", data: mustMarshal(t, wrapperspb.Int64(42)), reasonHas: "unknown to google.protobuf.StringValue"},
		{name: "bad json", h: nats.Header{HeaderContentType: {"application/json"}}, data: []byte(`{"value": 1`), reasonHas: "decoding protojson"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Decode(tt.h, tt.data, &wrapperspb.StringValue{})
			if !errors.Is(err, failure.ErrInvalid) || !failure.IsPermanent(err) || !strings.Contains(err.Error(), tt.reasonHas) {
				t.Fatalf("Decode = %v, want a permanent invalid-input error saying %q", err, tt.reasonHas)
			}
		})
	}
	for _, c := range []struct {
		h    nats.Header
		data []byte
	}{
		{h: nats.Header{HeaderType: {"google.protobuf.StringValue"}}, data: valid},
		{h: nats.Header{HeaderContentType: {"application/json; charset=utf-8"}}, data: []byte(`"hello"`)},
	} {
		var got wrapperspb.StringValue
		if err := Decode(c.h, c.data, &got); err != nil || got.GetValue() != "hello" {
			t.Errorf("Decode(%v) = %q, %v", c.h, got.GetValue(), err)
		}
	}
}

// BuildOutput builds, for an output with an ID, the very message the runtime publishes.
func TestBuildOutputMatchesWhatTheRuntimePublishes(t *testing.T) {
	e := newEnv(t, envOpts{})
	out := func(name string) Output {
		return Output{
			Subject: "out." + name, ID: "r-1." + name, Header: nats.Header{"X-Extra": {"1"}},
			Msg: &jetflowv1.TtsAudioChunk{RequestId: "r-1", Audio: []byte("pcm"), Last: true},
		}
	}
	e.run(e.cfg(), HandlerFunc(func(_ context.Context, in *Input) ([]Output, error) {
		return []Output{out(strings.TrimPrefix(in.Subject, "work."))}, nil
	}))
	const traceparent = "00-0102030405060708090a0b0c0d0e0f10-0102030405060708-01"
	for i, asJSON := range []bool{false, true} {
		name := "chunk-" + strconv.Itoa(i)
		t.Run(fmt.Sprintf("json=%v", asJSON), func(t *testing.T) {
			hdr := []string{"traceparent", traceparent}
			if asJSON {
				hdr = append(hdr, HeaderContentType, "application/json")
			}
			e.publishRaw("work."+name, []byte("input"), hdr...)
			stored := e.waitCount("OUT", i+1)[i]
			ctx := telemetry.Extract(context.Background(), nats.Header{"traceparent": {traceparent}})
			built, err := BuildOutput(ctx, "work", out(name), asJSON)
			if err != nil {
				t.Fatal(err)
			}
			if built.Subject != stored.Subject || !bytes.Equal(built.Data, stored.Data) || !reflect.DeepEqual(built.Header, stored.Header) {
				t.Fatalf("built %s %v %q,\nruntime published %s %v %q", built.Subject, built.Header, built.Data, stored.Subject, stored.Header, stored.Data)
			}
			if built.Header.Get(jetstream.MsgIDHeader) != "work:r-1."+name || built.Header.Get(HeaderRequestID) != "r-1" || built.Header.Get("traceparent") != traceparent {
				t.Errorf("built headers %v lack the output id, the request id or the trace context", built.Header)
			}
		})
	}
	noID := out("x")
	noID.ID = ""
	if _, err := BuildOutput(context.Background(), "work", noID, false); err == nil {
		t.Fatal("BuildOutput without an ID succeeded")
	}
}
