package pipeline

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ErrNotAllowed is matched by the error for a trigger the allow-list refuses (unknown pipeline,
// unknown or missing parameter, value failing its pattern). Such errors also match
// failure.ErrInvalid and are permanent: the trigger is dead-lettered and nothing is started.
var ErrNotAllowed = errors.New("not on the pipeline allow-list")

// ErrInvalidAllowList is matched by every error from ParseAllowList and LoadAllowList.
var ErrInvalidAllowList = errors.New("invalid pipeline allow-list")

// ErrNameCollision is matched when a run with the derived name exists but was made for another
// request. It is permanent: retrying cannot free the name.
var ErrNameCollision = errors.New("run name taken by another request")

// ErrRunGone is matched when a run disappeared from the backend while the bridge followed it
// (deleted by hand or by a TTL before its end was seen).
var ErrRunGone = errors.New("run no longer exists")

// HTTPError is a non-2xx answer from the KFP API. It is not a modelhttp.StatusError because
// that type's Retryable method answers with the model servers' status table, and KFP's differs
// (401 is retryable here, see classifyHTTP).
type HTTPError struct {
	Method     string
	Path       string
	StatusCode int
	// Body is the start of the answer (at most modelhttp.MaxErrorBody bytes), with the bearer
	// token removed.
	Body string
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("KFP %s %s: HTTP %d %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode))
	if b := strings.TrimSpace(e.Body); b != "" {
		msg += ": " + b
	}
	return msg
}
