package milvus

import (
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc/stats"

	"github.com/jetflow-dev/jetflow/internal/telemetry/tracecontext"
)

// newStatsHandler is the OTel gRPC instrumentation of the connection: each RPC attempt gets a
// client span in its caller's trace (tracecontext.FollowCaller) and carries traceparent to
// Milvus. The attempts of a Search are counted by retryUnavailable.
func newStatsHandler() stats.Handler {
	return otelgrpc.NewClientHandler(
		otelgrpc.WithTracerProvider(tracecontext.FollowCaller()),
		otelgrpc.WithPropagators(tracecontext.Propagator()),
	)
}
