package auth

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

// Service names the interceptor treats specially.
const (
	AdminService  = "jetflow.v1.AdminService"
	HealthService = "grpc.health.v1.Health"
)

// RetryAfterHeader is the error metadata a rate-limited caller finds the seconds to wait in.
const RetryAfterHeader = "Retry-After"

// Interceptor returns the Connect interceptor that admits or refuses every call: pass it to
// every handler. Health checks are always admitted, without a caller.
func (a *Authenticator) Interceptor() connect.Interceptor { return interceptor{a} }

type interceptor struct{ a *Authenticator }

func (i interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		ctx, err := i.a.admit(ctx, req.Spec().Procedure, req.Header())
		if err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (i interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, err := i.a.admit(ctx, conn.Spec().Procedure, conn.RequestHeader())
		if err != nil {
			return err
		}
		return next(ctx, conn)
	}
}

// admit decides one call, in order: who is calling, may it call the service, is it within its
// rate. The first refusal is the answer.
func (a *Authenticator) admit(ctx context.Context, procedure string, header http.Header) (context.Context, error) {
	service := serviceOf(procedure)
	if service == HealthService {
		return ctx, nil
	}
	m, err := a.identify(ctx, header)
	if err != nil {
		a.log.Debug("refused a call", "procedure", procedure, "reason", err)
		return ctx, connect.NewError(connect.CodeUnauthenticated, err)
	}
	switch {
	case !m.caller.mayCall(service):
		a.log.Debug("refused a call", "procedure", procedure, "caller", m.caller.Name, "reason", errNotAllowed)
		return ctx, connect.NewError(connect.CodePermissionDenied, errNotAllowed)
	case service == AdminService && !m.caller.Admin:
		a.log.Debug("refused a call", "procedure", procedure, "caller", m.caller.Name, "reason", errNeedsAdmin)
		return ctx, connect.NewError(connect.CodePermissionDenied, errNeedsAdmin)
	}
	if wait, ok := take(m); !ok {
		a.log.Debug("refused a call", "procedure", procedure, "caller", m.caller.Name, "reason", errRateLimited, "retry_after", wait)
		return ctx, rateLimited(wait)
	}
	return withCaller(ctx, m.caller), nil
}

// identify finds the caller by API key, else by verified client certificate. A key that is
// given but unknown is refused even when a certificate would match: a caller that sends a key
// means that key.
func (a *Authenticator) identify(ctx context.Context, header http.Header) (*member, error) {
	ring := a.ring.Load()
	if key, ok := keyFrom(header); ok {
		if m := ring.byKey(key); m != nil {
			return m, nil
		}
		return nil, errUnknownKey
	}
	if cert := peerCertFrom(ctx); cert != nil {
		if m := ring.byCert(cert); m != nil {
			return m, nil
		}
		return nil, errUnknownCert
	}
	return nil, errNoCredentials
}

// keyFrom reads the key from "Authorization: Bearer <key>", else "x-api-key".
func keyFrom(header http.Header) (string, bool) {
	if v := header.Get("Authorization"); v != "" {
		scheme, key, ok := strings.Cut(v, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			if key = strings.TrimSpace(key); key != "" {
				return key, true
			}
		}
	}
	if key := strings.TrimSpace(header.Get("X-Api-Key")); key != "" {
		return key, true
	}
	return "", false
}

// take spends one token of the caller's bucket; when there is none it returns how long until
// there is, and spends nothing.
func take(m *member) (time.Duration, bool) {
	if m.limiter == nil {
		return 0, true
	}
	r := m.limiter.Reserve()
	if !r.OK() {
		return time.Duration(math.MaxInt64), false
	}
	if wait := r.Delay(); wait > 0 {
		r.Cancel()
		return wait, false
	}
	return 0, true
}

// rateLimited is resource_exhausted with the whole seconds to wait, rounded up, in the
// Retry-After metadata, and the same wait as google.rpc.RetryInfo for gRPC clients.
func rateLimited(wait time.Duration) error {
	secs := max(1, int64(math.Ceil(wait.Seconds())))
	err := connect.NewError(connect.CodeResourceExhausted, errRateLimited)
	err.Meta().Set(RetryAfterHeader, strconv.FormatInt(secs, 10))
	for _, d := range []proto.Message{
		&jetflowv1.ErrorDetail{
			Code:      "rate_limited",
			Message:   "over the caller's rate limit: retry after " + strconv.FormatInt(secs, 10) + "s, or ask for a higher rate_per_second in the key file",
			Retryable: true,
		},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Duration(secs) * time.Second)},
	} {
		if detail, derr := connect.NewErrorDetail(d); derr == nil {
			err.AddDetail(detail)
		}
	}
	return err
}

// serviceOf returns "jetflow.v1.ChatService" of "/jetflow.v1.ChatService/Chat".
func serviceOf(procedure string) string {
	service, _, _ := strings.Cut(strings.TrimPrefix(procedure, "/"), "/")
	return service
}
