package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/jetflow-dev/jetflow/internal/devkit/healthlog"
	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/internal/devkit/testplatform"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/gateway"
	"github.com/jetflow-dev/jetflow/internal/worker"
	"github.com/jetflow-dev/jetflow/platform"
	"github.com/jetflow-dev/jetflow/streams"
)

// harness is one platform with the gateway in front of it.
type harness struct {
	p       *testplatform.Platform
	models  *standin.Server
	gwNC    *nats.Conn // the gateway's own connection, whose subscriptions the tests count
	url     string     // http://host:port of the gateway
	http    *http.Client
	grpc    *grpc.ClientConn
	stopGW  func() error
	workers map[string]func() error
	env     map[string]string // the workers' environment
}

type harnessOptions struct {
	config  func(*gateway.Config)
	noStart []string // workers not to run
}

// newHarness starts every worker in-process through its own Build, as its binary would, on
// stand-in models and a fake KFP, then the gateway on a free port.
func newHarness(t *testing.T, o harnessOptions) *harness {
	t.Helper()
	if testing.Short() {
		t.Skip("runs every worker")
	}
	h := &harness{p: testplatform.New(t), workers: map[string]func() error{}}
	models, err := standin.New(standin.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	h.models = models
	modelSrv := httptest.NewServer(models)
	t.Cleanup(modelSrv.Close)
	kfp := newFakeKFP(t)
	env := map[string]string{
		"NATS_URL":               h.p.URL(),
		"HEALTH_ADDR":            healthlog.AnyPort,
		"LOG_LEVEL":              "warn",
		"LLM_URL":                modelSrv.URL + "/v1",
		"EMBEDDINGS_URL":         modelSrv.URL + "/v1",
		"RERANKER_URL":           modelSrv.URL,
		"STT_URL":                modelSrv.URL + "/v1",
		"TTS_URL":                modelSrv.URL + "/v1",
		"PIPELINES_JSON":         `{"pipelines":{"nightly-eval":{"backend":"kfp","pipeline_id":"p-1","pipeline_version_id":"v-1"}}}`,
		"KFP_URL":                kfp.URL,
		"PIPELINE_POLL_INTERVAL": "100ms",
	}
	h.env = env
	for _, w := range platform.All {
		if contains(o.noStart, w.Name) {
			continue
		}
		h.workers[w.Name] = jstest.Run(t, h.p.Ctx, func(ctx context.Context) error {
			if err := worker.Run(ctx, w.Name, envconfig.Map(env), slog.New(slog.DiscardHandler), w.Build); err != nil {
				return fmt.Errorf("%s: %w", w.Name, err)
			}
			return nil
		})
	}
	if !contains(o.noStart, "tts-module") { // its voices service answers once it has started
		jstest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
			_, err := h.p.NC.Request(streams.SubjectTTSVoices, nil, time.Second)
			return err
		})
	}
	h.gwNC, _ = jstest.Connect(t, h.p.Server, nats.Name("gateway"))
	h.startGateway(t, o.config)
	return h
}

func (h *harness) startGateway(t *testing.T, configure func(*gateway.Config)) {
	t.Helper()
	js := mustJetStream(t, h.gwNC)
	cfg := gateway.Config{NC: h.gwNC, JS: js, Recheck: 500 * time.Millisecond}
	if configure != nil {
		configure(&cfg)
	}
	srv, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := (&net.ListenConfig{}).Listen(h.p.Ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.url = "http://" + ln.Addr().String()
	h.stopGW = jstest.Run(t, h.p.Ctx, func(ctx context.Context) error { return srv.Run(ctx, ln) })
	h.http = &http.Client{}
	t.Cleanup(h.http.CloseIdleConnections)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	h.grpc = conn
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// fakeKFP is the smallest KFP v2beta1 API pipeline-bridge needs: a create stores a run, a list
// by display name finds it, and every run has succeeded when read (integration/fault has the
// same one).
type fakeKFP struct {
	*httptest.Server
	mu   sync.Mutex
	runs map[string]string // display name -> run id
}

func newFakeKFP(t *testing.T) *fakeKFP {
	f := &fakeKFP{runs: map[string]string{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeKFP) serve(w http.ResponseWriter, r *http.Request) {
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
