package stage

import (
	"context"
	"log/slog"
	"testing"

	"github.com/nats-io/nats.go"
)

// newAdmitLoop is a loop with concurrency 4 whose pull subscription is sub, with asked slots
// asked for and the rest free; nothing is connected.
func newAdmitLoop(t *testing.T, sub *nats.Subscription, asked int) *loop {
	t.Helper()
	l := newLoop(context.Background(), &Stage{cfg: Config{Concurrency: 4}, log: slog.New(slog.DiscardHandler)})
	l.slots.takeFree(0, asked)
	l.pulls.sub, l.pulls.asked = sub, asked
	return l
}

func delivery(sub *nats.Subscription) *nats.Msg {
	return &nats.Msg{Subject: "work.1", Data: []byte("x"), Sub: sub}
}

func status(sub *nats.Subscription, code, pending string) *nats.Msg {
	h := nats.Header{"Status": {code}, "Description": {"Request Timeout"}}
	if pending != "" {
		h.Set("Nats-Pending-Messages", pending)
	}
	return &nats.Msg{Header: h, Sub: sub}
}

// A delivery on the current subscription takes the slot asked for it; one nobody asked for (an
// old subscription's) takes a free slot, or goes back when none is free, so the stage never
// holds more than Concurrency.
func TestAdmitAccountsEveryDeliveryAgainstTheSlots(t *testing.T) {
	current, old := new(nats.Subscription), new(nats.Subscription)
	l := newAdmitLoop(t, current, 1)
	if _, ok := l.admit(delivery(current)); !ok {
		t.Fatal("a delivery that was asked for was not admitted")
	}
	if l.pulls.asked != 0 || l.slots.free() != 3 || !l.pulls.answered || !l.pulls.heard {
		t.Fatalf("after an asked-for delivery: asked %d, free %d, answered %v, heard %v; want 0, 3, true, true",
			l.pulls.asked, l.slots.free(), l.pulls.answered, l.pulls.heard)
	}
	for i := range 3 {
		if _, ok := l.admit(delivery(old)); !ok {
			t.Fatalf("an unasked delivery %d was refused with a slot free", i+1)
		}
	}
	if l.slots.free() != 0 {
		t.Fatalf("%d slots free after three unasked deliveries took them, want 0", l.slots.free())
	}
	if _, ok := l.admit(delivery(old)); ok {
		t.Fatal("an unasked delivery was admitted with no slot free: the stage would hold more than Concurrency")
	}
}

// An expired request gives back the slots it will not deliver; a status that ends every request
// reaches the puller once; statuses of an old subscription change nothing.
func TestAdmitReadsTheServersStatuses(t *testing.T) {
	current, old := new(nats.Subscription), new(nats.Subscription)
	l := newAdmitLoop(t, current, 3)
	l.admit(status(current, "408", "2"))
	if l.pulls.asked != 1 || l.slots.free() != 3 || !l.pulls.answered {
		t.Fatalf("after a 408 for 2: asked %d, free %d, answered %v; want 1, 3, true", l.pulls.asked, l.slots.free(), l.pulls.answered)
	}

	l.admit(status(old, "408", "1"))
	l.admit(status(old, "409", ""))
	if l.pulls.asked != 1 || l.slots.free() != 3 || len(l.trouble) != 0 {
		t.Fatalf("an old subscription's statuses changed the state: asked %d, free %d, %d troubles", l.pulls.asked, l.slots.free(), len(l.trouble))
	}

	l.pulls.answered = false
	l.admit(status(current, "409", ""))
	l.admit(status(current, "503", ""))
	if len(l.trouble) != 1 || l.pulls.answered {
		t.Fatalf("after two ending statuses: %d troubles for the puller, answered %v; want 1, false", len(l.trouble), l.pulls.answered)
	}
	if err := <-l.trouble; err == nil {
		t.Fatal("the puller was handed a nil error")
	}

	l.admit(status(current, "408", "bad"))
	if len(l.trouble) != 1 {
		t.Fatal("a 408 with a bad Nats-Pending-Messages did not reach the puller")
	}
}
