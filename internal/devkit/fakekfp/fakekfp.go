// Package fakekfp is the smallest Kubeflow Pipelines v2beta1 API pipeline-bridge needs, for the
// tests that run it against a real HTTP server: a create stores a run, a list by display name
// finds it, and every run has succeeded when read.
package fakekfp

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Server is the fake API; its URL is what PIPELINES' kfp endpoint names.
type Server struct {
	*httptest.Server
	mu   sync.Mutex
	runs map[string]string // display name -> run id
}

// New starts a fake KFP API that stops when the test ends.
func New(t testing.TB) *Server {
	f := &Server{runs: map[string]string{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *Server) serve(w http.ResponseWriter, r *http.Request) {
	const runs = "/apis/v2beta1/runs"
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == runs:
		var body struct {
			DisplayName string `json:"display_name"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		id, ok := f.runs[body.DisplayName]
		if !ok {
			id = "run-" + strconv.Itoa(len(f.runs)+1)
			f.runs[body.DisplayName] = id
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"run_id": id, "display_name": body.DisplayName, "state": "PENDING"})
	case r.Method == http.MethodGet && r.URL.Path == runs:
		var filter struct {
			Predicates []struct {
				StringValue string `json:"string_value"`
			} `json:"predicates"`
		}
		_ = json.Unmarshal([]byte(r.URL.Query().Get("filter")), &filter)
		out := map[string]any{"total_size": 0}
		if len(filter.Predicates) == 1 {
			if id, ok := f.runs[filter.Predicates[0].StringValue]; ok {
				out = map[string]any{"total_size": 1, "runs": []any{map[string]any{
					"run_id": id, "display_name": filter.Predicates[0].StringValue, "state": "RUNNING"}}}
			}
		}
		_ = json.NewEncoder(w).Encode(out)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, runs+"/"):
		id := strings.TrimPrefix(r.URL.Path, runs+"/")
		_ = json.NewEncoder(w).Encode(map[string]any{"run_id": id, "state": "SUCCEEDED", "run_details": map[string]any{"task_details": []any{}}})
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}
