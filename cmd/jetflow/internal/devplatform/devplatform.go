// Package devplatform is `jetflow dev` and `make run`: the whole platform in one process, on an
// embedded JetStream server whose data directory survives restarts, with the streams applied,
// the stand-in models serving every model URL that is not set, the workers running, and the
// gateway (its Connect API and the page) behind a development API key made for the run.
package devplatform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/devkit/natsserver"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/worker"
	"github.com/jetflow-dev/jetflow/platform"
	"github.com/jetflow-dev/jetflow/streams"
)

// Options for Run.
type Options struct {
	// DataDir keeps the JetStream data between runs.
	DataDir string
	// Port and MonitorPort of the embedded server; -1 picks free ports.
	Port, MonitorPort int
	// Lookup reads the environment: a model URL that is set replaces its stand-in.
	Lookup envconfig.Lookup
	// Workers to run (platform.All); one whose Needs are unset is skipped, and says so.
	Workers []platform.Worker
	// GatewayPort is the gateway's port on 127.0.0.1; -1 picks a free port, 0 runs no gateway.
	GatewayPort int
	// ClientGateway is the gateway URL the client commands call by default (jetflow chat): the
	// printed commands name the gateway only when it listens elsewhere.
	ClientGateway string
	// Out receives the how-to-use text; Log the logs.
	Out io.Writer
	Log *slog.Logger
	// Ready, when set, is called once everything is up, with where it listens.
	Ready func(Endpoints)
}

// Endpoints say where the running platform listens.
type Endpoints struct {
	// NATS is the embedded server's client URL.
	NATS string
	// Gateway is the gateway's URL (its page at /), and APIKey the development key it takes;
	// both empty when no gateway runs.
	Gateway, APIKey string
}

type modelURL struct{ name, path string }

// modelURLs are the variables the stand-in serves when they are unset, and the path under it.
var modelURLs = []modelURL{
	{"LLM_URL", "/v1"},
	{"EMBEDDINGS_URL", "/v1"},
	{"RERANKER_URL", ""},
	{"STT_URL", "/v1"},
	{"TTS_URL", "/v1"},
}

