package breaker

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
)

// upstream is a stand-in for a model server: it counts the calls that reach it and answers
// with whatever error it is told to.
type upstream struct {
	calls atomic.Int64
}

func (u *upstream) answer(err error) func(context.Context) (string, error) {
	return func(context.Context) (string, error) {
		u.calls.Add(1)
		if err != nil {
			return "", err
		}
		return "ok", nil
	}
}

var errUnavailable = errors.New("503 service unavailable")

// trip drives b open with retryable failures.
func trip(t *testing.T, b *Breaker, u *upstream) {
	t.Helper()
	for range b.settings.ConsecutiveFailures {
		if _, err := Do(t.Context(), b, u.answer(errUnavailable)); errors.Is(err, ErrOpen) {
			t.Fatalf("breaker refused a call before it tripped: %v", err)
		}
	}
	if got := b.State(); got != Open {
		t.Fatalf("state after %d failures = %v, want open", b.settings.ConsecutiveFailures, got)
	}
}

// waitHalfOpen polls until the open Timeout has passed.
func waitHalfOpen(t *testing.T, b *Breaker) {
	t.Helper()
	jstest.Eventually(t, 5*time.Second, 2*time.Millisecond, func() error {
		if s := b.State(); s != HalfOpen {
			return errors.New("still " + s.String())
		}
		return nil
	})
}
