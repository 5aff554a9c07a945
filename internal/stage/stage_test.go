package stage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/jstest"
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
	time.Sleep(300 * time.Millisecond) // a window in which a pull would have happened
	if calls.get("g") != 0 {
		t.Fatal("pulled while the gate was open")
	}
	if info := e.consumerInfo(); info.NumAckPending != 0 || info.NumPending != 1 {
		t.Fatalf("num_ack_pending=%d num_pending=%d while gated", info.NumAckPending, info.NumPending)
	}
	gate.open.Store(false)
	e.waitCount("OUT", 1)
}

type fakeGate struct{ open atomic.Bool }

func (g *fakeGate) OpenFor() time.Duration {
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
	var mu sync.Mutex
	e.run(e.cfg(), Typed(func(ctx context.Context, msg *wrapperspb.StringValue, in *Input) ([]Output, error) {
		mu.Lock()
		deliveries = append(deliveries, in.Delivered)
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
	if info := e.consumerInfo(); info.NumAckPending != 0 {
		t.Fatalf("num_ack_pending = %d", info.NumAckPending)
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
