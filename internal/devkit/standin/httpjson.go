package standin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// api names the error dialect of a route: vLLM/OpenAI's nested error object or TEI's flat one.
type api int

const (
	openAIAPI api = iota
	teiAPI
)

// maxJSONBody bounds a JSON request body; a larger one is answered 413.
const maxJSONBody = 8 << 20

// statusError is an HTTP error answer. teiType overrides TEI's error_type when set.
type statusError struct {
	status  int
	msg     string
	teiType string
}

func (e *statusError) Error() string { return fmt.Sprintf("%d %s", e.status, e.msg) }

func invalid(format string, args ...any) *statusError {
	return &statusError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// openAIError is vLLM's ErrorResponse: OpenAI's shape with the HTTP status as an int code.
type openAIError struct {
	Error openAIErrorInfo `json:"error"`
}

type openAIErrorInfo struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    int     `json:"code"`
}

// teiError is TEI's ErrorResponse.
type teiError struct {
	Error     string `json:"error"`
	ErrorType string `json:"error_type"`
}

func writeError(w http.ResponseWriter, a api, e *statusError) {
	if a == teiAPI {
		kind := e.teiType
		if kind == "" {
			switch {
			case e.status == http.StatusServiceUnavailable:
				kind = "unhealthy"
			case e.status == http.StatusTooManyRequests:
				kind = "overloaded"
			case e.status >= 500:
				kind = "backend"
			default:
				kind = "validation"
			}
		}
		writeJSON(w, e.status, teiError{Error: e.msg, ErrorType: kind})
		return
	}
	kind := "BadRequestError"
	switch {
	case e.status == http.StatusNotFound:
		kind = "NotFoundError"
	case e.status == http.StatusServiceUnavailable:
		kind = "ServiceUnavailableError"
	case e.status >= 500:
		kind = "InternalServerError"
	}
	writeJSON(w, e.status, openAIError{Error: openAIErrorInfo{Message: e.msg, Type: kind, Code: e.status}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only our own response types reach here; they always marshal.
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// decodeJSON reads exactly one JSON value into v. Unknown fields are accepted, as vLLM and TEI
// accept them.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) *statusError {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err := dec.Decode(v); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return &statusError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("request body is larger than %d bytes", maxJSONBody)}
		}
		return invalid("request body is not the expected JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("request body has data after the JSON value")
	}
	return nil
}
