package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
)

const prefix = "/llm/v1"

var question = Request{Messages: []Message{{Role: RoleSystem, Content: "Be brief."}, {Role: RoleUser, Content: "Capital of France?"}}}

// readRequest reads the body to its end (which also lets the server notice a client hanging up)
// and decodes it.
func readRequest(t *testing.T, r *http.Request) map[string]any {
	t.Helper()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Errorf("reading request: %v", err)
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Errorf("request is not JSON: %v", err)
	}
	return m
}

// writeEvents writes each payload as vLLM does, "data: <payload>\n\n", and flushes.
func writeEvents(w http.ResponseWriter, payloads ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	for _, p := range payloads {
		_, _ = fmt.Fprintf(w, "data: %s\n\n", p)
	}
	w.(http.Flusher).Flush()
}

// server serves handler under the route prefix, as a Ray Serve app would.
func server(t *testing.T, handler http.HandlerFunc) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+prefix+"/chat/completions", handler)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func newClient(t *testing.T, srv *httptest.Server, cfg modelhttp.Config) *Client {
	t.Helper()
	cfg.BaseURL = srv.URL + prefix
	if cfg.Model == "" {
		cfg.Model = "qwen"
	}
	c, err := New(cfg, modelhttp.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestComplete(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		req := readRequest(t, r)
		if r.Header.Get("Authorization") != "Bearer sk-llm" {
			t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
		}
		if req["model"] != "qwen" || req["max_completion_tokens"] != 64.0 || req["stream"] != nil {
			t.Errorf("request = %v", req)
		}
		if msgs, _ := req["messages"].([]any); len(msgs) != 2 {
			t.Errorf("messages = %v", req["messages"])
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(vllmCompletion))
	})
	c := newClient(t, srv, modelhttp.Config{APIKey: "sk-llm"})
	req := question
	req.MaxCompletionTokens = 64
	got, err := c.Complete(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got.Text != "Paris." || got.Reasoning != "The capital..." || got.FinishReason != "stop" || got.Usage.TotalTokens != 30 {
		t.Fatalf("got %+v", got)
	}
}

func TestStreamVLLMSequence(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		req := readRequest(t, r)
		opts, _ := req["stream_options"].(map[string]any)
		if req["stream"] != true || opts["include_usage"] != true || req["max_completion_tokens"] != 32.0 {
			t.Errorf("request = %v", req)
		}
		if r.Header.Get("Accept") != "text/event-stream" {
			t.Errorf("Accept = %q", r.Header.Get("Accept"))
		}
		writeEvents(w,
			`{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"qwen","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}`,
			`{"id":"chatcmpl-9","choices":[{"index":0,"delta":{"reasoning":"France... "},"finish_reason":null}]}`,
			`{"id":"chatcmpl-9","choices":[{"index":0,"delta":{"reasoning_content":"capital."},"finish_reason":null}]}`,
		)
		// The rest in the other dialects: no space after the colon, CRLF, a comment, and a
		// payload split over two data lines.
		_, _ = io.WriteString(w, ": keep-alive\r\n\r\n")
		_, _ = io.WriteString(w, "data:{\"id\":\"chatcmpl-9\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Pa\"}}]}\r\n\r\n")
		_, _ = io.WriteString(w, "data: {\"id\":\"chatcmpl-9\",\ndata: \"choices\":[{\"index\":0,\"delta\":{\"content\":\"ris.\"}}]}\n\n")
		writeEvents(w,
			`{"id":"chatcmpl-9","choices":[{"index":0,"delta":{},"finish_reason":"stop","stop_reason":null}]}`,
			`{"id":"chatcmpl-9","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}`,
			`[DONE]`,
		)
	})
	c := newClient(t, srv, modelhttp.Config{})
	var deltas []Delta
	req := question
	req.MaxCompletionTokens = 32
	got, err := c.Stream(t.Context(), req, func(d Delta) error {
		deltas = append(deltas, d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Response{ID: "chatcmpl-9", Model: "qwen", Text: "Paris.", Reasoning: "France... capital.", FinishReason: "stop",
		Usage: Usage{PromptTokens: 12, CompletionTokens: 5, TotalTokens: 17}}
	if got != want {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	wantDeltas := []Delta{{Reasoning: "France... "}, {Reasoning: "capital."}, {Text: "Pa"}, {Text: "ris."}}
	if fmt.Sprint(deltas) != fmt.Sprint(wantDeltas) {
		t.Fatalf("deltas %q, want %q", deltas, wantDeltas)
	}
}

func TestStreamFailures(t *testing.T) {
	const role = `{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}`
	const hello = `{"choices":[{"index":0,"delta":{"content":"Hello"}}]}`
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		permanent bool
		target    error // matched with errors.Is when set
		status    int   // a *StatusError with this code when set
		delay     time.Duration
		partial   string
	}{
		{
			name:    "cut off without [DONE]",
			handler: func(w http.ResponseWriter, r *http.Request) { writeEvents(w, role, hello) },
			target:  ErrIncompleteStream,
			partial: "Hello",
		},
		{
			name: "connection dropped mid-chunk",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeEvents(w, role, hello)
				_, _ = io.WriteString(w, `data: {"choices":[{"index":0,"del`)
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler) // drops the connection without ending the chunked body
			},
			partial: "Hello",
		},
		{
			name: "error object mid-stream",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeEvents(w, role, hello, `{"error":{"message":"engine died","type":"InternalServerError","param":null,"code":500}}`, `[DONE]`)
			},
			partial: "Hello",
		},
		{
			name: "error object with a 4xx code",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeEvents(w, `{"error":{"message":"prompt too long","type":"BadRequestError","code":400}}`, `[DONE]`)
			},
			permanent: true,
		},
		{
			name:      "chunk that is not json",
			handler:   func(w http.ResponseWriter, r *http.Request) { writeEvents(w, role, `<html>`, `[DONE]`) },
			permanent: true,
		},
		{
			name: "503",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "no replicas", http.StatusServiceUnavailable)
			},
			status: 503,
		},
		{
			name: "400",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, `{"error":{"message":"bad","code":400}}`, http.StatusBadRequest)
			},
			status:    400,
			permanent: true,
		},
		{
			name: "429 with Retry-After",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "3")
				http.Error(w, "slow down", http.StatusTooManyRequests)
			},
			status: 429,
			delay:  3 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := server(t, func(w http.ResponseWriter, r *http.Request) {
				_ = readRequest(t, r)
				tt.handler(w, r)
			})
			c := newClient(t, srv, modelhttp.Config{})
			got, err := c.Stream(t.Context(), question, func(Delta) error { return nil })
			if err == nil {
				t.Fatal("expected an error")
			}
			if failure.IsPermanent(err) != tt.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, !tt.permanent, tt.permanent)
			}
			if tt.target != nil && !errors.Is(err, tt.target) {
				t.Errorf("err = %v, want %v", err, tt.target)
			}
			if se, ok := errors.AsType[*modelhttp.StatusError](err); tt.status != 0 && (!ok || se.StatusCode != tt.status) {
				t.Errorf("err = %v, want status %d", err, tt.status)
			}
			if d, _ := failure.RetryDelay(err); d != tt.delay {
				t.Errorf("RetryDelay = %v, want %v", d, tt.delay)
			}
			if got.Text != tt.partial {
				t.Errorf("partial text = %q, want %q", got.Text, tt.partial)
			}
		})
	}
}

