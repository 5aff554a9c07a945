package standin

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Client-side shapes, written as an OpenAI client reads them.
type clientChatResponse struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

type clientChunk struct {
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role    *string `json:"role"`
			Content *string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

func msgs(pairs ...string) []map[string]any {
	var out []map[string]any
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, map[string]any{"role": pairs[i], "content": pairs[i+1]})
	}
	return out
}

const ragSystem = "Answer from the sources.\n[source 1] Paris is the capital of France. It is large.\n[source 2] Lyon is in France."

func TestChatCompletion(t *testing.T) {
	ts, _ := serve(t, Config{})
	tests := []struct {
		name       string
		req        map[string]any
		wantText   string
		wantFinish string
	}{
		{
			name:       "answers from the best source",
			req:        map[string]any{"model": "x", "messages": msgs("system", ragSystem, "user", "What is the capital of France?")},
			wantText:   "According to [source 1]: Paris is the capital of France.",
			wantFinish: "stop",
		},
		{
			name:       "says it has no context",
			req:        map[string]any{"messages": msgs("user", "What is  the capital\nof France?")},
			wantText:   "I have no sources to answer from. You asked: What is the capital of France?",
			wantFinish: "stop",
		},
		{
			name: "reads content parts",
			req: map[string]any{"messages": []map[string]any{{"role": "user", "content": []map[string]any{
				{"type": "text", "text": "[source 3] Café au lait costs 3 €. Tea costs 2 €."},
				{"type": "image_url", "image_url": map[string]string{"url": "http://x"}},
			}}}},
			wantText:   "According to [source 3]: Café au lait costs 3 €.",
			wantFinish: "stop",
		},
		{
			name:       "max_tokens cuts the answer",
			req:        map[string]any{"messages": msgs("system", ragSystem, "user", "q"), "max_tokens": 3},
			wantText:   "According to [source",
			wantFinish: "length",
		},
		{
			name:       "max_completion_tokens wins over max_tokens",
			req:        map[string]any{"messages": msgs("system", ragSystem, "user", "q"), "max_tokens": 1, "max_completion_tokens": 2},
			wantText:   "According to",
			wantFinish: "length",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeAs[clientChatResponse](t, post(t, ts.URL+"/v1/chat/completions", tt.req), http.StatusOK)
			if got.Object != "chat.completion" || got.Model != ModelLLM || !strings.HasPrefix(got.ID, "chatcmpl-") {
				t.Errorf("envelope = %+v", got)
			}
			if len(got.Choices) != 1 {
				t.Fatalf("choices = %+v", got.Choices)
			}
			c := got.Choices[0]
			if c.Message.Role != "assistant" || c.Message.Content != tt.wantText || c.FinishReason != tt.wantFinish {
				t.Errorf("choice = %+v, want %q finishing %q", c, tt.wantText, tt.wantFinish)
			}
			if u := got.Usage; u.CompletionTokens != len(strings.Fields(tt.wantText)) || u.TotalTokens != u.PromptTokens+u.CompletionTokens || u.PromptTokens == 0 {
				t.Errorf("usage = %+v", u)
			}
		})
	}
}

// readStream reads an SSE body as an OpenAI client does: data lines until [DONE].
func readStream(t *testing.T, resp *http.Response) (chunks []clientChunk, raw []string) {
	t.Helper()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	done := false
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("line %q is not an SSE data line", line)
		}
		if done {
			t.Fatalf("data after [DONE]: %q", line)
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		var c clientChunk
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("chunk %q: %v", data, err)
		}
		chunks = append(chunks, c)
		raw = append(raw, data)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !done {
		t.Fatal("stream did not end with [DONE]")
	}
	return chunks, raw
}

