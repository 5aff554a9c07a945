package footprint

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/devkit/natsserver"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/streams"
)

// Platform is what the workers run against while they are measured: an embedded JetStream
// server with the streams applied and the stand-in model servers. It is its own, not `jetflow
// dev`'s, so that no other process competes for the measured worker's messages.
type Platform struct {
	NATSURL   string
	ModelsURL string // base URL of the stand-in models (OpenAI routes under /v1)
	JS        jetstream.JetStream

	// set is streams/ as applied to the server; the load measurement reads consumers from it.
	set    *streams.Set
	srv    *natsserver.Server
	nc     *nats.Conn
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// served is why the stand-in models stopped serving early; Close reports it, because every
	// measurement after that ran against models that no longer answered.
	served error
}

// StartPlatform starts the server and the stand-ins. Close stops them.
func StartPlatform(ctx context.Context, log *slog.Logger) (*Platform, error) {
	srv, err := natsserver.Start(natsserver.Options{})
	if err != nil {
		return nil, err
	}
	p := &Platform{srv: srv, NATSURL: srv.ClientURL()}
	fail := func(err error) (*Platform, error) {
		return nil, errors.Join(err, p.Close())
	}
	if p.nc, err = nats.Connect(srv.ClientURL(), nats.Name("footprint")); err != nil {
		return fail(fmt.Errorf("connecting to the embedded server: %w", err))
	}
	if p.JS, err = jetstream.New(p.nc); err != nil {
		return fail(fmt.Errorf("creating JetStream context: %w", err))
	}
	if p.set, err = streams.Load(); err != nil {
		return fail(err)
	}
	if _, err := streams.Apply(ctx, p.JS, p.set); err != nil {
		return fail(fmt.Errorf("applying streams: %w", err))
	}
	models, err := standin.New(standin.Config{}, log)
	if err != nil {
		return fail(err)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return fail(fmt.Errorf("listening for the stand-in models: %w", err))
	}
	p.ModelsURL = "http://" + ln.Addr().String()
	serveCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := models.Serve(serveCtx, ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, context.Canceled) {
			p.served = fmt.Errorf("serving the stand-in models: %w", err)
		}
	}()
	return p, nil
}

// Close stops the stand-ins and the server and waits for them. It returns why the stand-in
// models stopped serving before Close, if they did.
func (p *Platform) Close() error {
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
	if p.nc != nil {
		p.nc.Close()
	}
	p.srv.Shutdown()
	return p.served
}

// Env is the environment a worker is started with: the platform's endpoints for every
// variable the worker reads, and a KFP-only allow-list for the pipeline bridge, which then
// needs no Kubernetes API. LOG_LEVEL is info, not warn: Measure reads the health server's
// address from the worker's log.
func (p *Platform) Env(healthAddr string, extra map[string]string) []string {
	v1 := p.ModelsURL + "/v1"
	env := map[string]string{
		"NATS_URL":       p.NATSURL,
		"HEALTH_ADDR":    healthAddr,
		"LOG_LEVEL":      "info",
		"LLM_URL":        v1,
		"LLM_MODEL":      "standin",
		"EMBEDDINGS_URL": v1,
		"RERANKER_URL":   v1,
		"STT_URL":        v1,
		"TTS_URL":        v1,
		"PIPELINES_JSON": `{"pipelines":{"footprint":{"backend":"kfp","pipeline_id":"footprint","pipeline_version_id":"v1"}}}`,
		"KFP_URL":        "http://127.0.0.1:9",
	}
	for k, v := range extra {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}
