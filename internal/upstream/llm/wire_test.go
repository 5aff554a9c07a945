package llm

import (
	"errors"
	"testing"

	"github.com/jetflow-dev/jetflow/internal/failure"
)

const vllmCompletion = `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"qwen",
 "choices":[{"index":0,"message":{"role":"assistant","content":"Paris.","reasoning":"The capital...","tool_calls":[]},
             "logprobs":null,"finish_reason":"stop","stop_reason":null}],
 "usage":{"prompt_tokens":10,"completion_tokens":20,"total_tokens":30}}`

func TestDecodeCompletion(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		want      Response
		wantErr   bool
		permanent bool
	}{
		{
			name: "vllm",
			body: vllmCompletion,
			want: Response{ID: "chatcmpl-1", Model: "qwen", Text: "Paris.", Reasoning: "The capital...", FinishReason: "stop",
				Usage: Usage{PromptTokens: 10, CompletionTokens: 20, TotalTokens: 30}},
		},
		{
			name: "reasoning_content and null content",
			body: `{"choices":[{"index":0,"message":{"role":"assistant","content":null,"reasoning_content":"hmm"},"finish_reason":"length"}]}`,
			want: Response{Reasoning: "hmm", FinishReason: "length"},
		},
		{name: "not json", body: `<html>`, wantErr: true, permanent: true},
		{name: "no choices", body: `{"choices":[]}`, wantErr: true, permanent: true},
		{name: "error 400", body: `{"error":{"message":"too long","type":"BadRequestError","param":null,"code":400}}`, wantErr: true, permanent: true},
		{name: "error 500", body: `{"error":{"message":"engine dead","type":"InternalServerError","code":500}}`, wantErr: true},
		{name: "error 429", body: `{"error":{"message":"busy","code":429}}`, wantErr: true},
		{name: "old flat error", body: `{"object":"error","message":"bad","type":"BadRequestError","code":400}`, wantErr: true, permanent: true},
		{name: "string code", body: `{"error":{"message":"x","code":"context_length_exceeded"}}`, wantErr: true},
		{name: "error as a string", body: `{"error":"overloaded"}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeCompletion([]byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if failure.IsPermanent(err) != tt.permanent {
				t.Fatalf("IsPermanent(%v) = %v, want %v", err, !tt.permanent, tt.permanent)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeChunkErrorCarriesStatus(t *testing.T) {
	_, err := decodeChunk([]byte(`{"error":{"message":"m","type":"t","code":"503"}}`))
	apiErr, ok := errors.AsType[*APIError](err)
	if !ok || apiErr.Status != 503 || apiErr.Message != "m" || failure.IsPermanent(err) {
		t.Fatalf("err = %#v", err)
	}
}

var chunkSeeds = []string{
	`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}`,
	`{"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}`,
	`{"choices":[{"index":0,"delta":{"reasoning":"think"}}]}`,
	`{"choices":[{"index":0,"delta":{"reasoning_content":"think"}}]}`,
	`{"choices":[{"index":0,"delta":{},"finish_reason":"stop","stop_reason":null}]}`,
	`{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`,
	`{"error":{"message":"boom","type":"InternalServerError","param":null,"code":500}}`,
	`{"object":"error","message":"bad","code":400}`,
	`{"error":null,"choices":[{"index":1,"delta":{"content":"x"}}]}`,
	`[1,2]`,
	`{"choices":[{"index":0,"delta":null}]}`,
}

func FuzzDecodeChunk(f *testing.F) {
	for _, s := range chunkSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		chunk, err := decodeChunk(data)
		if err != nil {
			return
		}
		var acc accumulator
		d := acc.add(chunk)
		if r := acc.response(); r.Text != d.Text || r.Reasoning != d.Reasoning {
			t.Fatalf("one chunk: response %+v disagrees with delta %+v", r, d)
		}
	})
}

func FuzzDecodeCompletion(f *testing.F) {
	f.Add([]byte(vllmCompletion))
	for _, s := range chunkSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"choices":[{"index":0,"message":{"content":"a","reasoning_content":"b"},"finish_reason":"stop"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, err := decodeCompletion(data)
		if err == nil {
			return
		}
		if resp != (Response{}) {
			t.Fatalf("error %v with a non-zero response %+v", err, resp)
		}
		if _, isAPI := errors.AsType[*APIError](err); !isAPI && !failure.IsPermanent(err) {
			t.Fatalf("a body that is not a completion must be permanent: %v", err)
		}
	})
}
