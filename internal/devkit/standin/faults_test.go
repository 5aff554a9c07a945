package standin

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

const chatBody = `{"messages":[{"role":"user","content":"hi"}]}`

func TestOutageFromAdmin(t *testing.T) {
	ts, s := serve(t, Config{})
	decodeAs[outageAnswer](t, post(t, ts.URL+"/admin/outage?for=1h", ""), http.StatusOK)

	resp := post(t, ts.URL+"/v1/chat/completions", chatBody)
	if e := decodeAs[vllmError](t, resp, http.StatusServiceUnavailable); e.Error.Code != 503 {
		t.Errorf("OpenAI route error = %+v", e)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 3590 || ra > 3600 {
		t.Errorf("Retry-After = %q", resp.Header.Get("Retry-After"))
	}
	if e := decodeAs[teiErrorBody](t, post(t, ts.URL+"/embed", `{"inputs":"x"}`), http.StatusServiceUnavailable); e.ErrorType != "unhealthy" {
		t.Errorf("TEI route error = %+v", e)
	}
	health, err := http.Get(ts.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	health.Body.Close()
	if health.StatusCode != http.StatusOK {
		t.Errorf("healthz during outage = %d", health.StatusCode)
	}
	st := s.Stats()
	if !st.Outage || st.Calls["POST /v1/chat/completions"] != 1 || st.Injected["POST /v1/chat/completions"] != 1 || st.Injected["POST /embed"] != 1 {
		t.Errorf("stats = %+v", st)
	}

	decodeAs[outageAnswer](t, post(t, ts.URL+"/admin/outage?for=0", ""), http.StatusOK)
	decodeAs[clientChatResponse](t, post(t, ts.URL+"/v1/chat/completions", chatBody), http.StatusOK)

	for _, bad := range []string{"", "soon", "-1s"} {
		decodeAs[vllmError](t, post(t, ts.URL+"/admin/outage?for="+bad, ""), http.StatusBadRequest)
	}
}

func TestOutageFromConfig(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		wantStatus int
	}{
		{"during", Config{OutageDuration: time.Hour}, http.StatusServiceUnavailable},
		{"before", Config{OutageStart: time.Hour, OutageDuration: time.Hour}, http.StatusOK},
		{"none", Config{OutageStart: 0}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, _ := serve(t, tt.cfg)
			resp := post(t, ts.URL+"/v1/chat/completions", chatBody)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
		})
	}
}

func TestErrorRate(t *testing.T) {
	run := func(cfg Config) string {
		ts, s := serve(t, cfg)
		var outcome strings.Builder
		for range 200 {
			resp := post(t, ts.URL+"/v1/embeddings", `{"input":"x"}`)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
				outcome.WriteByte('.')
			case http.StatusServiceUnavailable:
				outcome.WriteByte('x')
			default:
				t.Fatalf("status %d", resp.StatusCode)
			}
		}
		if got, want := s.Stats().Injected["POST /v1/embeddings"], int64(strings.Count(outcome.String(), "x")); got != want {
			t.Errorf("stats count %d injected errors, clients saw %d", got, want)
		}
		return outcome.String()
	}
	tests := []struct {
		name     string
		rate     float64
		min, max int
	}{
		{"never", 0, 0, 0},
		{"always", 1, 200, 200},
		{"half", 0.5, 70, 130},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(Config{ErrorRate: tt.rate, Seed: 7})
			if n := strings.Count(got, "x"); n < tt.min || n > tt.max {
				t.Errorf("%d failures of 200, want [%d, %d]", n, tt.min, tt.max)
			}
			if again := run(Config{ErrorRate: tt.rate, Seed: 7}); again != got {
				t.Errorf("the same seed gave different faults:\n%s\n%s", got, again)
			}
		})
	}
}

func TestDelay(t *testing.T) {
	ts, _ := serve(t, Config{Delay: 30 * time.Millisecond, DelayJitter: 20 * time.Millisecond, TokenDelay: 5 * time.Millisecond})
	start := time.Now()
	got := decodeAs[clientChatResponse](t, post(t, ts.URL+"/v1/chat/completions", chatBody), http.StatusOK)
	if took, least := time.Since(start), 30*time.Millisecond+time.Duration(got.Usage.CompletionTokens)*5*time.Millisecond; took < least {
		t.Errorf("answered in %v, want at least %v", took, least)
	}
}

func TestDelayHonoursCancellation(t *testing.T) {
	routes := []struct{ path, body string }{
		{"/v1/chat/completions", chatBody},
		{"/v1/embeddings", `{"input":"x"}`},
		{"/rerank", `{"query":"q","texts":["a"]}`},
	}
	ts, s := serve(t, Config{Delay: time.Hour})
	for _, r := range routes {
		t.Run(r.path, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+r.path, strings.NewReader(r.body))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
				t.Fatalf("err = %v after %v, want the client's deadline", err, time.Since(start))
			}
			waitIdle(t, s)
		})
	}
}

func TestStats(t *testing.T) {
	ts, s := serve(t, Config{})
	for range 3 {
		post(t, ts.URL+"/v1/embeddings", `{"input":"x"}`)
	}
	post(t, ts.URL+"/v1/chat/completions", chatBody)
	resp, err := http.Get(ts.URL + "/admin/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	st := decodeAs[Stats](t, resp, http.StatusOK)
	if st.Calls["POST /v1/embeddings"] != 3 || st.Calls["POST /v1/chat/completions"] != 1 || st.Calls["POST /embed"] != 0 || st.InFlight != 0 || st.Outage {
		t.Errorf("stats = %+v", st)
	}
	req, _ := http.NewRequest(http.MethodDelete, ts.URL+"/admin/stats", nil)
	del, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	del.Body.Close()
	if del.StatusCode != http.StatusNoContent || s.Stats().Calls["POST /v1/embeddings"] != 0 {
		t.Errorf("reset: status %d, stats %+v", del.StatusCode, s.Stats())
	}
}

func TestEveryResponseIsMarked(t *testing.T) {
	ts, _ := serve(t, Config{})
	for _, path := range []string{"/healthz", "/v1/models", "/admin/stats", "/nowhere"} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get(StandInHeader) != "true" {
			t.Errorf("GET %s (%d) lacks %s", path, resp.StatusCode, StandInHeader)
		}
	}
}

func TestModels(t *testing.T) {
	ts, _ := serve(t, Config{})
	resp, err := http.Get(ts.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := decodeAs[modelList](t, resp, http.StatusOK)
	if got.Object != "list" || len(got.Data) != 5 {
		t.Fatalf("models = %+v", got)
	}
	for _, m := range got.Data {
		if !strings.HasPrefix(m.ID, "jetflow-standin-") || m.Object != "model" {
			t.Errorf("model %+v", m)
		}
	}
}
