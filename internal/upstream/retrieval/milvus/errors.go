package milvus

import (
	"context"
	"errors"
	"fmt"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval"
)

// ErrClosed is returned by Search after Close. It is retryable: the message goes back to the
// stream for a replica that is still running.
var ErrClosed = errors.New("milvus retriever is closed")

// The Milvus status codes (commonpb.Status.Code, Milvus 2.3 and later) that classify decides on.
// They are the server's merr codes (milvus/pkg/util/merr/errors.go), copied because that package
// links the server's configuration and logging; the oracle test checks them against it.
const (
	codeServiceUnimplemented     int32 = 10
	codeCollectionNotFound       int32 = 100
	codeCollectionNotLoaded      int32 = 101
	codeCollectionIllegalSchema  int32 = 105
	codeCollectionSchemaMismatch int32 = 109
	codePartitionNotFound        int32 = 200
	codeIndexNotFound            int32 = 700
	codeIndexNotSupported        int32 = 701
	codeDatabaseNotFound         int32 = 800
	codeDatabaseInvalidName      int32 = 802
	codeParameterInvalid         int32 = 1100
	codeParameterMissing         int32 = 1101
	codeParameterTooLarge        int32 = 1102
	codePrivilegeNotAuth         int32 = 1400
	codePrivilegeNotPermitted    int32 = 1401
	codeAliasNotFound            int32 = 1600
	codeFieldNotFound            int32 = 1700
	codeFieldInvalidName         int32 = 1701
	codeNeedAuthenticate         int32 = 1800
	codeOperationNotSupported    int32 = 3000
	codeUnexpected               int32 = 1<<16 - 1
)

// inputErrorKey is the ExtraInfo flag with which Milvus marks a status as the caller's fault.
const inputErrorKey = "is_input_error"

// StatusError is a non-success status a Milvus server answered with.
type StatusError struct {
	// Code is the Milvus error code; for a server older than 2.3, which sends only the legacy
	// ErrorCode, the code that ErrorCode stands for.
	Code int32
	// Reason is the server's message.
	Reason string
	// Retriable is the server's own verdict (Milvus 2.3 and later).
	Retriable bool
	// InputError is set when the server flagged the request itself as wrong.
	InputError bool
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("milvus error %d: %s", e.Code, e.Reason)
	switch e.Code {
	case codeCollectionNotFound:
		msg += " (the collection does not exist in this database: check MILVUS_COLLECTION and the database in MILVUS_ADDR)"
	case codeCollectionNotLoaded:
		msg += " (the collection exists but is not loaded into memory; searches are retried until it is)"
	}
	return msg
}

// statusError returns the error st stands for, or nil when it is a success, as the SDK reads it
// (merr.Error): the code when set, else the legacy ErrorCode, never retriable.
func statusError(st *commonpb.Status) error {
	legacy := st.GetErrorCode() //nolint:staticcheck // servers before Milvus 2.3 send only the legacy code
	if legacy == commonpb.ErrorCode_Success && st.GetCode() == 0 {
		return nil
	}
	_, input := st.GetExtraInfo()[inputErrorKey]
	e := &StatusError{Code: st.GetCode(), Reason: st.GetReason(), Retriable: st.GetRetriable(), InputError: input}
	if e.Code == 0 {
		e.Code, e.Retriable = legacyCode(legacy), false
	}
	return e
}

// legacyCode maps the pre-2.3 ErrorCode to the code classify reads (merr.OldCodeToMerr); the
// ones that map to a code classify treats like any other are left out.
func legacyCode(c commonpb.ErrorCode) int32 { //nolint:staticcheck // the legacy code is what old servers send
	switch c {
	case commonpb.ErrorCode_CollectionNotExists:
		return codeCollectionNotFound
	case commonpb.ErrorCode_IllegalArgument:
		return codeParameterInvalid
	case commonpb.ErrorCode_IndexNotExist:
		return codeIndexNotFound
	default:
		return codeUnexpected
	}
}

// classify marks err, returned while doing op (`searching milvus collection "docs"`), for the
// stage runtime: permanent (matching retrieval.ErrCollectionNotFound or retrieval.ErrInvalidQuery
// where they apply) or left unmarked, which is retryable. A done context is never permanent, and
// its error stays matchable with errors.Is even when gRPC reported it as a status.
//
// Milvus statuses are permanent when the query itself is wrong: Milvus reports a vector of the
// wrong dimension, a filter it cannot parse, an unknown field or a metric other than the index's
// as an invalid parameter (1100). They are also permanent when no retry can help without an
// operator: a missing collection, alias, partition, index or database, a bad schema, missing
// privileges, an unsupported operation. Everything else the server reports (not ready,
// rate-limited, collection not loaded yet, a replica or node unavailable, an internal error, a
// code we do not know) is retryable, like an HTTP 5xx, and the stage's delivery budget bounds the
// retries. "Collection not loaded" is retryable on purpose: an ingest job loads the collection,
// and a search arriving meanwhile should wait for it rather than be dead-lettered.
func classify(ctx context.Context, op string, err error) error {
	wrapped := fmt.Errorf("%s: %w", op, err)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w: %w", op, ctxErr, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return wrapped
	}
	// Milvus statuses: the server answered and said no.
	if se, ok := errors.AsType[*StatusError](err); ok {
		return classifyStatus(op, se, wrapped)
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
	return wrapped
}

func classifyStatus(op string, se *StatusError, wrapped error) error {
	switch {
	case se.Retriable: // the server said so itself
		return wrapped
	case se.Code == codeCollectionNotFound:
		return failure.Permanent(fmt.Errorf("%s: %w: %w", op, retrieval.ErrCollectionNotFound, se))
	case se.InputError:
		return failure.Permanent(fmt.Errorf("%s: %w: %w", op, retrieval.ErrInvalidQuery, se))
	}
	switch se.Code {
	case codeParameterInvalid, codeParameterMissing, codeParameterTooLarge, codeFieldNotFound, codeFieldInvalidName:
		return failure.Permanent(fmt.Errorf("%s: %w: %w", op, retrieval.ErrInvalidQuery, se))
	case codeCollectionIllegalSchema, codeCollectionSchemaMismatch, codeAliasNotFound, codePartitionNotFound,
		codeIndexNotFound, codeIndexNotSupported, codeDatabaseNotFound, codeDatabaseInvalidName,
		codePrivilegeNotAuth, codePrivilegeNotPermitted, codeNeedAuthenticate, codeServiceUnimplemented,
		codeOperationNotSupported:
		return failure.Permanent(wrapped)
	}
	return wrapped
}
