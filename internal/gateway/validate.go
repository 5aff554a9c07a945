package gateway

import (
	"context"

	"connectrpc.com/connect"
)

// validator is every request message of proto/jetflow/v1 that has rules (validate.go there).
type validator interface{ Validate() error }

// validation refuses an invalid request before anything is published: invalid_argument, the
// field named in the message. On a client stream each message is checked as it is received.
type validation struct{}

func (validation) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if err := check(req.Any()); err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (validation) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (validation) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return next(ctx, validatingConn{conn})
	}
}

type validatingConn struct{ connect.StreamingHandlerConn }

func (c validatingConn) Receive(msg any) error {
	if err := c.StreamingHandlerConn.Receive(msg); err != nil {
		return err
	}
	return check(msg)
}

func check(msg any) error {
	v, ok := msg.(validator)
	if !ok {
		return nil
	}
	if err := v.Validate(); err != nil {
		return invalidArgument(err)
	}
	return nil
}
