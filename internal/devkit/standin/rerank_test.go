package standin

import (
	"net/http"
	"testing"
)

var rerankDocs = []string{
	"Bananas are yellow and rich in potassium.",
	"Paris is the capital of France.",
	"France borders Spain, Italy and Germany.",
	"The capital city of Germany is Berlin.",
}

const rerankQuery = "What is the capital of France?"

func TestTEIRerank(t *testing.T) {
	ts, _ := serve(t, Config{MaxBatch: 4})
	type rank struct {
		Index int     `json:"index"`
		Score float64 `json:"score"`
		Text  *string `json:"text"`
	}
	got := decodeAs[[]rank](t, post(t, ts.URL+"/rerank", map[string]any{"query": rerankQuery, "texts": rerankDocs, "return_text": true}), http.StatusOK)
	if len(got) != len(rerankDocs) {
		t.Fatalf("got %d ranks", len(got))
	}
	if got[0].Index != 1 || got[len(got)-1].Index != 0 {
		t.Errorf("order = %+v, want Paris first and bananas last", got)
	}
	seen := map[int]bool{}
	for i, r := range got {
		if i > 0 && r.Score > got[i-1].Score {
			t.Errorf("not sorted by score: %+v", got)
		}
		if r.Score < 0 || r.Score > 1 || r.Text == nil || *r.Text != rerankDocs[r.Index] || seen[r.Index] {
			t.Errorf("rank %+v", r)
		}
		seen[r.Index] = true
	}

	tests := []struct {
		name       string
		body       any
		wantStatus int
		wantType   string
	}{
		{"too many texts", map[string]any{"query": "q", "texts": []string{"a", "b", "c", "d", "e"}}, http.StatusRequestEntityTooLarge, "validation"},
		{"no texts", map[string]any{"query": "q", "texts": []string{}}, http.StatusBadRequest, "empty"},
		{"no query", map[string]any{"texts": []string{"a"}}, http.StatusUnprocessableEntity, "validation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeAs[teiErrorBody](t, post(t, ts.URL+"/rerank", tt.body), tt.wantStatus)
			if got.ErrorType != tt.wantType {
				t.Errorf("error = %+v", got)
			}
		})
	}
}

func TestCohereRerank(t *testing.T) {
	ts, _ := serve(t, Config{Prefix: "/ray/v1"})
	type answer struct {
		ID      string `json:"id"`
		Model   string `json:"model"`
		Results []struct {
			Index          int     `json:"index"`
			RelevanceScore float64 `json:"relevance_score"`
			Document       *struct {
				Text string `json:"text"`
			} `json:"document"`
		} `json:"results"`
		Usage struct {
			TotalTokens int `json:"total_tokens"`
		} `json:"usage"`
	}
	docs := []any{rerankDocs[0], map[string]string{"text": rerankDocs[1]}, rerankDocs[2], rerankDocs[3]}
	tests := []struct {
		name     string
		extra    map[string]any
		wantN    int
		wantDocs bool
	}{
		{"all", nil, 4, true},
		{"top_n", map[string]any{"top_n": 2}, 2, true},
		{"top_n zero means all", map[string]any{"top_n": 0}, 4, true},
		{"without documents", map[string]any{"return_documents": false}, 4, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := map[string]any{"model": "any", "query": rerankQuery, "documents": docs}
			for k, v := range tt.extra {
				req[k] = v
			}
			got := decodeAs[answer](t, post(t, ts.URL+"/ray/v1/rerank", req), http.StatusOK)
			if got.Model != ModelRerank || got.ID == "" || got.Usage.TotalTokens == 0 || len(got.Results) != tt.wantN {
				t.Fatalf("answer = %+v", got)
			}
			if got.Results[0].Index != 1 {
				t.Errorf("best = %d, want 1 (Paris)", got.Results[0].Index)
			}
			for i, r := range got.Results {
				if i > 0 && r.RelevanceScore > got.Results[i-1].RelevanceScore {
					t.Errorf("not sorted: %+v", got.Results)
				}
				if (r.Document != nil) != tt.wantDocs || (r.Document != nil && r.Document.Text != rerankDocs[r.Index]) {
					t.Errorf("result %d document = %+v", i, r.Document)
				}
			}
		})
	}
	for name, body := range map[string]any{
		"no documents":  map[string]any{"query": "q", "documents": []string{}},
		"bad document":  map[string]any{"query": "q", "documents": []any{42}},
		"negative top":  map[string]any{"query": "q", "documents": []string{"a"}, "top_n": -1},
		"missing query": map[string]any{"documents": []string{"a"}},
	} {
		t.Run(name, func(t *testing.T) {
			decodeAs[vllmError](t, post(t, ts.URL+"/ray/v1/rerank", body), http.StatusBadRequest)
		})
	}
}
