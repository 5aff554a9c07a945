package tracecontext

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// Transport wraps base (nil means http.DefaultTransport) in the OTel HTTP instrumentation: each
// request gets a client span in its caller's trace and carries traceparent. Around it, each
// round trip counts as an attempt of its call (CountAttempts), and the status of the latest
// answer is set (http.response.status_code) on the caller's span, the call's span that
// breaker.Do starts, so the call shows what the upstream answered without opening its HTTP
// spans.
func Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return callTransport{base: otelhttp.NewTransport(base,
		otelhttp.WithPropagators(propagator), otelhttp.WithTracerProvider(FollowCaller()))}
}

type callTransport struct{ base http.RoundTripper }

func (t callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	AttemptStarted(req.Context())
	resp, err := t.base.RoundTrip(req)
	if err == nil {
		trace.SpanFromContext(req.Context()).SetAttributes(semconv.HTTPResponseStatusCode(resp.StatusCode))
	}
	return resp, err
}
