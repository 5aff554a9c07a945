package stage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/failure"
)

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

// Jetflow-Deliveries counts attempts across copies, the count max_deliver is held against: a
// message requeued after its first attempt and exhausted on its copy's second delivery says 3.
func TestDeadLetterCountsTheAttemptsOfEveryCopy(t *testing.T) {
	e := newEnv(t, envOpts{maxDeliver: 3})
	var gate fakeGate
	var mu sync.Mutex
	var copies []deliveredCopy
	e.run(e.cfg(), Typed(func(ctx context.Context, msg *wrapperspb.StringValue, in *Input) ([]Output, error) {
		mu.Lock()
		copies = append(copies, copyOf(in))
		first := len(copies) == 1
		mu.Unlock()
		if first {
			gate.open.Store(true) // the failure trips the breaker: the message is requeued
		}
		return nil, errors.New("upstream answered 503")
	}), WithGate(&gate))
	seq := e.publish("work.d", wrapperspb.String("d"))
	origin := "WORK:" + strconv.FormatUint(seq, 10)
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

	dl := e.waitCount("DLQ", 1)[0]
	mu.Lock()
	defer mu.Unlock()
	if len(copies) != 3 {
		t.Fatalf("handler saw %d deliveries, want 3: %+v", len(copies), copies)
	}
	last := copies[2]
	if last.requeuedFrom != origin || last.attempt != 3 {
		t.Fatalf("last delivery %+v, want the copy's second delivery, attempt 3", last)
	}
	checkDeadLetter(t, dl, deadLetterWant{
		subject: "ai.dlq.work", kind: KindExhausted, reasonHas: "giving up after 3 attempts",
		originalSubject: "work.d", seq: last.sequence, deliveries: 3,
	})
}