func TestRecoveryAfter503(t *testing.T) {
	var calls atomic.Int32
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		_ = readRequest(t, r)
		if calls.Add(1) == 1 {
			http.Error(w, "replica restarting", http.StatusServiceUnavailable)
			return
		}
		writeEvents(w, `{"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}`, `[DONE]`)
	})
	c := newClient(t, srv, modelhttp.Config{})
	_, err := c.Stream(t.Context(), question, func(Delta) error { return nil })
	if err == nil || failure.IsPermanent(err) {
		t.Fatalf("first call: err = %v, want a retryable error", err)
	}
	got, err := c.Stream(t.Context(), question, func(Delta) error { return nil })
	if err != nil || got.Text != "ok" {
		t.Fatalf("second call: %+v, %v", got, err)
	}
}

func TestStreamCancelClosesTheConnection(t *testing.T) {
	serverSawCancel := make(chan struct{})
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		_ = readRequest(t, r)
		// Three events in one write: after the first, the others are already in the client's buffer.
		writeEvents(w, `{"choices":[{"index":0,"delta":{"content":"Hel"}}]}`,
			`{"choices":[{"index":0,"delta":{"content":"lo"}}]}`, `{"choices":[{"index":0,"delta":{"content":"!"}}]}`)
		<-r.Context().Done() // a server generating more tokens, until the client hangs up
		close(serverSawCancel)
	})
	c := newClient(t, srv, modelhttp.Config{Timeout: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	calls := 0
	_, err := c.Stream(ctx, question, func(Delta) error {
		calls++
		cancel() // barge-in
		return nil
	})
	if !errors.Is(err, context.Canceled) || failure.IsPermanent(err) {
		t.Fatalf("err = %v, want a wrapped, unmarked context.Canceled", err)
	}
	if calls != 1 {
		t.Fatalf("%d deltas passed on after the cancel, want none", calls-1)
	}
	select {
	case <-serverSawCancel:
	case <-time.After(5 * time.Second):
		t.Fatal("the server never saw the client hang up")
	}
}

func TestStreamTimeout(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		_ = readRequest(t, r)
		writeEvents(w, `{"choices":[{"index":0,"delta":{"content":"Hel"}}]}`)
		<-r.Context().Done() // stalls past the timeout
	})
	c := newClient(t, srv, modelhttp.Config{Timeout: 100 * time.Millisecond})
	got, err := c.Stream(t.Context(), question, func(Delta) error { return nil })
	if !errors.Is(err, modelhttp.ErrTimeout) || failure.IsPermanent(err) {
		t.Fatalf("err = %v, want retryable ErrTimeout", err)
	}
	if got.Text != "Hel" {
		t.Fatalf("partial text = %q", got.Text)
	}
}

