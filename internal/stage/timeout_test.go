package stage

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestTimeoutBoundsTheHandler(t *testing.T) {
	const d = 50 * time.Millisecond
	var deadline time.Time
	h := Timeout(d)(HandlerFunc(func(ctx context.Context, _ *Input) ([]Output, error) {
		deadline, _ = ctx.Deadline()
		<-ctx.Done() // a handler that waits for its upstream until told to stop
		return nil, ctx.Err()
	}))
	start := time.Now()
	if _, err := h.Handle(context.Background(), &Input{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Handle = %v, want the timeout's context.DeadlineExceeded", err)
	}
	if deadline.Before(start.Add(d)) || deadline.After(time.Now()) {
		t.Fatalf("handler context deadline %v, want %v after the call started", deadline.Sub(start), d)
	}
}

func TestTimeoutZeroLeavesTheHandlerUnbounded(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		h := Timeout(d)(HandlerFunc(func(ctx context.Context, _ *Input) ([]Output, error) {
			if _, ok := ctx.Deadline(); ok {
				return nil, errors.New("the handler's context has a deadline")
			}
			return nil, nil
		}))
		if _, err := h.Handle(context.Background(), &Input{}); err != nil {
			t.Errorf("Timeout(%v): %v", d, err)
		}
	}
}
