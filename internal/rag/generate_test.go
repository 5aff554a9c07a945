package rag

import (
	"context"
	"slices"
	"testing"

	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/upstream/llm"
)

// recordingLLM answers like a model server and records which of its two ways was asked.
type recordingLLM struct{ completed, streamed int }

func (f *recordingLLM) Complete(context.Context, llm.Request) (llm.Response, error) {
	f.completed++
	return llm.Response{Text: "a whole answer", Model: "m"}, nil
}

func (f *recordingLLM) Stream(_ context.Context, _ llm.Request, fn func(llm.Delta) error) (llm.Response, error) {
	f.streamed++
	for _, piece := range []string{"a streamed ", "answer"} {
		if err := fn(llm.Delta{Text: piece}); err != nil {
			return llm.Response{}, err
		}
	}
	return llm.Response{Text: "a streamed answer", Model: "m"}, nil
}

// Nobody watching the tokens: the answer is asked for whole, one response to decode instead of
// an event per word. Somebody watching: it streams, and every piece reaches them in order.
func TestGenerateStreamsOnlyForSomebodyWatchingTheTokens(t *testing.T) {
	ctx := context.Background()
	q := Question{Query: "How does JetStream keep messages durable?"}

	model := &recordingLLM{}
	r := New(nil, nil, nil, model, Config{})
	ans, err := r.Generate(ctx, q, nil, breaker.NewSet("chat-generate", breaker.Settings{}), nil)
	if err != nil {
		t.Fatalf("Generate without a token callback: %v", err)
	}
	if model.completed != 1 || model.streamed != 0 || ans.Text != "a whole answer" {
		t.Fatalf("without a token callback: %d completions, %d streams, answer %q; want 1, 0, the whole answer", model.completed, model.streamed, ans.Text)
	}

	model = &recordingLLM{}
	r = New(nil, nil, nil, model, Config{})
	var pieces []string
	ans, err = r.Generate(ctx, q, nil, breaker.NewSet("chat-generate", breaker.Settings{}), func(s string) { pieces = append(pieces, s) })
	if err != nil {
		t.Fatalf("Generate with a token callback: %v", err)
	}
	if model.completed != 0 || model.streamed != 1 || ans.Text != "a streamed answer" {
		t.Fatalf("with a token callback: %d completions, %d streams, answer %q; want 0, 1, the streamed answer", model.completed, model.streamed, ans.Text)
	}
	if want := []string{"a streamed ", "answer"}; !slices.Equal(pieces, want) {
		t.Fatalf("tokens seen %q, want %q", pieces, want)
	}
}
