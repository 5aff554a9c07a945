package rerank

import (
	"encoding/json"
	"fmt"
)

// teiRequest follows TEI's RerankRequest (router/src/http/types.rs).
type teiRequest struct {
	Query    string   `json:"query"`
	Texts    []string `json:"texts"`
	Truncate bool     `json:"truncate,omitempty"`
}

type teiRank struct {
	Index *int     `json:"index"`
	Score *float64 `json:"score"`
}

// cohereRequest is the request Cohere, Jina, vLLM and Infinity share.
type cohereRequest struct {
	Model     string   `json:"model,omitempty"`
	Query     string   `json:"query"`
	Documents []string `json:"documents"`
	TopN      int      `json:"top_n"`
}

type cohereResult struct {
	Index          *int     `json:"index"`
	RelevanceScore *float64 `json:"relevance_score"`
}

type cohereResponse struct {
	Results []cohereResult `json:"results"`
	Data    []cohereResult `json:"data"` // Infinity before it followed Cohere's name
}

// decodeTEI decodes TEI's bare array into scores aligned to the n documents sent.
func decodeTEI(body []byte, n int) ([]float64, error) {
	var ranks []teiRank
	if err := json.Unmarshal(body, &ranks); err != nil {
		return nil, err
	}
	a := newAligner(n)
	for i, r := range ranks {
		if err := a.set(i, r.Index, r.Score); err != nil {
			return nil, err
		}
	}
	return a.scores()
}

// decodeCohere decodes a results[] response into scores aligned to the n documents sent.
func decodeCohere(body []byte, n int) ([]float64, error) {
	var resp cohereResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, err
	}
	results := resp.Results
	if results == nil {
		results = resp.Data
	}
	a := newAligner(n)
	for i, r := range results {
		if err := a.set(i, r.Index, r.RelevanceScore); err != nil {
			return nil, err
		}
	}
	return a.scores()
}

// aligner maps results back through their index: every index in range, none twice, none
// missing. Order in the response means nothing (TEI and Cohere sort by score).
type aligner struct {
	out  []float64
	seen []bool
	got  int
}

func newAligner(n int) *aligner {
	return &aligner{out: make([]float64, n), seen: make([]bool, n)}
}

func (a *aligner) set(i int, index *int, score *float64) error {
	if index == nil || score == nil {
		return fmt.Errorf("result %d lacks an index or a score", i)
	}
	idx := *index
	if idx < 0 || idx >= len(a.out) {
		return fmt.Errorf("result index %d is outside [0, %d)", idx, len(a.out))
	}
	if a.seen[idx] {
		return fmt.Errorf("result index %d appears twice", idx)
	}
	a.seen[idx] = true
	a.out[idx] = *score
	a.got++
	return nil
}

func (a *aligner) scores() ([]float64, error) {
	if a.got != len(a.out) {
		return nil, fmt.Errorf("got scores for %d of %d documents", a.got, len(a.out))
	}
	return a.out, nil
}
