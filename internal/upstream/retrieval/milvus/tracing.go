package milvus

import (
	"context"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc/stats"

	"github.com/jetflow-dev/jetflow/internal/telemetry/tracecontext"
)

// searchMethod ends the full name of the Search RPC; the SDK may describe the collection first
// on the same context, which is not a retry of the search.
const searchMethod = "/Search"

// statsHandler is the OTel gRPC instrumentation of the connection: each RPC attempt gets a
// client span in its caller's trace (tracecontext.FollowCaller) and carries traceparent to
// Milvus. It also counts the attempts of each Search, which the SDK's retry interceptor makes
// as separate RPCs, so a search's span can say how often it was retried.
type statsHandler struct{ stats.Handler }

func newStatsHandler() stats.Handler {
	return statsHandler{otelgrpc.NewClientHandler(
		otelgrpc.WithTracerProvider(tracecontext.FollowCaller()),
		otelgrpc.WithPropagators(tracecontext.Propagator()),
	)}
}

func (h statsHandler) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	if strings.HasSuffix(info.FullMethodName, searchMethod) {
		tracecontext.AttemptStarted(ctx)
	}
	return h.Handler.TagRPC(ctx, info)
}
