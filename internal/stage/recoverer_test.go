package stage

import (
	"context"
	"testing"

	"google.golang.org/protobuf/types/known/wrapperspb"
)

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
