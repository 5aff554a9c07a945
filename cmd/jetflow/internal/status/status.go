// Package status is `jetflow status`: one table of every stage of the platform, with its
// consumer's state, its dead letters, the worker replicas serving it and their breakers, and an
// exit code that says whether the platform is healthy, for a cron job or a readiness gate.
//
// What the workers report comes from the KV bucket streams.BucketStatus, where each worker
// process keeps one entry (worker.StatusPublisher), so the tool reads one bucket instead of
// scraping every pod's /metrics.
package status

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/natsconn"
	"github.com/jetflow-dev/jetflow/internal/operator/stagestatus"
	"github.com/jetflow-dev/jetflow/streams"
)

// Exit codes of Main.
const (
	ExitHealthy   = 0 // every stage is healthy (or --help)
	ExitUnhealthy = 1 // a stage has a problem (open breaker, growing dead letters, missing consumer)
	ExitError     = 2 // the status could not be read, or the command line is wrong
)

// Defaults of the flags.
const (
	DefaultWatchInterval = 2 * time.Second
	DefaultDLQWindow     = stagestatus.DefaultWindow
	// refreshTimeout bounds one look at the platform, so a server that stops answering shows as
	// an error instead of a frozen --watch.
	refreshTimeout = 15 * time.Second
)

const usage = `jetflow status: one table of every stage of the platform.

Usage:
  jetflow status [-o table|json] [--watch [--interval 2s]] [--dlq-window 5m]

For every stage (every durable consumer in streams/): its stream and consumer; PENDING
(num_pending: messages not yet delivered), ACK PENDING (delivered, not yet acked), REDELIVERED,
WAITING (pull requests waiting for messages); DLQ 1H and DLQ TOTAL (its dead letters in AI_DLQ,
on ai.dlq.<stage>); REPLICAS (worker processes that report running it, from the KV bucket
jetflow-status); BREAKERS (each upstream's circuit breaker as those replicas report it).

Flags:
  -o, --output FORMAT   table (default) or json (one JSON document; one per line with --watch)
  -w, --watch           refresh in place every --interval until interrupted
      --interval D      refresh period of --watch (default 2s)
      --dlq-window D    dead letters are growing when the newest is younger than D (default 5m)

Exit status:
  0  healthy
  1  a stage has a problem: a breaker open on a replica, dead letters growing (one stored within
     --dlq-window), or its consumer missing on the server; also when the bucket jetflow-status is
     missing. With --watch, the state of the last refresh.
  2  the status could not be read (server unreachable, streams not applied), or bad usage

The server is NATS_URL (default nats://127.0.0.1:4222), with NATS_CREDS, NATS_NKEY,
NATS_USER/NATS_PASSWORD, NATS_TOKEN and NATS_TLS_* as the workers read them. The user needs to
read the stage consumers, AI_DLQ (and create consumers on it) and the bucket jetflow-status.
`

type options struct {
	output    string
	watch     bool
	interval  time.Duration
	dlqWindow time.Duration
}

