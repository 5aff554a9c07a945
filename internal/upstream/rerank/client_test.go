package rerank

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
)

// score is the fake cross-encoder: the share of the document's words found in the query.
func score(query, doc string) float64 {
	words := strings.Fields(doc)
	hits := 0
	for _, w := range words {
		if strings.Contains(query, w) {
			hits++
		}
	}
	return float64(hits) / float64(max(len(words), 1))
}

type fake struct {
	mu       sync.Mutex
	batches  []int
	requests []map[string]any
}

func (f *fake) decode(t *testing.T, r *http.Request, key string) (string, []string) {
	body, _ := io.ReadAll(r.Body)
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		t.Errorf("request is not JSON: %v", err)
	}
	var docs []string
	for _, d := range req[key].([]any) {
		docs = append(docs, d.(string))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, len(docs))
	f.requests = append(f.requests, req)
	return req["query"].(string), docs
}

type ranked struct {
	index int
	score float64
}

// rank sorts best first, as both TEI and Cohere do.
func rank(query string, docs []string) []ranked {
	out := make([]ranked, len(docs))
	for i, d := range docs {
		out[i] = ranked{i, score(query, d)}
	}
	slices.SortStableFunc(out, func(a, b ranked) int { return cmp.Compare(b.score, a.score) })
	return out
}

