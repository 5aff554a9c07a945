package stage

import "errors"

var (
	// ErrNoHandler is returned by New when the handler is nil.
	ErrNoHandler = errors.New("handler is nil")
	// ErrInvalidOutput is matched by the error of an output its handler built wrong: no
	// subject, no message, or a message that does not encode. Retrying cannot fix a bug in the
	// handler, so the error is permanent and the runtime dead-letters the input at once, where
	// an operator sees the reason.
	ErrInvalidOutput = errors.New("invalid output")
	// ErrNotDelivered is returned by Input.Emit on an Input the runtime did not deliver: there
	// is no input to derive the output's id from.
	ErrNotDelivered = errors.New("the input was not delivered by a stage")
)

// errGraceOver is the cause of the handler contexts' cancellation when the grace period ran out:
// fail gives such a message back (nak) instead of counting the cancellation as its failure.
var errGraceOver = errors.New("shutdown grace period over")
