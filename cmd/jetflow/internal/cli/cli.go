// Package cli is the jetflow operator command line. Each command is a function over its
// arguments and output streams, so tests run it in-process.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/cmd/jetflow/internal/devplatform"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/natsconn"
	"github.com/jetflow-dev/jetflow/streams"
	"github.com/jetflow-dev/jetflow/workers"
)

const usage = `jetflow: operate jetflow on NATS JetStream.

Usage:
  jetflow streams apply [--replicas N]   create or update every stream, consumer and KV bucket
  jetflow streams diff                   show how the server differs from streams/ (exit 1 on drift)
  jetflow dev [--data DIR]               the whole platform in one process (embedded JetStream)

The server is NATS_URL (default nats://127.0.0.1:4222), with NATS_CREDS, NATS_NKEY,
NATS_USER/NATS_PASSWORD, NATS_TOKEN and NATS_TLS_* as the workers read them.
`

// errDrift makes `streams diff` exit 1 when the server differs.
var errDrift = errors.New("the server differs from the definitions")

// Main runs one command and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := run(ctx, args, stdout, stderr, os.LookupEnv)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errDrift):
		return 1
	default:
		fmt.Fprintln(stderr, "jetflow:", err)
		return 2
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookup envconfig.Lookup) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "streams":
		if len(args) < 2 {
			return errors.New("streams needs apply or diff")
		}
		switch args[1] {
		case "apply":
			return streamsApply(ctx, args[2:], stdout, stderr, lookup)
		case "diff":
			return streamsDiff(ctx, args[2:], stdout, stderr, lookup)
		}
		return fmt.Errorf("unknown streams command %q", args[1])
	case "dev":
		return dev(ctx, args[1:], stdout, stderr, lookup)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func connect(ctx context.Context, lookup envconfig.Lookup, stderr io.Writer) (jetstream.JetStream, func(), error) {
	r := envconfig.New(lookup)
	cfg := natsconn.FromEnv(r, "jetflow-cli")
	if err := r.Err(); err != nil {
		return nil, nil, err
	}
	cfg.ConnectTimeout = min(cfg.ConnectTimeout, 5*time.Second)
	nc, err := natsconn.Connect(ctx, cfg, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("creating JetStream context: %w", err)
	}
	return js, nc.Close, nil
}

// streamsCommand parses the shared flags of `streams apply` and `streams diff`, loads the
// definitions and connects, then runs do.
func streamsCommand(ctx context.Context, name string, args []string, stderr io.Writer, lookup envconfig.Lookup,
	do func(js jetstream.JetStream, set *streams.Set, opts []streams.Option) error) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	replicas := fs.Int("replicas", 0, "num_replicas for every stream and bucket (0 keeps the files' value, 1)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	set, err := streams.Load()
	if err != nil {
		return err
	}
	js, closeConn, err := connect(ctx, lookup, stderr)
	if err != nil {
		return err
	}
	defer closeConn()
	var opts []streams.Option
	if *replicas > 0 {
		opts = append(opts, streams.WithReplicas(*replicas))
	}
	return do(js, set, opts)
}

func streamsApply(ctx context.Context, args []string, stdout, stderr io.Writer, lookup envconfig.Lookup) error {
	return streamsCommand(ctx, "streams apply", args, stderr, lookup, func(js jetstream.JetStream, set *streams.Set, opts []streams.Option) error {
		changes, err := streams.Apply(ctx, js, set, opts...)
		printChanges(stdout, changes)
		if err != nil {
			return fmt.Errorf("applying stream definitions: %w", err)
		}
		return nil
	})
}

func streamsDiff(ctx context.Context, args []string, stdout, stderr io.Writer, lookup envconfig.Lookup) error {
	return streamsCommand(ctx, "streams diff", args, stderr, lookup, func(js jetstream.JetStream, set *streams.Set, opts []streams.Option) error {
		changes, err := streams.Diff(ctx, js, set, opts...)
		if err != nil {
			return fmt.Errorf("comparing stream definitions: %w", err)
		}
		printChanges(stdout, changes)
		for _, c := range changes {
			if c.Action != streams.ActionUnchanged {
				return errDrift
			}
		}
		return nil
	})
}

func printChanges(w io.Writer, changes []streams.Change) {
	for _, c := range changes {
		fmt.Fprintln(w, c.String())
	}
}

func dev(ctx context.Context, args []string, stdout, stderr io.Writer, lookup envconfig.Lookup) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", ".jetflow/data", "JetStream data directory, kept between runs")
	port := fs.Int("port", 4222, "NATS client port (-1: any free port)")
	monitor := fs.Int("monitor", 8222, "NATS monitoring port (/jsz, what KEDA reads; -1: any free port)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	level := slog.LevelInfo
	if v, ok := lookup("LOG_LEVEL"); ok && strings.EqualFold(v, "debug") {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	return devplatform.Run(ctx, devplatform.Options{
		DataDir: *data, Port: *port, MonitorPort: *monitor, Lookup: lookup, Out: stdout, Log: log,
		Workers: workers.All,
	})
}