func (f *fake) server(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /rerank", func(w http.ResponseWriter, r *http.Request) { // TEI at the root
		query, texts := f.decode(t, r, "texts")
		var out []string
		for _, rk := range rank(query, texts) {
			out = append(out, fmt.Sprintf(`{"index":%d,"score":%g}`, rk.index, rk.score))
		}
		_, _ = fmt.Fprintf(w, "[%s]", strings.Join(out, ","))
	})
	mux.HandleFunc("POST /rr/v1/rerank", func(w http.ResponseWriter, r *http.Request) { // vLLM under a prefix
		query, docs := f.decode(t, r, "documents")
		var out []string
		for _, rk := range rank(query, docs) {
			out = append(out, fmt.Sprintf(`{"index":%d,"document":{"text":%q},"relevance_score":%g}`, rk.index, docs[rk.index], rk.score))
		}
		_, _ = fmt.Fprintf(w, `{"id":"rerank-1","model":"bge-reranker","usage":{"prompt_tokens":9,"total_tokens":9},"results":[%s]}`, strings.Join(out, ","))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestRerank(t *testing.T) {
	const query = "capital of france paris"
	docs := []string{"berlin germany", "paris", "capital of spain", "france paris capital", "nothing here"}
	want := make([]float64, len(docs))
	for i, d := range docs {
		want[i] = score(query, d)
	}
	tests := []struct {
		name        string
		cfg         Config
		wantBatches []int
		check       func(t *testing.T, reqs []map[string]any)
	}{
		{name: "tei", cfg: Config{API: APITEI, Truncate: true}, wantBatches: []int{5}, check: func(t *testing.T, reqs []map[string]any) {
			if reqs[0]["truncate"] != true {
				t.Errorf("request = %v", reqs[0])
			}
		}},
		{name: "tei is the default, batched", cfg: Config{BatchSize: 2}, wantBatches: []int{2, 2, 1}},
		{
			name: "cohere shape under a route prefix", cfg: Config{HTTP: modelhttp.Config{BaseURL: "/rr/v1", Model: "bge-reranker"}, API: APICohere},
			wantBatches: []int{5},
			check: func(t *testing.T, reqs []map[string]any) {
				if reqs[0]["model"] != "bge-reranker" || reqs[0]["top_n"] != 5.0 {
					t.Errorf("request = %v", reqs[0])
				}
			},
		},
		{
			name: "cohere shape batched", cfg: Config{HTTP: modelhttp.Config{BaseURL: "/rr/v1"}, API: APICohere, BatchSize: 3},
			wantBatches: []int{3, 2},
			check: func(t *testing.T, reqs []map[string]any) {
				if reqs[1]["top_n"] != 2.0 {
					t.Errorf("request = %v", reqs[1])
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fake{}
			srv := f.server(t)
			cfg := tt.cfg
			cfg.HTTP.BaseURL = srv.URL + cfg.HTTP.BaseURL
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Rerank(t.Context(), query, docs)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("scores = %v, want %v", got, want)
			}
			if !slices.Equal(f.batches, tt.wantBatches) {
				t.Errorf("batches = %v, want %v", f.batches, tt.wantBatches)
			}
			if tt.check != nil {
				tt.check(t, f.requests)
			}
		})
	}
}

func TestRerankFailures(t *testing.T) {
	tests := []struct {
		name      string
		api       API
		body      string
		status    int
		query     string
		permanent bool
		invalid   bool
	}{
		{name: "tei index out of range", api: APITEI, body: `[{"index":0,"score":1},{"index":2,"score":0.5}]`, permanent: true},
		{name: "tei duplicate index", api: APITEI, body: `[{"index":0,"score":1},{"index":0,"score":0.5}]`, permanent: true},
		{name: "tei missing document", api: APITEI, body: `[{"index":1,"score":1}]`, permanent: true},
		{name: "tei missing score", api: APITEI, body: `[{"index":0},{"index":1,"score":1}]`, permanent: true},
		{name: "cohere negative index", api: APICohere, body: `{"results":[{"index":-1,"relevance_score":1},{"index":0,"relevance_score":1}]}`, permanent: true},
		{name: "cohere empty results", api: APICohere, body: `{"results":[]}`, permanent: true},
		{name: "tei answer to a cohere request", api: APICohere, body: `[{"index":0,"score":1},{"index":1,"score":0}]`, permanent: true},
		{name: "not json", api: APITEI, body: `Bad Gateway`, permanent: true},
		{name: "tei backend busy", api: APITEI, status: 429, body: `{"error":"overloaded","error_type":"overloaded"}`},
		{name: "tei validation", api: APITEI, status: 422, body: `{"error":"tokenization","error_type":"tokenizer"}`, permanent: true},
		{name: "server error", api: APICohere, status: 500, body: `{"error":{"message":"boom","code":500}}`},
		{name: "empty query", api: APITEI, query: "-", permanent: true, invalid: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				if tt.status != 0 {
					w.WriteHeader(tt.status)
				}
				_, _ = io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			c, err := New(Config{HTTP: modelhttp.Config{BaseURL: srv.URL}, API: tt.api})
			if err != nil {
				t.Fatal(err)
			}
			query := "q"
			if tt.query == "-" {
				query = ""
			}
			got, err := c.Rerank(t.Context(), query, []string{"a", "b"})
			if err == nil || got != nil {
				t.Fatalf("got %v, %v; want an error", got, err)
			}
			if failure.IsPermanent(err) != tt.permanent || errors.Is(err, failure.ErrInvalid) != tt.invalid {
				t.Errorf("err = %v: permanent %v, want %v", err, failure.IsPermanent(err), tt.permanent)
			}
			if se, ok := errors.AsType[*modelhttp.StatusError](err); tt.status != 0 && (!ok || se.StatusCode != tt.status) {
				t.Errorf("err = %v, want status %d", err, tt.status)
			}
		})
	}
}

func TestFromEnv(t *testing.T) {
	r := envconfig.New(envconfig.Map(map[string]string{
		"RERANKER_URL": "http://ray:8000/rr/v1", "RERANKER_API": "cohere", "RERANKER_MODEL": "bge", "RERANKER_BATCH_SIZE": "8",
	}))
	got := FromEnv(r, Config{})
	want := Config{HTTP: modelhttp.Config{BaseURL: "http://ray:8000/rr/v1", Model: "bge"}, API: APICohere, BatchSize: 8}
	if err := r.Err(); err != nil || got != want {
		t.Fatalf("got %+v, %v; want %+v", got, err, want)
	}
	r = envconfig.New(envconfig.Map(map[string]string{"RERANKER_API": "jina"}))
	FromEnv(r, Config{})
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "RERANKER_API") {
		t.Fatalf("err = %v, want one naming RERANKER_API", err)
	}
}
