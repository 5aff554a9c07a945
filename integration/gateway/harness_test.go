package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/jetflow-dev/jetflow/internal/devkit/fakekfp"
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
	kfp := fakekfp.New(t)
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