func TestStreamCallbackErrorStops(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		_ = readRequest(t, r)
		writeEvents(w, `{"choices":[{"index":0,"delta":{"content":"a"}}]}`, `{"choices":[{"index":0,"delta":{"content":"b"}}]}`, `[DONE]`)
	})
	c := newClient(t, srv, modelhttp.Config{})
	stop := errors.New("publish failed")
	calls := 0
	_, err := c.Stream(t.Context(), question, func(Delta) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("err = %v after %d calls, want %v after 1", err, calls, stop)
	}
}

func TestStreamAcceptsAPlainCompletion(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		_ = readRequest(t, r)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, vllmCompletion)
	})
	c := newClient(t, srv, modelhttp.Config{})
	var deltas []Delta
	got, err := c.Stream(t.Context(), question, func(d Delta) error { deltas = append(deltas, d); return nil })
	if err != nil || got.Text != "Paris." || len(deltas) != 1 || deltas[0].Text != "Paris." {
		t.Fatalf("got %+v, deltas %v, err %v", got, deltas, err)
	}
}

func TestCompleteErrors(t *testing.T) {
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		req       Request
		permanent bool
		invalid   bool
	}{
		{name: "no messages", req: Request{}, permanent: true, invalid: true},
		{
			name:      "not json",
			handler:   func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "Internal Server Error") },
			req:       question,
			permanent: true,
		},
		{
			name: "rejected key echoed back",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "bad key "+r.Header.Get("Authorization"), http.StatusUnauthorized)
			},
			req:       question,
			permanent: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := server(t, func(w http.ResponseWriter, r *http.Request) {
				_ = readRequest(t, r)
				tt.handler(w, r)
			})
			c := newClient(t, srv, modelhttp.Config{APIKey: "sk-secret-llm"})
			_, err := c.Complete(t.Context(), tt.req)
			if err == nil || failure.IsPermanent(err) != tt.permanent || errors.Is(err, failure.ErrInvalid) != tt.invalid {
				t.Fatalf("err = %v", err)
			}
			if strings.Contains(err.Error(), "sk-secret-llm") {
				t.Fatalf("error leaks the key: %v", err)
			}
		})
	}
}
