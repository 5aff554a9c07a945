package standin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// chatRequest is the part of vLLM's ChatCompletionRequest the stand-in reads; sampling
// parameters, tools and stop sequences are accepted and ignored.
type chatRequest struct {
	Model               string         `json:"model"`
	Messages            []chatMessage  `json:"messages"`
	Stream              bool           `json:"stream"`
	StreamOptions       *streamOptions `json:"stream_options"`
	MaxTokens           *int           `json:"max_tokens"`
	MaxCompletionTokens *int           `json:"max_completion_tokens"`
	N                   *int           `json:"n"`
}

type streamOptions struct {
	IncludeUsage         bool `json:"include_usage"`
	ContinuousUsageStats bool `json:"continuous_usage_stats"`
}

// chatMessage keeps content raw: it is a string, an array of content parts, or null.
type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type contentPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type chatResponse struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []chatChoice `json:"choices"`
	Usage   usage        `json:"usage"`
}

type chatChoice struct {
	Index        int              `json:"index"`
	Message      assistantMessage `json:"message"`
	Logprobs     *struct{}        `json:"logprobs"`
	FinishReason string           `json:"finish_reason"`
	StopReason   *string          `json:"stop_reason"`
}

type assistantMessage struct {
	Role      string  `json:"role"`
	Content   string  `json:"content"`
	Reasoning *string `json:"reasoning"`
}

// chatChunk is one SSE event of a streamed answer. Choices is never nil: the usage chunk carries
// an empty array, as vLLM's does.
type chatChunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []any  `json:"choices"`
	Usage   *usage `json:"usage,omitempty"`
}

type chunkChoice struct {
	Index        int       `json:"index"`
	Delta        delta     `json:"delta"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

type finalChoice struct {
	Index        int       `json:"index"`
	Delta        delta     `json:"delta"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason string    `json:"finish_reason"`
	StopReason   *string   `json:"stop_reason"`
}

type delta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

func knownRole(role string) bool {
	switch role {
	case "system", "developer", "user", "assistant", "tool", "function":
		return true
	}
	return false
}

// decodeChat reads and validates a chat request into the prompt and the answer's length limit
// (0 for none).
func decodeChat(w http.ResponseWriter, r *http.Request) (chatRequest, []promptMessage, int, *statusError) {
	var req chatRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return req, nil, 0, err
	}
	if len(req.Messages) == 0 {
		return req, nil, 0, invalid("messages must hold at least one message")
	}
	if req.N != nil && *req.N != 1 {
		return req, nil, 0, invalid("n=%d: the stand-in serves n=1 only", *req.N)
	}
	// max_completion_tokens replaces the deprecated max_tokens when both are sent.
	limit, name := req.MaxTokens, "max_tokens"
	if req.MaxCompletionTokens != nil {
		limit, name = req.MaxCompletionTokens, "max_completion_tokens"
	}
	if limit != nil && *limit < 1 {
		return req, nil, 0, invalid("%s must be at least 1, got %d", name, *limit)
	}
	msgs := make([]promptMessage, len(req.Messages))
	for i, m := range req.Messages {
		if !knownRole(m.Role) {
			return req, nil, 0, invalid("messages[%d].role %q is not one of system, developer, user, assistant, tool", i, m.Role)
		}
		text, err := messageText(m.Content)
		if err != nil {
			return req, nil, 0, invalid("messages[%d].content: %v", i, err)
		}
		msgs[i] = promptMessage{role: m.Role, text: text}
	}
	if limit == nil {
		return req, msgs, 0, nil
	}
	return req, msgs, *limit, nil
}

// messageText flattens a message's content: a string, or the text parts of an array joined by
// newlines (images and audio parts are ignored).
func messageText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	var parts []contentPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", fmt.Errorf("want a string or an array of content parts: %w", err)
	}
	var texts []string
	for _, p := range parts {
		if p.Type == "text" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, "\n"), nil
}

func countWords(msgs []promptMessage) int {
	n := 0
	for _, m := range msgs {
		n += len(strings.Fields(m.text))
	}
	return n
}

// chat answers POST /chat/completions. A "token" is a word: the answer is streamed one word per
// chunk, and max_tokens cuts it after that many words with finish_reason "length".
func (s *Server) chat(w http.ResponseWriter, r *http.Request) *statusError {
	req, msgs, limit, serr := decodeChat(w, r)
	if serr != nil {
		return serr
	}
	words := strings.Fields(composeAnswer(msgs))
	finish := "stop"
	if limit > 0 && len(words) > limit {
		words, finish = words[:limit], "length"
	}
	u := usage{PromptTokens: countWords(msgs), CompletionTokens: len(words)}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	id, created := s.nextID("chatcmpl"), time.Now().Unix()
	if req.Stream {
		s.stats.streamedChats.Add(1)
		s.streamChat(w, r, req.StreamOptions, id, created, words, finish, u)
		return nil
	}
	if !sleep(r.Context(), time.Duration(len(words))*s.cfg.TokenDelay) {
		return nil
	}
	writeJSON(w, http.StatusOK, chatResponse{
		ID: id, Object: "chat.completion", Created: created, Model: ModelLLM,
		Choices: []chatChoice{{Message: assistantMessage{Role: "assistant", Content: strings.Join(words, " ")}, FinishReason: finish}},
		Usage:   u,
	})
	return nil
}

// streamChat writes the answer as vLLM does: a role chunk, one chunk per word (TokenDelay before
// each), a chunk with the finish reason, a usage chunk with no choices when include_usage is set,
// and [DONE]. It stops quietly when the client goes away.
func (s *Server) streamChat(w http.ResponseWriter, r *http.Request, opts *streamOptions, id string, created int64, words []string, finish string, u usage) {
	includeUsage := opts != nil && opts.IncludeUsage
	continuous := includeUsage && opts.ContinuousUsageStats
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(choices []any, completed int, final bool) bool {
		c := chatChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: ModelLLM, Choices: choices}
		if continuous || final {
			c.Usage = &usage{PromptTokens: u.PromptTokens, CompletionTokens: completed, TotalTokens: u.PromptTokens + completed}
		}
		body, _ := json.Marshal(c)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", body); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	empty := ""
	if !send([]any{chunkChoice{Delta: delta{Role: "assistant", Content: &empty}}}, 0, false) {
		return
	}
	for i, word := range words {
		if !sleep(r.Context(), s.cfg.TokenDelay) {
			return
		}
		if i > 0 {
			word = " " + word
		}
		if !send([]any{chunkChoice{Delta: delta{Content: &word}}}, i+1, false) {
			return
		}
	}
	if !send([]any{finalChoice{FinishReason: finish}}, len(words), false) {
		return
	}
	if includeUsage && !send([]any{}, len(words), true) {
		return
	}
	if _, err := io.WriteString(w, "data: [DONE]\n\n"); err == nil {
		_ = rc.Flush()
	}
}
