package llm

import (
	"errors"
	"fmt"
)

// ErrIncompleteStream is matched when a stream ended before its "data: [DONE]" event: the
// connection was cut or the server died mid-answer. It is retryable.
var ErrIncompleteStream = errors.New("chat completion stream ended before [DONE]")

// APIError is an error object the server sent in place of a completion or inside a stream:
// vLLM's {"error":{"message","type","param","code"}} (code is the HTTP status as a number) or
// the older flat {"object":"error","message","type","code"}.
type APIError struct {
	Message string
	Type    string
	// Code is the "code" field as text ("400", "context_length_exceeded"), empty when absent.
	Code string
	// Status is Code when it is an HTTP status number, else zero.
	Status int
}

func (e *APIError) Error() string {
	msg := "model server error"
	if e.Type != "" {
		msg += " (" + e.Type + ")"
	}
	if e.Code != "" {
		msg += fmt.Sprintf(" code %s", e.Code)
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}
