// Package llm calls an OpenAI-compatible chat completions endpoint (vLLM behind Ray Serve), in
// one piece or streamed as Server-Sent Events. Wire format: research/inference.md section 1.1.
package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
)

// EnvPrefix is the prefix of the variables modelhttp.FromEnv reads for this client (LLM_URL...).
const EnvPrefix = "LLM"

// maxEvent bounds one SSE line or event; tool-call chunks can pass 64 KiB, nothing legitimate
// comes near this.
const maxEvent = 4 << 20

const path = "/chat/completions"

// Client calls one chat completions endpoint. It is safe for concurrent use.
type Client struct {
	http *modelhttp.Client
}

// New returns a client for cfg; cfg.BaseURL ends with the "/v1" segment (http://ray:8000/llm/v1).
func New(cfg modelhttp.Config, opts ...modelhttp.Option) (*Client, error) {
	c, err := modelhttp.New(cfg, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating llm client: %w", err)
	}
	return &Client{http: c}, nil
}

func (c *Client) wireRequest(req Request, stream bool) ([]byte, error) {
	if len(req.Messages) == 0 {
		return nil, failure.Invalidf("chat completion request has no messages")
	}
	w := chatRequest{
		Model:               c.http.Model(),
		Messages:            req.Messages,
		MaxCompletionTokens: req.MaxCompletionTokens,
		Temperature:         req.Temperature,
		TopP:                req.TopP,
		Stop:                req.Stop,
		ChatTemplateKwargs:  req.ChatTemplateKwargs,
	}
	if stream {
		w.Stream = true
		w.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	body, err := json.Marshal(w)
	if err != nil {
		return nil, failure.Permanent(fmt.Errorf("encoding chat completion request: %w", err))
	}
	return body, nil
}

// Complete asks for the whole answer in one response.
func (c *Client) Complete(ctx context.Context, req Request) (Response, error) {
	body, err := c.wireRequest(req, false)
	if err != nil {
		return Response{}, err
	}
	resp, err := c.http.Do(ctx, modelhttp.Request{Path: path, ContentType: "application/json", Accept: "application/json", Body: body})
	if err != nil {
		return Response{}, fmt.Errorf("completing chat: %w", err)
	}
	defer resp.Close()
	return c.readWhole(resp)
}

func (c *Client) readWhole(resp *modelhttp.Response) (Response, error) {
	raw, err := resp.ReadAll()
	if err != nil {
		return Response{}, fmt.Errorf("completing chat: %w", err)
	}
	out, err := decodeCompletion(raw)
	if err != nil {
		return Response{}, fmt.Errorf("completing chat with %s: %w", resp.Endpoint(), err)
	}
	return out, nil
}

// Stream asks for the answer as Server-Sent Events and calls fn with each piece of text or
// reasoning as it arrives (the role-only first chunk and the usage chunk carry neither and are
// not passed on). An error from fn stops the stream and is returned wrapped. Cancelling ctx
// closes the connection at once, which is how a barge-in stops generation on the server.
//
// On error the Response holds what arrived before it. A stream that ends without
// "data: [DONE]" fails with ErrIncompleteStream (retryable); an error object in any chunk
// fails with an *APIError, permanent when it carries a 4xx code.
func (c *Client) Stream(ctx context.Context, req Request, fn func(Delta) error) (Response, error) {
	body, err := c.wireRequest(req, true)
	if err != nil {
		return Response{}, err
	}
	resp, err := c.http.Do(ctx, modelhttp.Request{Path: path, ContentType: "application/json", Accept: "text/event-stream", Body: body})
	if err != nil {
		return Response{}, fmt.Errorf("streaming chat completion: %w", err)
	}
	defer resp.Close()

	// A server that ignores "stream" answers with a plain completion: pass it on as one delta.
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/json" {
		out, err := c.readWhole(resp)
		if err != nil {
			return Response{}, err
		}
		if out.Text != "" || out.Reasoning != "" {
			if err := fn(Delta{Text: out.Text, Reasoning: out.Reasoning}); err != nil {
				return out, fmt.Errorf("handling streamed delta: %w", err)
			}
		}
		return out, nil
	}

	var (
		acc       accumulator
		events    = newSSEReader(resp, maxEvent)
		streamErr = func(err error) (Response, error) {
			return acc.response(), fmt.Errorf("streaming chat completion from %s: %w", resp.Endpoint(), err)
		}
	)
	for {
		// Events already buffered must not reach fn once the caller has given up.
		if err := ctx.Err(); err != nil {
			return streamErr(err)
		}
		ev, err := events.Next()
		switch {
		case errors.Is(err, io.EOF):
			return streamErr(ErrIncompleteStream)
		case errors.Is(err, errEventTooLarge):
			return streamErr(failure.Permanent(err))
		case err != nil:
			return streamErr(err) // classified by modelhttp.Response
		}
		data := strings.TrimSpace(ev.Data)
		if data == "" {
			continue // a keep-alive
		}
		if data == "[DONE]" {
			return acc.response(), nil
		}
		chunk, err := decodeChunk([]byte(data))
		if err != nil {
			return streamErr(err)
		}
		if d := acc.add(chunk); d.Text != "" || d.Reasoning != "" {
			if err := fn(d); err != nil {
				return acc.response(), fmt.Errorf("handling streamed delta: %w", err)
			}
		}
	}
}

// accumulator builds the Response from streamed chunks.
type accumulator struct {
	out       Response
	text      strings.Builder
	reasoning strings.Builder
}

func (a *accumulator) add(chunk wireCompletion) Delta {
	if chunk.ID != "" {
		a.out.ID = chunk.ID
	}
	if chunk.Model != "" {
		a.out.Model = chunk.Model
	}
	if chunk.Usage != nil {
		a.out.Usage = chunk.Usage.usage()
	}
	choice := firstChoice(chunk.Choices)
	if choice == nil {
		return Delta{}
	}
	if choice.FinishReason != nil && *choice.FinishReason != "" {
		a.out.FinishReason = *choice.FinishReason
	}
	if choice.Delta == nil {
		return Delta{}
	}
	d := Delta{Text: choice.Delta.text(), Reasoning: choice.Delta.reasoning()}
	a.text.WriteString(d.Text)
	a.reasoning.WriteString(d.Reasoning)
	return d
}

func (a *accumulator) response() Response {
	out := a.out
	out.Text = a.text.String()
	out.Reasoning = a.reasoning.String()
	return out
}
