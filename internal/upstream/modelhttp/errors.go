package modelhttp

import (
	"errors"
	"fmt"
	"io"
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

// MaxErrorBody is how much of a non-2xx body ReadErrorBody keeps (and so a StatusError quotes):
// enough for a server's error message, not a whole HTML error page.
const MaxErrorBody = 512

// MaxRetryAfter caps what ParseRetryAfter returns, so that one odd Retry-After header cannot
// park a message far beyond its own deadline.
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
func (e *StatusError) Retryable() bool { return RetryableStatus(e.StatusCode) }

// RetryableStatus reports whether an HTTP status (or a status code carried inside an error
// object, as vLLM does mid-stream) says the same request may succeed later: 408, 425, 429 and
// 5xx.
func RetryableStatus(code int) bool {
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
	if d, ok := ParseRetryAfter(retryAfter, now); ok {
		return failure.RetryAfter(e, d)
	}
	return e
}

// ParseRetryAfter reads a Retry-After header value (RFC 9110 section 10.2.3): delay-seconds or
// an HTTP-date, taken relative to now. A date in the past means "now" (zero delay); the result
// is capped at MaxRetryAfter. ok is false for an empty or unreadable value, which callers treat
// as no advice.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
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

// ReadErrorBody reads the start of a non-2xx body for an error message: at most MaxErrorBody
// bytes, with every occurrence of secret (the API key or bearer token sent) replaced by
// "[REDACTED]", should the server echo the request's headers back, and invalid UTF-8 replaced.
// It reads MaxErrorBody+len(secret) bytes, so a secret straddling the cut is still seen whole.
// A read error only shortens the result: the body merely decorates an error already known.
func ReadErrorBody(body io.Reader, secret string) string {
	b, _ := io.ReadAll(io.LimitReader(body, int64(MaxErrorBody+len(secret))))
	s := string(b)
	if secret != "" {
		s = strings.ReplaceAll(s, secret, "[REDACTED]")
	}
	if len(s) > MaxErrorBody {
		s = s[:MaxErrorBody]
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
