package gateway

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
)

// requestDeadline is the deadline the published request carries: the earlier of its own and
// the caller's, so a stage that picks the request up after the caller stopped waiting
// dead-letters it as expired instead of answering nobody. Without either it has none: the
// request then completes whether or not anyone waits.
func requestDeadline(ctx context.Context, own *timestamppb.Timestamp) *timestamppb.Timestamp {
	callerDeadline, ok := ctx.Deadline()
	if !ok {
		return own
	}
	if own != nil && own.AsTime().Before(callerDeadline) {
		return own
	}
	return timestamppb.New(callerDeadline)
}

// waitContext bounds a call whose caller set no deadline by MaxWait, and one whose request
// carries an earlier deadline than the caller's by that deadline: no answer can come after it.
func (s *Server) waitContext(ctx context.Context, own *timestamppb.Timestamp) (context.Context, context.CancelFunc) {
	limit := time.Now().Add(s.cfg.MaxWait)
	if d, ok := ctx.Deadline(); ok && d.Before(limit) {
		limit = d
	}
	if own != nil && own.AsTime().Before(limit) {
		limit = own.AsTime()
	}
	return context.WithDeadline(ctx, limit)
}
