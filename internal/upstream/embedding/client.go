// Package embedding turns texts into vectors through an OpenAI-shaped /embeddings endpoint or
// TEI's native /embed. Wire formats: research/inference.md section 1.2.
package embedding

import (
	"context"
	"fmt"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
)

// Client calls one embeddings endpoint. It is safe for concurrent use.
type Client struct {
	http     *modelhttp.Client
	api      API
	batch    int
	truncate bool
}

// New validates cfg and returns a client for it.
func New(cfg Config, opts ...modelhttp.Option) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("creating embeddings client: %w", err)
	}
	c, err := modelhttp.New(cfg.HTTP, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating embeddings client: %w", err)
	}
	api, batch := cfg.API, cfg.BatchSize
	if api == "" {
		api = APIOpenAI
	}
	if batch == 0 {
		batch = DefaultBatchSize
	}
	return &Client{http: c, api: api, batch: batch, truncate: cfg.Truncate}, nil
}

// Embed returns one vector per text, in the order of texts, sending at most BatchSize texts per
// request (one request after another: the batches of one call share the stage's breaker and
// deadline). Every vector has the same dimension, or the call fails permanently.
func (c *Client) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	for i, t := range texts {
		if t == "" {
			return nil, failure.Invalidf("text %d to embed is empty", i)
		}
	}
	out := make([][]float32, 0, len(texts))
	for start := 0; start < len(texts); start += c.batch {
		end := min(start+c.batch, len(texts))
		vecs, err := c.embedBatch(ctx, texts[start:end])
		if err != nil {
			return nil, fmt.Errorf("embedding texts %d to %d of %d: %w", start, end-1, len(texts), err)
		}
		if len(out) > 0 && len(vecs[0]) != len(out[0]) {
			return nil, failure.Permanentf("embedding texts %d to %d: %d dimensions, earlier batches had %d",
				start, end-1, len(vecs[0]), len(out[0]))
		}
		out = append(out, vecs...)
	}
	return out, nil
}

func (c *Client) embedBatch(ctx context.Context, texts []string) ([][]float32, error) {
	path, req, decode := "/embeddings", any(openAIRequest{Input: texts, Model: c.http.Model(), EncodingFormat: "float"}), decodeOpenAI
	if c.api == APITEI {
		path, req, decode = "/embed", teiRequest{Inputs: texts, Truncate: c.truncate}, decodeTEI
	}
	var vecs [][]float32
	err := c.http.PostJSON(ctx, path, req, func(body []byte) (err error) {
		vecs, err = decode(body, len(texts))
		return err
	})
	return vecs, err
}
