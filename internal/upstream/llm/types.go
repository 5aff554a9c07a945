package llm

// Roles of chat messages.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Message is one turn of the conversation.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Request is one chat completion. Zero fields are left out of the wire request, so the server's
// defaults apply.
type Request struct {
	// Messages is the conversation, oldest first. Required.
	Messages []Message
	// MaxCompletionTokens bounds the answer; zero means the server's limit. Sent as
	// max_completion_tokens (vLLM marks max_tokens deprecated).
	MaxCompletionTokens int
	// Temperature and TopP are sampling parameters; nil means the server's default.
	Temperature *float64
	TopP        *float64
	// Stop lists sequences that end the answer.
	Stop []string
	// ChatTemplateKwargs is vLLM's chat_template_kwargs, for example {"enable_thinking": false}
	// to keep a reasoning model short for voice.
	ChatTemplateKwargs map[string]any
}

// Delta is one streamed piece of the answer. Reasoning ("thinking") text arrives separately and
// is never part of Text, so it cannot reach a user or a speech synthesizer by accident.
type Delta struct {
	Text      string
	Reasoning string
}

// Usage counts tokens, as the server reported them (zero when it did not).
type Usage struct {
	PromptTokens     int
	CompletionTokens int
	TotalTokens      int
}

// Response is a finished chat completion.
type Response struct {
	ID    string
	Model string
	// Text is the answer, without reasoning.
	Text string
	// Reasoning is the model's reasoning text, from vLLM's "reasoning" or the older
	// "reasoning_content" field.
	Reasoning string
	// FinishReason is "stop", "length", "tool_calls", "content_filter"... or empty when the
	// server did not say.
	FinishReason string
	Usage        Usage
}
