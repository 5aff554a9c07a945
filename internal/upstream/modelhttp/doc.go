// Package modelhttp is the HTTP plumbing shared by the model-server clients (llm, embedding,
// rerank, transcribe, speech): configuration from the environment, one tuned http.Client, a
// per-call timeout, and the classification of every failure into the types of internal/failure,
// so that the stage runtime can tell a dead server (retry later) from a bad request (dead-letter).
//
// The clients know nothing of circuit breakers: the worker wraps each call in its stage's breaker.
//
// # Base URL rule
//
// Ray Serve mounts applications under route prefixes, so no path is ever assumed at the host
// root. Config.BaseURL is everything up to and including the OpenAI "/v1" segment, for example
// http://ray:8000/llm/v1, and the clients append the OpenAI route ("/chat/completions",
// "/embeddings", "/audio/transcriptions", "/audio/speech"). Servers spoken to in their native
// shape (TEI's /embed and /rerank) are configured with the URL under which those routes live,
// usually the host root, for example http://tei:8080; the client appends "/embed" or "/rerank".
//
// # Error classification
//
//   - connection refused or reset, DNS failures, a body cut off while reading, and the per-call
//     timeout (ErrTimeout) are retryable (unmarked);
//   - HTTP 408, 425, 429 and 5xx are retryable; a Retry-After header (seconds or HTTP-date) is
//     attached with failure.RetryAfter, capped at MaxRetryAfter;
//   - every other non-2xx status, and a 2xx body that cannot be decoded, is failure.Permanent;
//   - cancellation or expiry of the caller's own context is returned as ctx.Err(), wrapped and
//     unmarked: the runtime, not the client, decides what a cancelled message means.
//
// A non-2xx answer is a *StatusError (match with errors.As) whatever its class.
//
// # Traces
//
// Every request goes through the OTel HTTP instrumentation (tracecontext.Transport): it gets a
// client span in its caller's trace and carries traceparent, so vLLM and Ray Serve continue the
// trace. The answer's status is also set (http.response.status_code) on the caller's span, which
// is the call's span that breaker.Do starts. The clients do not retry.
package modelhttp
