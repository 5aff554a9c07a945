package gateway

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

// Each way a call can end maps to the Connect code that says what happened, with a detail a
// client can switch on.
func TestWaitErrorCodes(t *testing.T) {
	expired, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	live := context.Background()
	tests := []struct {
		name      string
		ctx       context.Context
		err       error
		code      connect.Code
		detail    string
		retryable bool
	}{
		{"caller's deadline", expired, context.DeadlineExceeded, connect.CodeDeadlineExceeded, DetailExpired, true},
		{"caller left", canceled, context.Canceled, connect.CodeCanceled, DetailCanceled, true},
		{"no stream answered", live, nats.ErrNoResponders, connect.CodeUnavailable, DetailUnavailable, true},
		{"publish timed out", live, fmt.Errorf("publishing: %w", context.DeadlineExceeded), connect.CodeUnavailable, DetailUnavailable, true},
		{"no JetStream", live, jetstream.ErrNoStreamResponse, connect.CodeUnavailable, DetailUnavailable, true},
		{"connection closed", live, nats.ErrConnectionClosed, connect.CodeUnavailable, DetailUnavailable, true},
		{"JetStream refused", live, &jetstream.APIError{Code: 503, Description: "insufficient resources"}, connect.CodeUnavailable, DetailUnavailable, true},
		{"too large", live, fmt.Errorf("2 MiB: %w", nats.ErrMaxPayload), connect.CodeInvalidArgument, DetailTooLarge, false},
		{"anything else", live, errors.New("odd"), connect.CodeInternal, DetailInternal, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cerr := waitError(tt.ctx, "doing it", tt.err)
			if cerr.Code() != tt.code {
				t.Fatalf("code %v, want %v (%v)", cerr.Code(), tt.code, cerr)
			}
			d := detail(t, cerr)
			if d.GetCode() != tt.detail || d.GetRetryable() != tt.retryable || d.GetMessage() == "" {
				t.Fatalf("detail %v, want code %s retryable %v", d, tt.detail, tt.retryable)
			}
		})
	}
	// A Connect error already decided passes through unchanged.
	inner := connect.NewError(connect.CodeFailedPrecondition, errors.New("decided"))
	if got := waitError(live, "doing it", fmt.Errorf("wrapped: %w", inner)); got != inner {
		t.Fatalf("got %v, want the inner error", got)
	}
}

// A dead letter is failed_precondition when the failure is permanent, aborted (retryable)
// otherwise, and names its stage.
func TestDeadLetterError(t *testing.T) {
	for kind, code := range map[string]connect.Code{"permanent": connect.CodeFailedPrecondition, "exhausted": connect.CodeAborted, "max-deliveries": connect.CodeAborted} {
		err := deadLetter{stage: "tts", kind: kind, reason: "boom"}.err()
		var cerr *connect.Error
		if !errors.As(err, &cerr) || cerr.Code() != code || !errors.Is(err, ErrDeadLettered) {
			t.Fatalf("%s: %v", kind, err)
		}
		if d := detail(t, cerr); d.GetStage() != "tts" || d.GetCode() != DetailDeadLettered || d.GetRetryable() != (kind != "permanent") {
			t.Fatalf("%s: detail %v", kind, d)
		}
	}
}

func detail(t *testing.T, cerr *connect.Error) *jetflowv1.ErrorDetail {
	t.Helper()
	for _, d := range cerr.Details() {
		if v, err := d.Value(); err == nil {
			if e, ok := v.(*jetflowv1.ErrorDetail); ok {
				return e
			}
		}
	}
	t.Fatalf("no ErrorDetail on %v", cerr)
	return nil
}
