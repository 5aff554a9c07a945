package stage

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/jetflow-dev/jetflow/internal/devkit/syncbuf"
	"github.com/jetflow-dev/jetflow/internal/failure"
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

func TestRecovererTurnsAPanicIntoAPermanentError(t *testing.T) {
	var logs syncbuf.Buffer
	recoverer := Recoverer(slog.New(slog.NewTextHandler(&logs, nil)))
	in := &Input{Sequence: 7}

	outs, err := recoverer(HandlerFunc(func(context.Context, *Input) ([]Output, error) {
		panic("model client is nil")
	})).Handle(context.Background(), in)
	if outs != nil || !failure.IsPermanent(err) || err.Error() != "handler panicked: model client is nil" {
		t.Fatalf("Handle = %v, %v; want no outputs and a permanent \"handler panicked: model client is nil\"", outs, err)
	}
	if got := logs.String(); !strings.Contains(got, "handler panicked") || !strings.Contains(got, "seq=7") || !strings.Contains(got, "recoverer_test.go") {
		t.Errorf("log %q lacks the panic, the message's sequence or the stack", got)
	}

	want := []Output{{Subject: "out.a"}}
	outs, err = recoverer(HandlerFunc(func(context.Context, *Input) ([]Output, error) {
		return want, errors.New("upstream answered 503")
	})).Handle(context.Background(), in)
	if len(outs) != 1 || err == nil || failure.IsPermanent(err) {
		t.Fatalf("Handle = %v, %v; want what the handler returned, untouched", outs, err)
	}
}

// The runtime puts Recoverer outermost: a panic in another middleware is caught too.
func TestRecovererOutermostCatchesAPanicInAnotherMiddleware(t *testing.T) {
	panicking := Middleware(func(Handler) Handler {
		return HandlerFunc(func(context.Context, *Input) ([]Output, error) { panic("middleware bug") })
	})
	h := chain(HandlerFunc(func(context.Context, *Input) ([]Output, error) { return nil, nil }),
		Recoverer(slog.New(slog.DiscardHandler)), panicking)
	if _, err := h.Handle(context.Background(), &Input{}); !failure.IsPermanent(err) || !strings.Contains(err.Error(), "middleware bug") {
		t.Fatalf("Handle = %v, want the middleware's panic as a permanent error", err)
	}
}
