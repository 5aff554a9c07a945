package gateway

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

// adminService answers operators with the data of jetflow status and jetflow dlq.
type adminService struct{ s *Server }

func (a adminService) ListDeadLetters(context.Context, *jetflowv1.ListDeadLettersRequest) (*jetflowv1.ListDeadLettersResponse, error) {
	return nil, connect.NewError(connect.CodeUnimplemented, errors.New("not yet"))
}

func (a adminService) ReplayDeadLetters(context.Context, *jetflowv1.ReplayDeadLettersRequest) (*jetflowv1.ReplayDeadLettersResponse, error) {
	return nil, connect.NewError(connect.CodeUnimplemented, errors.New("not yet"))
}

func (a adminService) Status(context.Context, *jetflowv1.StatusRequest) (*jetflowv1.StatusResponse, error) {
	return nil, connect.NewError(connect.CodeUnimplemented, errors.New("not yet"))
}