func parse(args []string) (options, error) {
	o := options{output: "table", interval: DefaultWatchInterval, dlqWindow: DefaultDLQWindow}
	fs := flag.NewFlagSet("jetflow status", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, usage printed by Main
	fs.StringVar(&o.output, "o", o.output, "")
	fs.StringVar(&o.output, "output", o.output, "")
	fs.BoolVar(&o.watch, "w", false, "")
	fs.BoolVar(&o.watch, "watch", false, "")
	fs.DurationVar(&o.interval, "interval", o.interval, "")
	fs.DurationVar(&o.dlqWindow, "dlq-window", o.dlqWindow, "")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if o.output != "table" && o.output != "json" {
		problems = append(problems, fmt.Sprintf("-o %q: want table or json", o.output))
	}
	if o.interval <= 0 {
		problems = append(problems, fmt.Sprintf("--interval %v: want a positive duration such as 2s", o.interval))
	}
	if o.dlqWindow <= 0 {
		problems = append(problems, fmt.Sprintf("--dlq-window %v: want a positive duration such as 5m", o.dlqWindow))
	}
	if len(problems) > 0 {
		return o, errors.New(strings.Join(problems, "; "))
	}
	return o, nil
}

// Main runs `jetflow status` with args (what follows "status") and returns its exit code
// (ExitHealthy, ExitUnhealthy, ExitError). lookup is the environment the connection settings
// are read from.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, lookup envconfig.Lookup) int {
	o, err := parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return ExitHealthy
	}
	if err != nil {
		fmt.Fprintf(stderr, "jetflow status: %v\nRun `jetflow status --help` for usage.\n", err)
		return ExitError
	}
	set, err := streams.Load()
	if err != nil {
		fmt.Fprintf(stderr, "jetflow status: %v\n", err)
		return ExitError
	}
	nc, js, err := connect(ctx, lookup, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "jetflow status: %v\n", err)
		return ExitError
	}
	defer nc.Close()
	c := &stagestatus.Collector{JS: js, Set: set, Window: o.dlqWindow}
	if !o.watch {
		code, _ := show(ctx, c, o, stdout, stderr, false)
		return code
	}
	return watch(ctx, c, o, stdout, stderr)
}

// watch shows the status every o.interval until ctx ends, and returns the last exit code.
func watch(ctx context.Context, c *stagestatus.Collector, o options, stdout, stderr io.Writer) int {
	ticker := time.NewTicker(o.interval)
	defer ticker.Stop()
	if o.output == "table" {
		fmt.Fprint(stdout, ansiClearScreen)
	}
	code, _ := show(ctx, c, o, stdout, stderr, true)
	for {
		select {
		case <-ctx.Done():
			return code
		case <-ticker.C:
			if next, interrupted := show(ctx, c, o, stdout, stderr, true); !interrupted {
				code = next
			}
		}
	}
}

// show looks once and prints the result; redraw rewrites the previous table in place. It
// reports whether ctx ended before there was anything to show.
func show(ctx context.Context, c *stagestatus.Collector, o options, stdout, stderr io.Writer, redraw bool) (code int, interrupted bool) {
	lookCtx, cancel := context.WithTimeout(ctx, refreshTimeout)
	defer cancel()
	r, err := c.Collect(lookCtx, time.Now())
	if err != nil {
		if ctx.Err() != nil && redraw {
			return ExitError, true // --watch ends: the previous table stands
		}
		msg := fmt.Sprintf("jetflow status: reading the platform's status: %v\n", err)
		if redraw && o.output == "table" {
			fmt.Fprint(stdout, inPlace(time.Now().UTC().Format(time.DateTime+" MST")+"\n"+msg))
		} else {
			fmt.Fprint(stderr, msg)
		}
		return ExitError, false
	}
	var out bytes.Buffer
	if o.output == "json" {
		err = renderJSON(&out, r)
	} else {
		err = renderTable(&out, r, o.dlqWindow)
	}
	if err != nil {
		fmt.Fprintf(stderr, "jetflow status: %v\n", err)
		return ExitError, false
	}
	text := out.String()
	if redraw && o.output == "table" {
		text = inPlace(text)
	}
	if _, err := io.WriteString(stdout, text); err != nil {
		fmt.Fprintf(stderr, "jetflow status: writing the status: %v\n", err)
		return ExitError, false
	}
	if !r.Healthy {
		return ExitUnhealthy, false
	}
	return ExitHealthy, false
}

// connect opens the connection as the other commands of the CLI do (cli.connect): the workers'
// NATS_* settings, a short first-connection timeout, warnings on stderr.
func connect(ctx context.Context, lookup envconfig.Lookup, stderr io.Writer) (*nats.Conn, jetstream.JetStream, error) {
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
	return nc, js, nil
}
