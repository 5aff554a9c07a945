package milvus

import (
	"context"
	"errors"
	"fmt"

	"github.com/milvus-io/milvus/pkg/v2/util/merr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval"
)

// ErrClosed is returned by Search after Close. It is retryable: the message goes back to the
// stream for a replica that is still running.
var ErrClosed = errors.New("milvus retriever is closed")

// classify marks err, returned by the SDK while doing op (`searching milvus collection "docs"`),
// for the stage runtime: permanent (matching retrieval.ErrCollectionNotFound or
// retrieval.ErrInvalidQuery where they apply) or left unmarked, which is retryable. A done
// context is never permanent, and its error stays matchable with errors.Is even when gRPC
// reported it as a status.
//
// Milvus statuses (merr codes) are permanent when the query itself is wrong: Milvus reports a
// vector of the wrong dimension, a filter it cannot parse, an unknown field or a metric other
// than the index's as an invalid parameter (1100). They are also permanent when no retry can
// help without an operator: a missing collection, alias, partition, index or database, a bad
// schema, missing privileges, an unsupported operation. Everything else the server reports
// (not ready, rate-limited, collection not loaded yet, a replica or node unavailable, an
// internal error, a code this SDK does not know) is retryable, like an HTTP 5xx, and the
// stage's delivery budget bounds the retries. "Collection not loaded" is retryable on purpose:
// an ingest job loads the collection, and a search arriving meanwhile should wait for it rather
// than be dead-lettered.
func classify(ctx context.Context, op string, err error) error {
	wrapped := fmt.Errorf("%s: %w", op, err)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w: %w", op, ctxErr, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return wrapped
	}
	// Transport errors: the gRPC call itself failed (server down, deadline, auth interceptor).
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.InvalidArgument, codes.OutOfRange:
			return failure.Permanent(fmt.Errorf("%s: %w: %w", op, retrieval.ErrInvalidQuery, err))
		case codes.DeadlineExceeded:
			// Our deadline, propagated to the server, which can give up a moment before our
			// context notices: keep it matchable as context.DeadlineExceeded either way.
			return fmt.Errorf("%s: %w: %w", op, context.DeadlineExceeded, err)
		case codes.NotFound, codes.AlreadyExists, codes.PermissionDenied, codes.Unauthenticated,
			codes.FailedPrecondition, codes.Unimplemented:
			return failure.Permanent(wrapped)
		default: // Unavailable, ResourceExhausted, Aborted, Internal, Unknown, ...
			return wrapped
		}
	}
	// Milvus statuses: the server answered and said no.
	switch {
	case merr.IsRetryableErr(err): // the server said so itself
		return wrapped
	case errors.Is(err, merr.ErrCollectionNotFound):
		return failure.Permanent(fmt.Errorf("%s: %w: %w", op, retrieval.ErrCollectionNotFound, err))
	case merr.GetErrorType(err) == merr.InputError,
		isAny(err, merr.ErrParameterInvalid, merr.ErrParameterMissing, merr.ErrParameterTooLarge,
			merr.ErrFieldNotFound, merr.ErrFieldInvalidName):
		return failure.Permanent(fmt.Errorf("%s: %w: %w", op, retrieval.ErrInvalidQuery, err))
	case isAny(err, merr.ErrCollectionIllegalSchema, merr.ErrCollectionSchemaMismatch, merr.ErrAliasNotFound,
		merr.ErrPartitionNotFound, merr.ErrIndexNotFound, merr.ErrIndexNotSupported, merr.ErrDatabaseNotFound,
		merr.ErrDatabaseInvalidName, merr.ErrPrivilegeNotAuthenticated, merr.ErrPrivilegeNotPermitted,
		merr.ErrNeedAuthenticate, merr.ErrServiceUnimplemented, merr.ErrOperationNotSupported):
		return failure.Permanent(wrapped)
	}
	return wrapped
}

func isAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
