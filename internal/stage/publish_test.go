package stage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
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
	s := e.stage(js1, e.cfg(), echo(&calls))
	var killed atomic.Bool
	s.afterPublish = func(*Input) {
		if killed.CompareAndSwap(false, true) {
			nc1.Close()
		}
	}
	stop := jstest.Run(t, e.ctx, s.Run)

	e.publish("work.k", wrapperspb.String("k"))
	jstest.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		if !killed.Load() {
			return errors.New("connection not killed yet")
		}
		return nil
	})
	if err := stop(); err != nil {
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
