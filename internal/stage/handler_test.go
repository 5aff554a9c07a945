package stage

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/jetflow-dev/jetflow/internal/failure"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

func ttsInput(t *testing.T, req *jetflowv1.TtsRequest) *Input {
	t.Helper()
	data, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return &Input{Subject: "ai.tts.request", Data: data}
}

func validTTS(deadline time.Time) *jetflowv1.TtsRequest {
	return &jetflowv1.TtsRequest{RequestId: "r-1", SessionId: "s-1", Text: "hello", Voice: "alloy", Deadline: timestamppb.New(deadline)}
}

// The schema reports what is wrong with a message; Typed makes it permanent invalid input,
// keeping the schema's error for errors.As.
func TestTypedClassifiesAValidationFailureAsPermanent(t *testing.T) {
	called := false
	h := Typed(func(context.Context, *jetflowv1.TtsRequest, *Input) ([]Output, error) {
		called = true
		return nil, nil
	})
	req := validTTS(time.Now().Add(time.Hour))
	req.RequestId = "has.dots"
	_, err := h.Handle(context.Background(), ttsInput(t, req))
	var ve *jetflowv1.ValidationError
	if !failure.IsPermanent(err) || !errors.Is(err, failure.ErrInvalid) || !errors.Is(err, jetflowv1.ErrInvalid) || !errors.As(err, &ve) || ve.Field != "request_id" {
		t.Fatalf("Handle = %v, want a permanent failure.ErrInvalid wrapping the schema's ValidationError for request_id", err)
	}
	if err.Error() != "validating jetflow.v1.TtsRequest: invalid message: request_id: "+ve.Reason {
		t.Errorf("error text %q", err.Error())
	}
	if called {
		t.Fatal("the function ran for an invalid message")
	}
}

// Typed hands the message's deadline to the Deadline middleware through the Input.
func TestTypedHonoursTheMessageDeadline(t *testing.T) {
	deadline := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	h := Typed(func(ctx context.Context, msg *jetflowv1.TtsRequest, in *Input) ([]Output, error) {
		got, ok := ctx.Deadline()
		fromInput, has := in.Deadline()
		if !ok || !got.Equal(deadline) || !has || !fromInput.Equal(deadline) || msg.GetText() != "hello" {
			return nil, errors.New("the function did not get the decoded message under its deadline")
		}
		return nil, nil
	})
	if _, err := h.Handle(context.Background(), ttsInput(t, validTTS(deadline))); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Handle(context.Background(), ttsInput(t, validTTS(time.Now().Add(-time.Second)))); !errors.Is(err, failure.ErrExpired) {
		t.Fatalf("Handle of an expired request = %v, want failure.ErrExpired", err)
	}
}