// Run starts the platform and blocks until ctx ends, then stops it in order.
func Run(ctx context.Context, o Options) error {
	if o.Lookup == nil {
		o.Lookup = os.LookupEnv
	}
	dir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return fmt.Errorf("resolving data directory: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	srv, err := natsserver.Start(natsserver.Options{StoreDir: dir, Port: o.Port, MonitorPort: o.MonitorPort})
	if err != nil {
		return fmt.Errorf("starting the embedded JetStream server (is port %d taken? try --port -1): %w", o.Port, err)
	}
	defer srv.Shutdown()
	if err := applyStreams(ctx, srv.ClientURL()); err != nil {
		return err
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(o.Workers)+2) // the workers, the stand-in models and the gateway

	overrides := map[string]string{"NATS_URL": srv.ClientURL()}
	var standinURL string
	if unset := unsetModelURLs(o.Lookup); len(unset) > 0 {
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("listening for the stand-in models: %w", err)
		}
		models, err := standin.New(standin.Config{}, o.Log.With("service", "standin-models"))
		if err != nil {
			ln.Close()
			return err
		}
		standinURL = "http://" + ln.Addr().String()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := models.Serve(runCtx, ln); err != nil {
				errs <- fmt.Errorf("stand-in models: %w", err)
			}
		}()
		for _, m := range unset {
			overrides[m.name] = standinURL + m.path
		}
	}

	type started struct{ name, health string }
	var running []started
	for _, w := range o.Workers {
		if missing := missingVars(o.Lookup, w.Needs); missing != "" {
			fmt.Fprintf(o.Out, "skipping %s: set %s to run it\n", w.Name, missing)
			continue
		}
		// The worker serves its health checks on a port bound here and held: nothing can take it
		// between choosing it and serving on it.
		healthLn, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
		if err != nil {
			cancel()
			wg.Wait()
			return fmt.Errorf("listening for %s's health checks: %w", w.Name, err)
		}
		health := healthLn.Addr().String()
		// One worker runs the dead-letter advisory catcher: the first one that starts, because a
		// worker skipped for a missing variable would leave none running it.
		env := map[string]string{"DEAD_LETTER_ADVISORIES": strconv.FormatBool(len(running) == 0)}
		for k, v := range overrides {
			env[k] = v
		}
		lookup := overlay(env, o.Lookup)
		running = append(running, started{w.Name, health})
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := worker.Run(runCtx, w.Name, lookup, o.Log.With("service", w.Name), w.Build, worker.WithHealthListener(healthLn)); err != nil {
				errs <- fmt.Errorf("%s: %w", w.Name, err)
				cancel()
			}
		}()
	}

	fmt.Fprintf(o.Out, "jetflow dev: embedded JetStream at %s (data in %s)\n", srv.ClientURL(), dir)
	if u := srv.MonitorURL(); u != "" {
		fmt.Fprintf(o.Out, "  monitoring (what KEDA reads): %s/jsz\n", u)
	}
	if standinURL != "" {
		fmt.Fprintf(o.Out, "  stand-in models: %s (set LLM_URL, EMBEDDINGS_URL, RERANKER_URL, STT_URL, TTS_URL to use real ones)\n", standinURL)
	}
	for _, r := range running {
		fmt.Fprintf(o.Out, "  %s: health and metrics at http://%s/readyz and /metrics\n", r.name, r.health)
	}
	ends := Endpoints{NATS: srv.ClientURL()}
	if o.GatewayPort != 0 {
		gw, err := startGateway(ctx, srv.ClientURL(), o.GatewayPort, dir, o.Log.With("service", "gateway"))
		if err != nil {
			cancel()
			wg.Wait()
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := gw.run(runCtx); err != nil {
				errs <- fmt.Errorf("gateway: %w", err)
				cancel()
			}
		}()
		ends.Gateway, ends.APIKey = gw.url, gw.key
		printGateway(o.Out, gw, o.ClientGateway)
	}
	fmt.Fprintf(o.Out, `
Ask a question and read the answer with the nats CLI (make nats builds bin/nats):
  bin/nats --server %[1]s pub ai.chat.request '{"request_id":"demo-1","query":"How does KEDA scale the workers?"}' -H Content-Type:application/json --jetstream
  bin/nats --server %[1]s stream get AI_RESULTS -S ai.result.chat.demo-1
Watch the answer's tokens live (start it before publishing, with "stream_tokens":true in the request):
  bin/nats --server %[1]s sub 'ai.stream.>'
See what failed and why:
  bin/nats --server %[1]s stream view AI_DLQ
Press Ctrl-C to stop.
`, srv.ClientURL())
	if o.Ready != nil {
		o.Ready(ends)
	}

	select {
	case <-runCtx.Done():
	case err := <-errs:
		cancel()
		wg.Wait()
		return err
	}
	o.Log.Info("stopping")
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

func applyStreams(ctx context.Context, url string) error {
	nc, err := nats.Connect(url, nats.Name("jetflow-dev"))
	if err != nil {
		return fmt.Errorf("connecting to the embedded server: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("creating JetStream context: %w", err)
	}
	set, err := streams.Load()
	if err != nil {
		return err
	}
	applyCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := streams.Apply(applyCtx, js, set); err != nil {
		return fmt.Errorf("applying streams: %w", err)
	}
	return nil
}

// unsetModelURLs are the model URLs lookup leaves unset or empty: the stand-in serves them.
func unsetModelURLs(lookup envconfig.Lookup) []modelURL {
	var unset []modelURL
	for _, m := range modelURLs {
		if v, ok := lookup(m.name); !ok || v == "" {
			unset = append(unset, m)
		}
	}
	return unset
}

func missingVars(lookup envconfig.Lookup, names []string) string {
	for _, n := range names {
		if v, ok := lookup(n); !ok || v == "" {
			return n
		}
	}
	return ""
}

func overlay(over map[string]string, base envconfig.Lookup) envconfig.Lookup {
	return func(name string) (string, bool) {
		if v, ok := over[name]; ok {
			return v, true
		}
		return base(name)
	}
}
