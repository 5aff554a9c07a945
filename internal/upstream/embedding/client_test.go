package embedding

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
)

// texts returns "t0".."t<n-1>"; the fake servers embed "tK" as [K, 1], so order is checkable.
func texts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "t" + strconv.Itoa(i)
	}
	return out
}

func vectorFor(text string) []float32 {
	k, _ := strconv.Atoi(strings.TrimPrefix(text, "t"))
	return []float32{float32(k), 1}
}

// fake records batch sizes and serves both wire shapes under a route prefix.
type fake struct {
	mu      sync.Mutex
	batches []int
	last    map[string]any
}

func (f *fake) record(t *testing.T, r *http.Request, key string) []string {
	t.Helper()
	body, _ := io.ReadAll(r.Body)
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		t.Errorf("request is not JSON: %v", err)
	}
	var inputs []string
	for _, v := range req[key].([]any) {
		inputs = append(inputs, v.(string))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, len(inputs))
	f.last = req
	return inputs
}

func (f *fake) server(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	// OpenAI shape, answered in reverse order as a server may.
	mux.HandleFunc("POST /emb/v1/embeddings", func(w http.ResponseWriter, r *http.Request) {
		inputs := f.record(t, r, "input")
		var data []string
		for i := len(inputs) - 1; i >= 0; i-- {
			vec, _ := json.Marshal(vectorFor(inputs[i]))
			data = append(data, fmt.Sprintf(`{"object":"embedding","embedding":%s,"index":%d}`, vec, i))
		}
		_, _ = fmt.Fprintf(w, `{"object":"list","data":[%s],"model":"bge","usage":{"prompt_tokens":5,"total_tokens":5}}`, strings.Join(data, ","))
	})
	mux.HandleFunc("POST /embed", func(w http.ResponseWriter, r *http.Request) {
		inputs := f.record(t, r, "inputs")
		if len(inputs) > DefaultBatchSize {
			http.Error(w, `{"error":"batch size 40 > maximum allowed batch size 32","error_type":"validation"}`, http.StatusRequestEntityTooLarge)
			return
		}
		var out [][]float32
		for _, in := range inputs {
			out = append(out, vectorFor(in))
		}
		_ = json.NewEncoder(w).Encode(out)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func checkOrder(t *testing.T, got [][]float32, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("got %d vectors, want %d", len(got), n)
	}
	for i, v := range got {
		if !slices.Equal(v, []float32{float32(i), 1}) {
			t.Fatalf("vector %d = %v, want [%d 1]", i, v, i)
		}
	}
}

func TestEmbed(t *testing.T) {
	tests := []struct {
		name        string
		cfg         Config
		n           int
		wantBatches []int
		check       func(t *testing.T, last map[string]any)
	}{
		{
			name: "openai shape out of order, under a route prefix", cfg: Config{HTTP: modelhttp.Config{BaseURL: "/emb/v1", Model: "bge"}},
			n: 3, wantBatches: []int{3},
			check: func(t *testing.T, last map[string]any) {
				if last["model"] != "bge" || last["encoding_format"] != "float" {
					t.Errorf("request = %v", last)
				}
			},
		},
		{
			name: "openai shape batched", cfg: Config{HTTP: modelhttp.Config{BaseURL: "/emb/v1"}, BatchSize: 4},
			n: 10, wantBatches: []int{4, 4, 2},
			check: func(t *testing.T, last map[string]any) {
				if _, ok := last["model"]; ok {
					t.Errorf("empty model sent: %v", last)
				}
			},
		},
		{
			name: "tei default batch", cfg: Config{HTTP: modelhttp.Config{BaseURL: ""}, API: APITEI, Truncate: true},
			n: 70, wantBatches: []int{32, 32, 6},
			check: func(t *testing.T, last map[string]any) {
				if last["truncate"] != true {
					t.Errorf("truncate not sent: %v", last)
				}
			},
		},
		{name: "no texts", cfg: Config{API: APITEI}, n: 0},
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
			got, err := c.Embed(t.Context(), texts(tt.n))
			if err != nil {
				t.Fatal(err)
			}
			checkOrder(t, got, tt.n)
			if !slices.Equal(f.batches, tt.wantBatches) {
				t.Errorf("batches = %v, want %v", f.batches, tt.wantBatches)
			}
			if tt.check != nil {
				tt.check(t, f.last)
			}
		})
	}
}

