package breaker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/failure"
)

func TestOpensAfterConsecutiveFailures(t *testing.T) {
	tests := []struct {
		name     string
		failures uint32
		want     int // failures needed to trip
	}{
		{name: "one failure", failures: 1, want: 1},
		{name: "three failures", failures: 3, want: 3},
		{name: "zero means five", failures: 0, want: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := time.Minute
			b := New("chat", LLM, Settings{ConsecutiveFailures: tt.failures, Timeout: timeout})
			u := &upstream{}
			for i := range tt.want - 1 {
				_, _ = Do(t.Context(), b, u.answer(errUnavailable))
				if s := b.State(); s != Closed {
					t.Fatalf("state after %d failures = %v, want closed", i+1, s)
				}
			}
			_, err := Do(t.Context(), b, u.answer(errUnavailable))
			if !errors.Is(err, errUnavailable) {
				t.Fatalf("tripping call returned %v, want the upstream's error", err)
			}
			if s := b.State(); s != Open {
				t.Fatalf("state after %d failures = %v, want open", tt.want, s)
			}

			before := u.calls.Load()
			for range 3 {
				_, err = Do(t.Context(), b, u.answer(nil))
				if !errors.Is(err, ErrOpen) {
					t.Fatalf("call while open returned %v, want ErrOpen", err)
				}
			}
			if got := u.calls.Load(); got != before {
				t.Fatalf("upstream got %d calls while open", got-before)
			}
			if failure.IsPermanent(err) {
				t.Fatal("ErrOpen must be retryable")
			}
			delay, ok := failure.RetryDelay(err)
			if !ok || delay < minRetryDelay || delay > timeout {
				t.Fatalf("RetryDelay = %v, %v; want within [%v, %v]", delay, ok, minRetryDelay, timeout)
			}
			if d := b.OpenFor(); d <= 0 || d > timeout {
				t.Fatalf("OpenFor = %v, want within (0, %v]", d, timeout)
			}
		})
	}
}

func TestWhichErrorsCount(t *testing.T) {
	tests := []struct {
		name string
		call func(ctx context.Context, cancel context.CancelFunc) (string, error)
		want State
	}{
		{name: "success", call: func(context.Context, context.CancelFunc) (string, error) { return "ok", nil }, want: Closed},
		{name: "permanent error", call: func(context.Context, context.CancelFunc) (string, error) {
			return "", failure.Permanentf("400 bad request")
		}, want: Closed},
		{name: "invalid input", call: func(context.Context, context.CancelFunc) (string, error) {
			return "", fmt.Errorf("calling llm: %w", failure.Invalidf("prompt too long"))
		}, want: Closed},
		{name: "caller cancels during the call", call: func(ctx context.Context, cancel context.CancelFunc) (string, error) {
			cancel()
			return "", fmt.Errorf("calling llm: %w", ctx.Err())
		}, want: Closed},
		{name: "plain error", call: func(context.Context, context.CancelFunc) (string, error) { return "", errUnavailable }, want: Open},
		{name: "429 with retry after", call: func(context.Context, context.CancelFunc) (string, error) {
			return "", failure.RetryAfter(errors.New("429 too many requests"), time.Second)
		}, want: Open},
		{name: "deadline passes during the call", call: func(ctx context.Context, _ context.CancelFunc) (string, error) {
			<-ctx.Done()
			return "", fmt.Errorf("calling llm: %w", ctx.Err())
		}, want: Open},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New("chat", LLM, Settings{ConsecutiveFailures: 2, Timeout: time.Minute})
			for range 3 {
				ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
				_, _ = Do(ctx, b, func(ctx context.Context) (string, error) { return tt.call(ctx, cancel) })
				cancel()
			}
			if got := b.State(); got != tt.want {
				t.Fatalf("state = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCancelledBeforeCallDoesNotCall(t *testing.T) {
	b := New("chat", LLM, Settings{ConsecutiveFailures: 1})
	u := &upstream{}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Do(ctx, b, u.answer(nil)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Do = %v, want context.Canceled", err)
	}
	if u.calls.Load() != 0 {
		t.Fatal("upstream called with a cancelled context")
	}
}

func TestPanicCountsAsFailure(t *testing.T) {
	b := New("chat", LLM, Settings{ConsecutiveFailures: 1, Timeout: time.Minute})
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("panic did not propagate")
			}
		}()
		_, _ = Do(t.Context(), b, func(context.Context) (int, error) { panic("boom") })
	}()
	if s := b.State(); s != Open {
		t.Fatalf("state after panic = %v, want open", s)
	}
}

func TestProbeAfterTimeout(t *testing.T) {
	tests := []struct {
		name  string
		probe error
		want  State
	}{
		{name: "success closes", probe: nil, want: Closed},
		{name: "permanent error closes", probe: failure.Permanentf("400"), want: Closed},
		{name: "failure re-opens", probe: errUnavailable, want: Open},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const timeout = 40 * time.Millisecond
			b := New("chat", Embeddings, Settings{ConsecutiveFailures: 1, Timeout: timeout})
			u := &upstream{}
			trip(t, b, u)
			waitHalfOpen(t, b)
			if d := b.OpenFor(); d != 0 {
				t.Fatalf("OpenFor when half-open = %v, want 0", d)
			}

			_, _ = Do(t.Context(), b, u.answer(tt.probe))
			if got := b.State(); got != tt.want {
				t.Fatalf("state after probe = %v, want %v", got, tt.want)
			}
			d := b.OpenFor()
			if tt.want == Open && (d <= 0 || d > timeout) {
				t.Fatalf("OpenFor after failed probe = %v, want within (0, %v]", d, timeout)
			}
			if tt.want == Closed && d != 0 {
				t.Fatalf("OpenFor after closing = %v, want 0", d)
			}
		})
	}
}

