package stage

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/failure"
)

func withDeadline(d time.Time) *Input { return &Input{deadline: d, hasDeadline: true} }

func TestDeadlineRefusesAnInputWhoseDeadlineHasPassed(t *testing.T) {
	called := false
	h := Deadline(HandlerFunc(func(context.Context, *Input) ([]Output, error) {
		called = true
		return nil, nil
	}))
	_, err := h.Handle(context.Background(), withDeadline(time.Now().Add(-time.Second)))
	if !errors.Is(err, failure.ErrExpired) || !failure.IsPermanent(err) || !strings.Contains(err.Error(), "request deadline") {
		t.Fatalf("Handle = %v, want a permanent failure.ErrExpired", err)
	}
	if called {
		t.Fatal("the handler ran for an expired input")
	}
}

func TestDeadlineBoundsTheHandlerContext(t *testing.T) {
	deadline := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	want := []Output{{Subject: "out.a"}}
	h := Deadline(HandlerFunc(func(ctx context.Context, _ *Input) ([]Output, error) {
		if got, ok := ctx.Deadline(); !ok || !got.Equal(deadline) {
			return nil, errors.New("the handler's context is not bounded by the input's deadline")
		}
		return want, nil
	}))
	outs, err := h.Handle(context.Background(), withDeadline(deadline))
	if err != nil || len(outs) != 1 {
		t.Fatalf("Handle = %v, %v; want the handler's outputs", outs, err)
	}
}

// A failure that comes back after the deadline is reported as expired: a retry would be later
// still. One that comes back in time is the handler's own.
func TestDeadlineReportsALateFailureAsExpired(t *testing.T) {
	h := Deadline(HandlerFunc(func(ctx context.Context, in *Input) ([]Output, error) {
		if in.Subject == "in-time" {
			return nil, errors.New("upstream answered 503")
		}
		<-ctx.Done() // the upstream answers only once the deadline has cut the call
		return nil, errors.New("upstream answered 503")
	}))
	late := withDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := h.Handle(context.Background(), late)
	if !errors.Is(err, failure.ErrExpired) || !strings.Contains(err.Error(), "passed while handling (upstream answered 503)") {
		t.Fatalf("late failure = %v, want failure.ErrExpired quoting the handler's error", err)
	}
	inTime := withDeadline(time.Now().Add(time.Hour))
	inTime.Subject = "in-time"
	if _, err := h.Handle(context.Background(), inTime); err == nil || failure.IsPermanent(err) {
		t.Fatalf("failure in time = %v, want the handler's retryable error", err)
	}
}

func TestDeadlineLeavesAnInputWithoutOneUntouched(t *testing.T) {
	h := Deadline(HandlerFunc(func(ctx context.Context, _ *Input) ([]Output, error) {
		if _, ok := ctx.Deadline(); ok {
			return nil, errors.New("the handler's context has a deadline")
		}
		return nil, nil
	}))
	if _, err := h.Handle(context.Background(), &Input{}); err != nil {
		t.Fatal(err)
	}
}