func TestEmbedFailures(t *testing.T) {
	tests := []struct {
		name      string
		api       API
		texts     []string
		batch     int
		respond   func(w http.ResponseWriter, r *http.Request, call int)
		permanent bool
		invalid   bool
		status    int
	}{
		{
			name: "count mismatch", texts: texts(2),
			respond: func(w http.ResponseWriter, r *http.Request, _ int) {
				_, _ = io.WriteString(w, `{"data":[{"index":0,"embedding":[1,2]}]}`)
			},
			permanent: true,
		},
		{
			name: "inconsistent dimension", texts: texts(2),
			respond: func(w http.ResponseWriter, r *http.Request, _ int) {
				_, _ = io.WriteString(w, `{"data":[{"index":0,"embedding":[1,2]},{"index":1,"embedding":[1,2,3]}]}`)
			},
			permanent: true,
		},
		{
			name: "duplicate index", texts: texts(2),
			respond: func(w http.ResponseWriter, r *http.Request, _ int) {
				_, _ = io.WriteString(w, `{"data":[{"index":1,"embedding":[1,2]},{"index":1,"embedding":[1,2]}]}`)
			},
			permanent: true,
		},
		{
			name: "index out of range", texts: texts(1),
			respond: func(w http.ResponseWriter, r *http.Request, _ int) {
				_, _ = io.WriteString(w, `{"data":[{"index":5,"embedding":[1,2]}]}`)
			},
			permanent: true,
		},
		{
			name: "dimension changes between batches", api: APITEI, texts: texts(3), batch: 2,
			respond: func(w http.ResponseWriter, r *http.Request, call int) {
				if call == 1 {
					_, _ = io.WriteString(w, `[[1,2],[3,4]]`)
					return
				}
				_, _ = io.WriteString(w, `[[1,2,3]]`)
			},
			permanent: true,
		},
		{
			name: "not json", api: APITEI, texts: texts(1),
			respond: func(w http.ResponseWriter, r *http.Request, _ int) {
				_, _ = io.WriteString(w, `upstream connect error`)
			},
			permanent: true,
		},
		{
			name: "tei overloaded", api: APITEI, texts: texts(1),
			respond: func(w http.ResponseWriter, r *http.Request, _ int) {
				http.Error(w, `{"error":"model is overloaded","error_type":"overloaded"}`, http.StatusTooManyRequests)
			},
			status: 429,
		},
		{
			name: "tei batch too large", api: APITEI, texts: texts(1),
			respond: func(w http.ResponseWriter, r *http.Request, _ int) {
				http.Error(w, `{"error":"batch too large","error_type":"validation"}`, http.StatusRequestEntityTooLarge)
			},
			permanent: true, status: 413,
		},
		{
			name: "server down", texts: texts(1),
			respond: func(w http.ResponseWriter, r *http.Request, _ int) {
				http.Error(w, "no healthy upstream", http.StatusServiceUnavailable)
			},
			status: 503,
		},
		{name: "empty text", texts: []string{"a", ""}, permanent: true, invalid: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			calls := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				mu.Lock()
				calls++
				call := calls
				mu.Unlock()
				tt.respond(w, r, call)
			}))
			defer srv.Close()
			c, err := New(Config{HTTP: modelhttp.Config{BaseURL: srv.URL}, API: tt.api, BatchSize: tt.batch})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Embed(t.Context(), tt.texts)
			if err == nil || got != nil {
				t.Fatalf("got %v, %v; want an error", got, err)
			}
			if failure.IsPermanent(err) != tt.permanent || errors.Is(err, failure.ErrInvalid) != tt.invalid {
				t.Errorf("err = %v: permanent %v (want %v), invalid want %v", err, failure.IsPermanent(err), tt.permanent, tt.invalid)
			}
			if se, ok := errors.AsType[*modelhttp.StatusError](err); tt.status != 0 && (!ok || se.StatusCode != tt.status) {
				t.Errorf("err = %v, want status %d", err, tt.status)
			}
		})
	}
}

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr string
	}{
		{
			name: "tei",
			env:  map[string]string{"EMBEDDINGS_URL": "http://tei:8080", "EMBEDDINGS_API": "tei", "EMBEDDINGS_BATCH_SIZE": "16", "EMBEDDINGS_TRUNCATE": "true"},
			want: Config{HTTP: modelhttp.Config{BaseURL: "http://tei:8080"}, API: APITEI, BatchSize: 16, Truncate: true},
		},
		{name: "bad api", env: map[string]string{"EMBEDDINGS_API": "cohere"}, wantErr: "EMBEDDINGS_API"},
		{name: "bad batch", env: map[string]string{"EMBEDDINGS_BATCH_SIZE": "0"}, wantErr: "EMBEDDINGS_BATCH_SIZE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := envconfig.New(envconfig.Map(tt.env))
			got := FromEnv(r, Config{})
			err := r.Err()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
