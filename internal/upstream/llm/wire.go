package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
)

// Wire types follow vLLM's vllm/entrypoints/openai/chat_completion/protocol.py. Chunks are
// serialized with exclude_unset, so every field may be missing.

type chatRequest struct {
	Model               string         `json:"model,omitempty"`
	Messages            []Message      `json:"messages"`
	MaxCompletionTokens int            `json:"max_completion_tokens,omitempty"`
	Temperature         *float64       `json:"temperature,omitempty"`
	TopP                *float64       `json:"top_p,omitempty"`
	Stop                []string       `json:"stop,omitempty"`
	ChatTemplateKwargs  map[string]any `json:"chat_template_kwargs,omitempty"`
	Stream              bool           `json:"stream,omitempty"`
	StreamOptions       *streamOptions `json:"stream_options,omitempty"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type wireUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func (u *wireUsage) usage() Usage {
	if u == nil {
		return Usage{}
	}
	return Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
}

// wireMessage is a full message (non-streaming) or a delta (streaming).
type wireMessage struct {
	Content          *string `json:"content"`
	Reasoning        *string `json:"reasoning"`
	ReasoningContent *string `json:"reasoning_content"`
}

func (m wireMessage) text() string {
	if m.Content == nil {
		return ""
	}
	return *m.Content
}

func (m wireMessage) reasoning() string {
	if m.Reasoning != nil {
		return *m.Reasoning
	}
	if m.ReasoningContent != nil {
		return *m.ReasoningContent
	}
	return ""
}

type wireChoice struct {
	Index        int          `json:"index"`
	Message      *wireMessage `json:"message"`
	Delta        *wireMessage `json:"delta"`
	FinishReason *string      `json:"finish_reason"`
}

// wireErrorFields holds both error shapes vLLM has used.
type wireErrorFields struct {
	Error   json.RawMessage `json:"error"`
	Object  string          `json:"object"`
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Code    json.RawMessage `json:"code"`
}

type wireErrorObject struct {
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Code    json.RawMessage `json:"code"`
}

// wireCompletion is a chat.completion or a chat.completion.chunk.
type wireCompletion struct {
	ID      string       `json:"id"`
	Model   string       `json:"model"`
	Choices []wireChoice `json:"choices"`
	Usage   *wireUsage   `json:"usage"`
	wireErrorFields
}

// apiError returns the error object the payload carries, or nil.
func (f wireErrorFields) apiError() *APIError {
	raw := bytes.TrimSpace(f.Error)
	switch {
	case len(raw) > 0 && !bytes.Equal(raw, []byte("null")):
		var obj wireErrorObject
		if err := json.Unmarshal(raw, &obj); err == nil {
			return newAPIError(obj.Message, obj.Type, obj.Code)
		}
		var msg string
		if err := json.Unmarshal(raw, &msg); err == nil {
			return newAPIError(msg, "", nil)
		}
		return newAPIError(string(raw), "", nil)
	case f.Object == "error":
		return newAPIError(f.Message, f.Type, f.Code)
	}
	return nil
}

func newAPIError(message, typ string, code json.RawMessage) *APIError {
	e := &APIError{Message: message, Type: typ}
	var s string
	if json.Unmarshal(code, &s) != nil {
		s = string(bytes.TrimSpace(code))
	}
	if s == "null" {
		s = ""
	}
	e.Code = s
	if n, err := strconv.Atoi(s); err == nil && n >= 100 && n <= 599 {
		e.Status = n
	}
	return e
}

// classifyAPIError marks an error object: retryable unless it carries a 4xx status that is not
// itself retryable (408, 425, 429).
func classifyAPIError(e *APIError) error {
	if e.Status >= 400 && e.Status <= 499 && !modelhttp.RetryableStatus(e.Status) {
		return failure.Permanent(e)
	}
	return e
}

// errNoChoices is returned for a completion without an answer.
var errNoChoices = errors.New("completion has no choices")

// decodeCompletion decodes a non-streaming response. A body that is not a completion is
// permanent; an error object is classified by its code.
func decodeCompletion(body []byte) (Response, error) {
	var w wireCompletion
	if err := json.Unmarshal(body, &w); err != nil {
		return Response{}, failure.Permanent(fmt.Errorf("decoding completion: %w", err))
	}
	if e := w.apiError(); e != nil {
		return Response{}, classifyAPIError(e)
	}
	choice := firstChoice(w.Choices)
	if choice == nil || choice.Message == nil {
		return Response{}, failure.Permanent(errNoChoices)
	}
	resp := Response{
		ID:        w.ID,
		Model:     w.Model,
		Text:      choice.Message.text(),
		Reasoning: choice.Message.reasoning(),
		Usage:     w.Usage.usage(),
	}
	if choice.FinishReason != nil {
		resp.FinishReason = *choice.FinishReason
	}
	return resp, nil
}

// decodeChunk decodes one streamed chunk, with the same classification as decodeCompletion.
func decodeChunk(data []byte) (wireCompletion, error) {
	var w wireCompletion
	if err := json.Unmarshal(data, &w); err != nil {
		return wireCompletion{}, failure.Permanent(fmt.Errorf("decoding stream chunk: %w", err))
	}
	if e := w.apiError(); e != nil {
		return wireCompletion{}, classifyAPIError(e)
	}
	return w, nil
}

// firstChoice returns the choice with index 0 (we always ask for n=1), or nil.
func firstChoice(choices []wireChoice) *wireChoice {
	for i := range choices {
		if choices[i].Index == 0 {
			return &choices[i]
		}
	}
	return nil
}
