package failure

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestClassification(t *testing.T) {
	base := errors.New("boom")
	tests := []struct {
		name      string
		err       error
		permanent bool
		delay     time.Duration
		hasDelay  bool
	}{
		{name: "plain error is retryable", err: base},
		{name: "permanent", err: Permanent(base), permanent: true},
		{name: "wrapped permanent", err: fmt.Errorf("calling llm: %w", Permanent(base)), permanent: true},
		{name: "invalid", err: Invalidf("field %s is empty", "query"), permanent: true},
		{name: "expired", err: fmt.Errorf("handling: %w", ErrExpired), permanent: true},
		{name: "retry after", err: RetryAfter(base, 3*time.Second), delay: 3 * time.Second, hasDelay: true},
		{name: "wrapped retry after", err: fmt.Errorf("x: %w", RetryAfter(base, time.Second)), delay: time.Second, hasDelay: true},
		{name: "context deadline is retryable", err: context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsPermanent(tt.err); got != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v", got, tt.permanent)
			}
			d, ok := RetryDelay(tt.err)
			if ok != tt.hasDelay || d != tt.delay {
				t.Errorf("RetryDelay = %v, %v; want %v, %v", d, ok, tt.delay, tt.hasDelay)
			}
		})
	}
}

func TestNotAttempted(t *testing.T) {
	err := fmt.Errorf("calling tts: %w", NotAttempted(RetryAfter(errors.New("breaker open"), time.Second)))
	if !WasNotAttempted(err) || IsPermanent(err) {
		t.Fatalf("WasNotAttempted=%v IsPermanent=%v", WasNotAttempted(err), IsPermanent(err))
	}
	if d, ok := RetryDelay(err); !ok || d != time.Second {
		t.Fatalf("RetryDelay = %v %v", d, ok)
	}
	if WasNotAttempted(errors.New("plain")) {
		t.Fatal("a plain error was not marked")
	}
}

func TestNilStaysNil(t *testing.T) {
	if Permanent(nil) != nil || RetryAfter(nil, time.Second) != nil || NotAttempted(nil) != nil || Invalid(nil) != nil {
		t.Fatal("marking nil must give nil")
	}
}

func TestInvalidMatchesSentinel(t *testing.T) {
	err := Invalidf("sequence %d is negative", -1)
	if !errors.Is(err, ErrInvalid) {
		t.Fatal("Invalidf must match ErrInvalid")
	}
	if err.Error() != "invalid message: sequence -1 is negative" {
		t.Fatalf("message = %q", err.Error())
	}
}

// A validation error from elsewhere (a schema that knows nothing of this package) becomes
// permanent invalid input, with its text unchanged and itself still matchable.
func TestInvalidClassifiesAnotherError(t *testing.T) {
	cause := &fieldError{field: "query"}
	err := Invalid(fmt.Errorf("validating request: %w", cause))
	if !errors.Is(err, ErrInvalid) || !IsPermanent(err) {
		t.Fatalf("Invalid(...) = %v, want a permanent ErrInvalid", err)
	}
	var fe *fieldError
	if !errors.As(err, &fe) || fe.field != "query" {
		t.Fatalf("errors.As lost the cause of %v", err)
	}
	if err.Error() != "validating request: query is required" {
		t.Fatalf("message = %q", err.Error())
	}
}

type fieldError struct{ field string }

func (e *fieldError) Error() string { return e.field + " is required" }
