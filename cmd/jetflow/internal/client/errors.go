package client

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"connectrpc.com/connect"
)

// ErrUsage matches an error in how the command was called (a bad flag, a missing or malformed
// argument): nothing was sent. jetflow exits 2 for it.
var ErrUsage = errors.New("usage error")

// ErrRunFailed is returned by `jetflow pipeline start` when the run ended FAILED or ERROR.
var ErrRunFailed = errors.New("the pipeline run did not succeed")

// usageError is an ErrUsage with its own message.
type usageError struct{ msg string }

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == ErrUsage }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// callError says what a failed call means and what to do about it; doing names the call
// ("asking the question") and gw the gateway it went to.
func callError(doing string, gw gateway, err error) error {
	var what string
	switch connect.CodeOf(err) {
	case connect.CodeUnauthenticated:
		switch gw.keyFrom {
		case "":
			what = "the gateway wants an API key: set JETFLOW_API_KEY (jetflow dev prints a development key)"
		case envAPIKey:
			what = "the gateway refused the key in JETFLOW_API_KEY: use the key jetflow dev printed, or one from the gateway's key file"
		default:
			what = fmt.Sprintf("the gateway refused the development key in %s (from another jetflow dev run?): "+
				"set JETFLOW_API_KEY to the key the running jetflow dev printed", gw.keyFrom)
		}
	case connect.CodePermissionDenied:
		what = "the key in JETFLOW_API_KEY may not call this service: use a key whose services include it"
	case connect.CodeResourceExhausted:
		what = "the key is over its rate limit" + retryAfter(err) + ", or the request is too large"
	case connect.CodeDeadlineExceeded:
		what = "no answer within --timeout: raise --timeout, or see with jetflow status whether the workers keep up"
	case connect.CodeUnavailable:
		if _, unreachable := errors.AsType[*net.OpError](err); unreachable {
			what = fmt.Sprintf("cannot reach the gateway at %s: start it with make run (jetflow dev), "+
				"or pass --gateway URL (or set JETFLOW_GATEWAY)", gw.url)
		} else {
			what = "the gateway or its JetStream is unavailable: try again shortly, and see jetflow status"
		}
	case connect.CodeInvalidArgument:
		what = "the gateway refused the request: correct the field it names"
	case connect.CodeUnimplemented:
		what = fmt.Sprintf("%s serves no such service: is --gateway a jetflow gateway?", gw.url)
	case connect.CodeCanceled:
		what = "cancelled"
	}
	if what == "" {
		return fmt.Errorf("%s: %w", doing, err)
	}
	return fmt.Errorf("%s: %s (%w)", doing, what, err)
}

// retryAfter reads the rate limiter's Retry-After from a resource_exhausted error.
func retryAfter(err error) string {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return ""
	}
	if after := strings.TrimSpace(ce.Meta().Get("Retry-After")); after != "" {
		return ": retry after " + after + "s"
	}
	return ""
}
