package stage

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestLongHandlerIsKeptAliveWithInProgress(t *testing.T) {
	const ackWait = time.Second
	e := newEnv(t, envOpts{ackWait: ackWait})
	var calls counter
	e.run(e.cfg(), Typed(func(ctx context.Context, msg *wrapperspb.StringValue, in *Input) ([]Output, error) {
		calls.add("long")
		if err := simulatedWork(ctx, 3*ackWait); err != nil { // a slow LLM call
			return nil, err
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