func TestHalfOpenAdmitsOnlyProbes(t *testing.T) {
	b := New("voice", TTS, Settings{ConsecutiveFailures: 1, Timeout: 20 * time.Millisecond, MaxRequests: 1})
	u := &upstream{}
	trip(t, b, u)
	waitHalfOpen(t, b)

	started, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _ = Do(t.Context(), b, func(context.Context) (string, error) {
			close(started)
			<-release
			return "ok", nil
		})
	})
	<-started

	_, err := Do(t.Context(), b, u.answer(nil))
	if !errors.Is(err, ErrOpen) {
		t.Fatalf("second call while probing = %v, want ErrOpen", err)
	}
	if d, _ := failure.RetryDelay(err); d != minRetryDelay {
		t.Fatalf("RetryDelay while probing = %v, want %v", d, minRetryDelay)
	}
	if d := b.OpenFor(); d != minRetryDelay {
		t.Fatalf("OpenFor while probing = %v, want %v", d, minRetryDelay)
	}
	close(release)
	wg.Wait()
	if s := b.State(); s != Closed {
		t.Fatalf("state after the probe succeeded = %v, want closed", s)
	}
}

func TestCancelledProbeFreesItsSlot(t *testing.T) {
	b := New("stt", STT, Settings{ConsecutiveFailures: 1, Timeout: 20 * time.Millisecond})
	u := &upstream{}
	trip(t, b, u)
	waitHalfOpen(t, b)

	ctx, cancel := context.WithCancel(t.Context())
	_, _ = Do(ctx, b, func(ctx context.Context) (string, error) {
		cancel()
		return "", ctx.Err()
	})
	if s := b.State(); s != HalfOpen {
		t.Fatalf("state after a cancelled probe = %v, want half-open", s)
	}
	if _, err := Do(t.Context(), b, u.answer(nil)); err != nil {
		t.Fatalf("next probe = %v, want it admitted", err)
	}
	if s := b.State(); s != Closed {
		t.Fatalf("state = %v, want closed", s)
	}
}

// Only runs of failures trip the breaker: an upstream failing every other call stays in use.
func TestAlternatingFailuresDoNotTrip(t *testing.T) {
	b := New("chat", Reranker, Settings{ConsecutiveFailures: 2, Timeout: time.Minute})
	u := &upstream{}
	for i := range 6 {
		var err error
		if i%2 == 1 {
			err = errUnavailable
		}
		if _, got := Do(t.Context(), b, u.answer(err)); errors.Is(got, ErrOpen) {
			t.Fatalf("call %d refused: %v", i, got)
		}
	}
	if got := b.State(); got != Closed {
		t.Fatalf("state = %v, want closed", got)
	}
	if got := u.calls.Load(); got != 6 {
		t.Fatalf("upstream saw %d calls, want 6", got)
	}
}

func TestStateChangesAreLogged(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
	b := New("chat", Milvus, Settings{ConsecutiveFailures: 1, Timeout: 20 * time.Millisecond}, WithLogger(logger))
	u := &upstream{}
	trip(t, b, u)
	waitHalfOpen(t, b)
	_, _ = Do(t.Context(), b, u.answer(nil))

	type entry struct {
		Level, Stage, Upstream, To string
	}
	want := []entry{
		{Level: "WARN", Stage: "chat", Upstream: Milvus, To: "open"},
		{Level: "INFO", Stage: "chat", Upstream: Milvus, To: "half-open"},
		{Level: "INFO", Stage: "chat", Upstream: Milvus, To: "closed"},
	}
	mu.Lock()
	defer mu.Unlock()
	dec := json.NewDecoder(&buf)
	for i, w := range want {
		var e entry
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("log line %d: %v", i, err)
		}
		if e != w {
			t.Errorf("log line %d = %+v, want %+v", i, e, w)
		}
	}
	if dec.More() {
		t.Error("more log lines than state changes")
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestConcurrentDo(t *testing.T) {
	set := NewSet("chat", Settings{ConsecutiveFailures: 3, Timeout: 5 * time.Millisecond, MaxRequests: 2})
	u := &upstream{}
	var notRefused, refused atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			b := set.Get([]string{LLM, Embeddings}[g%2])
			for i := range 200 {
				var err error
				if (g+i)%5 != 0 { // four failures in a row trip it
					err = errUnavailable
				}
				_, err = Do(t.Context(), b, u.answer(err))
				if errors.Is(err, ErrOpen) {
					refused.Add(1)
				} else {
					notRefused.Add(1)
				}
			}
		})
	}
	wg.Go(func() {
		for range 200 {
			_ = set.OpenFor()
			_ = set.Get(LLM).State()
		}
	})
	wg.Wait()
	if got, want := u.calls.Load(), notRefused.Load(); got != want {
		t.Fatalf("upstream got %d calls, Do passed %d through", got, want)
	}
	if refused.Load() == 0 {
		t.Fatal("no call was refused: the breakers never opened")
	}
}