func TestChatStream(t *testing.T) {
	ts, _ := serve(t, Config{})
	const want = "According to [source 1]: Paris is the capital of France."
	tests := []struct {
		name      string
		options   map[string]any
		wantUsage bool
	}{
		{"without usage", nil, false},
		{"with usage", map[string]any{"include_usage": true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := map[string]any{"messages": msgs("system", ragSystem, "user", "capital?"), "stream": true}
			if tt.options != nil {
				req["stream_options"] = tt.options
			}
			chunks, raw := readStream(t, post(t, ts.URL+"/v1/chat/completions", req))
			first := chunks[0].Choices[0].Delta
			if first.Role == nil || *first.Role != "assistant" || first.Content == nil || *first.Content != "" {
				t.Errorf("first chunk %s is not the role chunk", raw[0])
			}
			var text strings.Builder
			finishes := 0
			for i, c := range chunks {
				if c.Object != "chat.completion.chunk" || c.Model != ModelLLM {
					t.Errorf("chunk %s", raw[i])
				}
				for _, ch := range c.Choices {
					if ch.Delta.Content != nil {
						text.WriteString(*ch.Delta.Content)
					}
					if ch.FinishReason != nil {
						finishes++
						if *ch.FinishReason != "stop" || i != len(chunks)-1-btoi(tt.wantUsage) {
							t.Errorf("finish chunk %s at %d of %d", raw[i], i, len(chunks))
						}
					}
				}
			}
			if text.String() != want || finishes != 1 {
				t.Errorf("streamed %q with %d finish chunks, want %q and 1", text.String(), finishes, want)
			}
			if len(chunks)-2-btoi(tt.wantUsage) != len(strings.Fields(want)) {
				t.Errorf("%d chunks for %d words: want one per word", len(chunks), len(strings.Fields(want)))
			}
			last := chunks[len(chunks)-1]
			if tt.wantUsage {
				if !strings.Contains(raw[len(raw)-1], `"choices":[]`) || last.Usage == nil || last.Usage.CompletionTokens != len(strings.Fields(want)) {
					t.Errorf("usage chunk = %s", raw[len(raw)-1])
				}
			} else if last.Usage != nil {
				t.Errorf("usage sent without include_usage: %s", raw[len(raw)-1])
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestChatStreamContinuousUsage(t *testing.T) {
	ts, _ := serve(t, Config{})
	req := map[string]any{"messages": msgs("user", "hi"), "stream": true,
		"stream_options": map[string]any{"include_usage": true, "continuous_usage_stats": true}}
	chunks, raw := readStream(t, post(t, ts.URL+"/v1/chat/completions", req))
	for i, c := range chunks {
		if c.Usage == nil {
			t.Errorf("chunk %s lacks usage", raw[i])
		}
	}
}

func TestChatRejects(t *testing.T) {
	ts, _ := serve(t, Config{})
	tests := []struct {
		name string
		body any
	}{
		{"not JSON", "{"},
		{"trailing data", `{"messages":[{"role":"user","content":"x"}]} {}`},
		{"no messages", map[string]any{"model": "m", "messages": []any{}}},
		{"unknown role", map[string]any{"messages": msgs("wizard", "x")}},
		{"bad content", map[string]any{"messages": []map[string]any{{"role": "user", "content": 42}}}},
		{"n above one", map[string]any{"messages": msgs("user", "x"), "n": 2}},
		{"max_tokens zero", map[string]any{"messages": msgs("user", "x"), "max_tokens": 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeAs[vllmError](t, post(t, ts.URL+"/v1/chat/completions", tt.body), http.StatusBadRequest)
			if got.Error.Code != http.StatusBadRequest || got.Error.Message == "" || got.Error.Type == "" {
				t.Errorf("error = %+v", got)
			}
		})
	}
}

func TestChatStreamStopsWhenClientLeaves(t *testing.T) {
	ts, s := serve(t, Config{TokenDelay: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	body := `{"messages":[{"role":"user","content":"hello"}],"stream":true}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.Contains(line, `"role":"assistant"`) {
		t.Fatalf("first line %q, %v", line, err)
	}
	cancel()
	waitIdle(t, s)
}

func TestComposeAnswer(t *testing.T) {
	tests := []struct {
		name string
		msgs []promptMessage
		want string
	}{
		{"lowest number wins", []promptMessage{{"system", "[source 2] Second. More.\n[SOURCE 1]: First one! Yes."}}, "According to [source 1]: First one!"},
		{"latest message with sources", []promptMessage{
			{"system", "[source 1] Old."}, {"user", "q1"}, {"assistant", "According to [source 1]: Old."},
			{"user", "[source 1] New passage here\n\nquestion"},
		}, "According to [source 1]: New passage here"},
		{"assistant sources are not context", []promptMessage{{"assistant", "[source 1] x."}, {"user", "why?"}}, "I have no sources to answer from. You asked: why?"},
		{"empty source skipped", []promptMessage{{"user", "[source 1]\n[source 4] Four."}}, "According to [source 4]: Four."},
		{"only empty sources", []promptMessage{{"user", "[source 1]   \nwhat now"}}, "I have no sources to answer from. You asked: [source 1] what now"},
		{"malformed tags ignored", []promptMessage{{"user", "[source] a\n[source x] b\n[source 1 c\nhi"}}, "I have no sources to answer from. You asked: [source] a [source x] b [source 1 c hi"},
		{"no question", []promptMessage{{"system", "be nice"}}, "I have no sources to answer from. You asked nothing."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := composeAnswer(tt.msgs); got != tt.want {
				t.Errorf("composeAnswer = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFirstSentence(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"period", "One. Two.", "One."},
		{"decimal inside", "Pi is 3.14 roughly. Yes.", "Pi is 3.14 roughly."},
		{"question", "Why? Because.", "Why?"},
		{"no end", "no end  here", "no end here"},
		{"ellipsis", "Wait… then", "Wait…"},
		{"cjk", "東京は首都です。大きい。", "東京は首都です。"},
		{"newlines collapse", "a\nb. c", "a b."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := firstSentence(tt.in); got != tt.want {
				t.Errorf("firstSentence(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
