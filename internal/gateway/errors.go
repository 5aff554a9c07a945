package gateway

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

// Codes of ErrorDetail.code the gateway sets: stable, for clients to switch on.
const (
	DetailInvalid      = "invalid"       // a field is wrong: the message names it; do not retry as is
	DetailTooLarge     = "too_large"     // the request does not fit one NATS message: send less
	DetailExpired      = "expired"       // the deadline passed: retry with a later one
	DetailUnavailable  = "unavailable"   // JetStream did not take the request: retry later
	DetailDeadLettered = "dead_lettered" // a stage gave up on the request: see stage and message
	DetailCanceled     = "canceled"      // the client went away
	DetailInternal     = "internal"      // the gateway could not read an answer it expected
)

// ErrDeadLettered is matched by the error of a call whose request a stage dead-lettered.
var ErrDeadLettered = errors.New("request was dead-lettered")

// newError is a Connect error with an ErrorDetail that says what to do.
func newError(code connect.Code, detail *jetflowv1.ErrorDetail, err error) *connect.Error {
	cerr := connect.NewError(code, err)
	if d, derr := connect.NewErrorDetail(detail); derr == nil {
		cerr.AddDetail(d)
	}
	return cerr
}

func invalidArgument(err error) *connect.Error {
	return newError(connect.CodeInvalidArgument, &jetflowv1.ErrorDetail{
		Code: DetailInvalid, Message: err.Error() + "; fix the field and send the request again",
	}, err)
}

// waitError maps the end of a wait (or a publish) to the Connect code that says what happened:
// the caller's deadline, the caller leaving, JetStream not answering, a request too large for
// one message. what says what was being done ("publishing chat request r-1").
func waitError(ctx context.Context, what string, err error) *connect.Error {
	var cerr *connect.Error
	if errors.As(err, &cerr) {
		return cerr
	}
	wrapped := fmt.Errorf("%s: %w", what, err)
	switch {
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		return newError(connect.CodeDeadlineExceeded, &jetflowv1.ErrorDetail{
			Code:      DetailExpired,
			Message:   "the deadline passed before the answer was ready; the request may still complete: send it again with the same request_id and a later deadline to read its answer",
			Retryable: true,
		}, wrapped)
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return newError(connect.CodeCanceled, &jetflowv1.ErrorDetail{
			Code: DetailCanceled, Message: "the call was canceled", Retryable: true,
		}, wrapped)
	case errors.Is(err, nats.ErrMaxPayload):
		return newError(connect.CodeInvalidArgument, &jetflowv1.ErrorDetail{
			Code:    DetailTooLarge,
			Message: "the request is larger than one NATS message may be; send less (shorter audio, or stream it through SpeechService.Transcribe in chunks)",
		}, wrapped)
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrDisconnected),
		errors.Is(err, nats.ErrConnectionDraining), errors.Is(err, jetstream.ErrJetStreamNotEnabled),
		errors.Is(err, jetstream.ErrStreamNotFound):
		return newError(connect.CodeUnavailable, &jetflowv1.ErrorDetail{
			Code:      DetailUnavailable,
			Message:   "JetStream did not take or answer the request; retry later with the same request_id (it runs once)",
			Retryable: true,
		}, wrapped)
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return newError(connect.CodeUnavailable, &jetflowv1.ErrorDetail{
			Code:      DetailUnavailable,
			Message:   "JetStream refused the request (" + apiErr.Description + "); retry later with the same request_id",
			Retryable: true,
		}, wrapped)
	}
	return newError(connect.CodeInternal, &jetflowv1.ErrorDetail{
		Code: DetailInternal, Message: "the gateway could not complete the call; retry with the same request_id", Retryable: true,
	}, wrapped)
}
