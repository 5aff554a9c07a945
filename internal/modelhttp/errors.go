package modelhttp

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/internal/failure"
)

// ErrTimeout is matched (errors.Is) by a call that ran past its per-call timeout. It is
// retryable: the server may be overloaded now and fine in a moment. The same error also
// matches context.DeadlineExceeded.
var ErrTimeout = errors.New("model server did not answer within the call timeout")

// ErrResponseTooLarge is matched by a response body longer than the client's limit. It is
// permanent: the same request would produce the same body again.
var ErrResponseTooLarge = errors.New("model server response is larger than the limit")

// ErrInvalidOption is matched by an Option given a value it cannot use.
var ErrInvalidOption = errors.New("invalid model client option")

// maxErrorBody is how much of a non-2xx body a StatusError keeps.
const maxErrorBody = 512

// MaxRetryAfter caps a server's Retry-After, so that one odd header cannot park a message far
// beyond its own deadline.
const MaxRetryAfter = 5 * time.Minute

// StatusError is a non-2xx answer from a model server.
type StatusError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Body is the start of the response body (at most 512 bytes), with the API key removed.
	Body string
	// Endpoint is the method and URL called, with any password in the URL redacted.
	Endpoint string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s: HTTP %d %s", e.Endpoint, e.StatusCode, http.StatusText(e.StatusCode))
	if body := strings.TrimSpace(e.Body); body != "" {
		msg += ": " + body
	}
	return msg
}

// Retryable reports whether the status says the same request may succeed later.
func (e *StatusError) Retryable() bool { return retryableStatus(e.StatusCode) }

func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return true
	}
	return code >= 500 && code <= 599
}

// classifyStatus marks a StatusError: retryable statuses stay unmarked (with the server's
// Retry-After attached when present), every other status is permanent.
func classifyStatus(e *StatusError, retryAfter string, now time.Time) error {
	if !e.Retryable() {
		return failure.Permanent(e)
	}
	if d, ok := parseRetryAfter(retryAfter, now); ok {
		return failure.RetryAfter(e, d)
	}
	return e
}

// parseRetryAfter reads a Retry-After value (RFC 9110 section 10.2.3): delay-seconds or an
// HTTP-date. A date in the past means "now" (zero delay); the result is capped at MaxRetryAfter.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil {
		if secs > uint64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, true
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = max(t.Sub(now), 0)
	} else {
		return 0, false
	}
	return min(d, MaxRetryAfter), true
}

// redactBody removes the API key, should the server echo the request's headers back, then
// trims the body for an error message. The caller reads maxErrorBody+len(apiKey) bytes so that
// a key straddling the cut is still seen whole.
func redactBody(body []byte, apiKey string) string {
	s := string(body)
	if apiKey != "" {
		s = strings.ReplaceAll(s, apiKey, "[REDACTED]")
	}
	if len(s) > maxErrorBody {
		s = s[:maxErrorBody]
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// RetryableStatus reports whether an HTTP status (or a status code carried inside an error
// object, as vLLM does mid-stream) says the same request may succeed later: 408, 425, 429 and
// 5xx.
func RetryableStatus(code int) bool { return retryableStatus(code) }
