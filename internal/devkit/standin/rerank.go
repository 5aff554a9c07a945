package standin

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
)

// rerankScore is the stand-in reranker, in [0, 1]: 0.8 × the share of the query's distinct
// words (stop words aside) that the document contains, plus 0.2 × the cosine of their Embed
// vectors (clamped at 0), which breaks ties by spelling. Deterministic, and good enough that the
// passage that answers a question wins.
func rerankScore(query, doc string, queryVec []float32) float64 {
	docWords := map[string]bool{}
	for _, w := range words(doc) {
		docWords[w] = true
	}
	seen := map[string]bool{}
	asked, found := 0, 0
	for _, w := range words(query) {
		if seen[w] || stopWord(w) {
			continue
		}
		seen[w] = true
		asked++
		if docWords[w] {
			found++
		}
	}
	overlap := 0.0
	if asked > 0 {
		overlap = float64(found) / float64(asked)
	}
	var cos float64
	for i, x := range Embed(doc, len(queryVec)) {
		cos += float64(x) * float64(queryVec[i])
	}
	return 0.8*overlap + 0.2*max(cos, 0)
}

func stopWord(w string) bool {
	switch w {
	case "a", "an", "and", "are", "as", "at", "be", "by", "do", "does", "for", "from", "how", "i",
		"in", "is", "it", "of", "on", "or", "the", "to", "was", "what", "when", "where", "which",
		"who", "why", "with", "you":
		return true
	}
	return false
}

// rank is one scored document.
type rank struct {
	index int
	score float64
}

// rankAll scores docs against query, best first; equal scores keep the documents' order.
func rankAll(query string, docs []string) []rank {
	qv := Embed(query, defaultEmbeddingDim)
	out := make([]rank, len(docs))
	for i, d := range docs {
		out[i] = rank{index: i, score: rerankScore(query, d, qv)}
	}
	slices.SortStableFunc(out, func(a, b rank) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	return out
}

// teiRerankRequest is TEI's RerankRequest.
type teiRerankRequest struct {
	Query      *string  `json:"query"`
	Texts      []string `json:"texts"`
	ReturnText bool     `json:"return_text"`
	RawScores  bool     `json:"raw_scores"`
	Truncate   *bool    `json:"truncate"`
}

// teiRank is one element of TEI's bare-array answer.
type teiRank struct {
	Index int     `json:"index"`
	Score float64 `json:"score"`
	Text  *string `json:"text,omitempty"`
}

// teiRerank answers TEI's POST /rerank: a bare array sorted by score, best first.
func (s *Server) teiRerank(w http.ResponseWriter, r *http.Request) *statusError {
	var req teiRerankRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return unprocessable(err)
	}
	if req.Query == nil {
		return unprocessable(invalid("query is required"))
	}
	if len(req.Texts) == 0 {
		return &statusError{status: http.StatusBadRequest, msg: "`texts` cannot be empty", teiType: "empty"}
	}
	if err := s.checkBatch(len(req.Texts)); err != nil {
		return err
	}
	ranks := rankAll(*req.Query, req.Texts)
	out := make([]teiRank, len(ranks))
	for i, rk := range ranks {
		out[i] = teiRank{Index: rk.index, Score: rk.score}
		if req.ReturnText {
			out[i].Text = &req.Texts[rk.index]
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// cohereRerankRequest is the Cohere/Jina/vLLM rerank request; documents are strings or objects
// with a "text" field (Cohere v2).
type cohereRerankRequest struct {
	Model           string            `json:"model"`
	Query           *string           `json:"query"`
	Documents       []json.RawMessage `json:"documents"`
	TopN            *int              `json:"top_n"`
	ReturnDocuments *bool             `json:"return_documents"`
}

type cohereRerankAnswer struct {
	ID      string         `json:"id"`
	Model   string         `json:"model"`
	Usage   embeddingUsage `json:"usage"`
	Results []cohereResult `json:"results"`
}

type cohereResult struct {
	Index          int           `json:"index"`
	Document       *documentText `json:"document,omitempty"`
	RelevanceScore float64       `json:"relevance_score"`
}

type documentText struct {
	Text string `json:"text"`
}

// cohereRerank answers POST /v1/rerank like vLLM: results best first, top_n of them (0 or
// absent means all), each with its document unless return_documents is false.
func (s *Server) cohereRerank(w http.ResponseWriter, r *http.Request) *statusError {
	var req cohereRerankRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Query == nil {
		return invalid("query is required")
	}
	if len(req.Documents) == 0 {
		return invalid("documents must not be empty")
	}
	if req.TopN != nil && *req.TopN < 0 {
		return invalid("top_n must not be negative, got %d", *req.TopN)
	}
	docs := make([]string, len(req.Documents))
	for i, raw := range req.Documents {
		raw = bytes.TrimSpace(raw)
		var err error
		if len(raw) > 0 && raw[0] == '{' {
			var d documentText
			err = json.Unmarshal(raw, &d)
			docs[i] = d.Text
		} else {
			err = json.Unmarshal(raw, &docs[i])
		}
		if err != nil {
			return invalid("documents[%d] must be a string or an object with a text field: %v", i, err)
		}
	}
	ranks := rankAll(*req.Query, docs)
	if req.TopN != nil && *req.TopN > 0 && *req.TopN < len(ranks) {
		ranks = ranks[:*req.TopN]
	}
	out := cohereRerankAnswer{ID: s.nextID("rerank"), Model: ModelRerank, Results: make([]cohereResult, len(ranks))}
	for i, rk := range ranks {
		out.Results[i] = cohereResult{Index: rk.index, RelevanceScore: rk.score}
		if req.ReturnDocuments == nil || *req.ReturnDocuments {
			out.Results[i].Document = &documentText{Text: docs[rk.index]}
		}
	}
	out.Usage.PromptTokens = len(words(*req.Query))
	for _, d := range docs {
		out.Usage.PromptTokens += len(words(d))
	}
	out.Usage.TotalTokens = out.Usage.PromptTokens
	writeJSON(w, http.StatusOK, out)
	return nil
}
