// Package devplatform is `jetflow dev` and `make run`: the whole platform in one process, on an
// embedded JetStream server whose data directory survives restarts, with the streams applied,
// the stand-in models serving every model URL that is not set, and the workers running.
package devplatform

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/embedded"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/streams"
)

// Options for Run.
type Options struct {
	// DataDir keeps the JetStream data between runs.
	DataDir string
	// Port and MonitorPort of the embedded server; -1 picks free ports.
	Port, MonitorPort int
	// Lookup reads the environment (model URLs override the stand-ins).
	Lookup envconfig.Lookup
	// Out receives the how-to-use text; Log the logs.
	Out io.Writer
	Log *slog.Logger
	// Ready, when set, is called once everything listens, with the server's client URL.
	Ready func(natsURL string)
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
	srv, err := embedded.Start(embedded.Options{StoreDir: dir, Port: o.Port, MonitorPort: o.MonitorPort})
	if err != nil {
		return fmt.Errorf("starting the embedded JetStream server (is port %d taken? try --port -1): %w", o.Port, err)
	}
	defer srv.Shutdown()

	nc, err := nats.Connect(srv.ClientURL(), nats.Name("jetflow-dev"))
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
	changes, err := streams.Apply(ctx, js, set)
	if err != nil {
		return fmt.Errorf("applying streams: %w", err)
	}
	for _, c := range changes {
		o.Log.Debug("streams", "change", c.String())
	}

	fmt.Fprintf(o.Out, "jetflow dev: embedded JetStream at %s (data in %s), monitoring at %s\n", srv.ClientURL(), dir, srv.MonitorURL())
	fmt.Fprintf(o.Out, "streams applied: %d streams, consumers and buckets. Workers: none yet in this build.\n", len(changes))
	fmt.Fprintf(o.Out, "Look around with the nats CLI (make nats builds bin/nats):\n  bin/nats --server %s stream ls\n", srv.ClientURL())
	fmt.Fprintln(o.Out, "Press Ctrl-C to stop.")
	if o.Ready != nil {
		o.Ready(srv.ClientURL())
	}
	<-ctx.Done()
	o.Log.Info("stopping")
	return nil
}
