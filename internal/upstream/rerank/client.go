// Package rerank scores documents against a query with a cross-encoder behind TEI's /rerank or
// a Cohere-shaped /rerank (Cohere, Jina, vLLM, Infinity). Wire formats: research/inference.md
// section 1.3.
package rerank

import (
	"context"
	"fmt"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
)

// Client calls one rerank endpoint. It is safe for concurrent use.
type Client struct {
	http     *modelhttp.Client
	api      API
	batch    int
	truncate bool
}

// New validates cfg and returns a client for it.
func New(cfg Config, opts ...modelhttp.Option) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("creating rerank client: %w", err)
	}
	c, err := modelhttp.New(cfg.HTTP, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating rerank client: %w", err)
	}
	api, batch := cfg.API, cfg.BatchSize
	if api == "" {
		api = APITEI
	}
	if batch == 0 {
		batch = DefaultBatchSize
	}
	return &Client{http: c, api: api, batch: batch, truncate: cfg.Truncate}, nil
}

// Rerank returns one relevance score per document, aligned to documents (scores[i] belongs to
// documents[i]); higher is more relevant. Sorting is left to the caller. Documents are sent at
// most BatchSize per request, one request after another.
func (c *Client) Rerank(ctx context.Context, query string, documents []string) ([]float64, error) {
	if query == "" {
		return nil, failure.Invalidf("rerank query is empty")
	}
	scores := make([]float64, 0, len(documents))
	for start := 0; start < len(documents); start += c.batch {
		end := min(start+c.batch, len(documents))
		s, err := c.rerankBatch(ctx, query, documents[start:end])
		if err != nil {
			return nil, fmt.Errorf("reranking documents %d to %d of %d: %w", start, end-1, len(documents), err)
		}
		scores = append(scores, s...)
	}
	return scores, nil
}

func (c *Client) rerankBatch(ctx context.Context, query string, docs []string) ([]float64, error) {
	req, decode := any(teiRequest{Query: query, Texts: docs, Truncate: c.truncate}), decodeTEI
	if c.api == APICohere {
		// top_n = all: the caller wants every score, and vLLM's default of 0 means the same.
		req, decode = cohereRequest{Model: c.http.Model(), Query: query, Documents: docs, TopN: len(docs)}, decodeCohere
	}
	var scores []float64
	err := c.http.PostJSON(ctx, "/rerank", req, func(body []byte) (err error) {
		scores, err = decode(body, len(docs))
		return err
	})
	return scores, err
}
