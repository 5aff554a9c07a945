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
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/term"

	"github.com/jetflow-dev/jetflow/cmd/jetflow/internal/client"
	"github.com/jetflow-dev/jetflow/cmd/jetflow/internal/devplatform"
	"github.com/jetflow-dev/jetflow/cmd/jetflow/internal/dlq"
	"github.com/jetflow-dev/jetflow/cmd/jetflow/internal/status"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/natsconn"
	"github.com/jetflow-dev/jetflow/platform"
	"github.com/jetflow-dev/jetflow/streams"
)

// usage is jetflow's help.
const usage = `jetflow: operate jetflow on NATS JetStream.

Usage:
  jetflow streams apply [--replicas N]   create or update every stream, consumer and KV bucket
  jetflow streams diff [--replicas N]    show how the server differs from streams/ (exit 1 on drift)
  jetflow dlq ls|show|replay|purge       list, inspect, replay and purge dead letters (jetflow dlq --help)
  jetflow status [--watch] [-o json]     every stage at a glance (exit 1 on an open breaker or new dead letters)
  jetflow dev [--data DIR]               the whole platform in one process (embedded JetStream and the gateway)
  jetflow --version                      version and build information

Clients of the gateway (at --gateway URL, else JETFLOW_GATEWAY, else ` + client.DefaultGateway + `, where
jetflow dev serves it; the API key in JETFLOW_API_KEY):
  jetflow chat QUESTION                  ask; the answer's tokens print as they come, the sources after
  jetflow say TEXT -o FILE.wav           speak the text into a WAV file
  jetflow transcribe FILE.wav            the transcript of a WAV file
  jetflow pipeline start NAME [K=V...]   start a pipeline run and follow its status

Every command answers --help.

Environment: the server is NATS_URL (default nats://127.0.0.1:4222, comma-separated for a
cluster), authenticated with one of NATS_CREDS (a creds file), NATS_NKEY (an nkey seed file),
NATS_USER and NATS_PASSWORD, or NATS_TOKEN; NATS_TLS_CA, NATS_TLS_CERT and NATS_TLS_KEY for TLS;
NATS_CONNECT_TIMEOUT (capped at 5s). jetflow dev also reads LOG_LEVEL and hands its environment
to the workers it runs (each worker's --help lists what it reads).

Exit status: 0 done; 1 an error, drift (streams diff), some dead letters failed (dlq replay,
dlq purge: run the same command again to resume), or a pipeline run that did not succeed;
2 a usage error (nothing was done).
jetflow status: 0 healthy; 1 an open breaker, dead letters in the last --dlq-window, or a
missing consumer; 2 the status could not be read, or a usage error.
`

// errDrift makes `streams diff` exit 1 when the server differs.
var errDrift = errors.New("the server differs from the definitions")

// errUsage matches an error in how jetflow was called: nothing was done, and it exits 2.
var errUsage = errors.New("usage error")

func usageErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, args...)...)
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // an error, drift, or some dead letters failed
	exitUsage = 2 // the command line was wrong; nothing was done
)

// Main runs one command and returns the exit code. stdin is read by commands that ask for
// confirmation; a terminal is recognised on the *os.File streams.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return exitCode(runIO(ctx, args, ioStreams{in: stdin, out: stdout, err: stderr}, os.LookupEnv), stderr)
}

// exitStatus is the exit code of a command that prints its own errors and chooses its own
// code (jetflow status); 0 is success.
type exitStatus int

func (e exitStatus) Error() string { return "exit status " + strconv.Itoa(int(e)) }

// exitWith is the error for a command's own exit code: nil for 0.
func exitWith(code int) error {
	if code == 0 {
		return nil
	}
	return exitStatus(code)
}

func exitCode(err error, stderr io.Writer) int {
	if code, ok := errors.AsType[exitStatus](err); ok {
		return int(code)
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errDrift):
		return exitError
	case errors.Is(err, errUsage), errors.Is(err, dlq.ErrUsage), errors.Is(err, client.ErrUsage):
		fmt.Fprintln(stderr, "jetflow:", strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
		return exitUsage
	default:
		fmt.Fprintln(stderr, "jetflow:", err)
		return exitError
	}
}

// ioStreams are a command's standard streams.
type ioStreams struct {
	in       io.Reader
	out, err io.Writer
}

// run runs a command with no standard input, as the tests call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookup envconfig.Lookup) error {
	return runIO(ctx, args, ioStreams{in: strings.NewReader(""), out: stdout, err: stderr}, lookup)
}

func runIO(ctx context.Context, args []string, std ioStreams, lookup envconfig.Lookup) error {
	stdout, stderr := std.out, std.err
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageErrorf("no command given")
	}
	switch args[0] {
	case "streams":
		if len(args) < 2 {
			return usageErrorf("streams needs apply or diff (see jetflow --help)")
		}
		switch args[1] {
		case "apply":
			return streamsApply(ctx, args[2:], stdout, stderr, lookup)
		case "diff":
			return streamsDiff(ctx, args[2:], stdout, stderr, lookup)
		case "-h", "-help", "--help", "help":
			fmt.Fprint(stdout, usage)
			return flag.ErrHelp
		}
		return usageErrorf("unknown streams command %q: the commands are apply and diff (see jetflow --help)", args[1])
	case "dlq":
		return dlq.Run(ctx, args[1:], dlq.Env{
			Stdin: std.in, Stdout: stdout, Stderr: stderr,
			StdinTerminal: isTerminal(std.in), StderrTerminal: isTerminal(stderr),
			Connect: func(ctx context.Context) (jetstream.JetStream, func(), error) {
				return connect(ctx, lookup, stderr)
			},
		})
	case "status":
		return exitWith(status.Main(ctx, args[1:], stdout, stderr, lookup))
	case "dev":
		return dev(ctx, args[1:], stdout, stderr, lookup)
	case "chat":
		return client.Chat(ctx, args[1:], clientEnv(std, lookup))
	case "say":
		return client.Say(ctx, args[1:], clientEnv(std, lookup))
	case "transcribe":
		return client.Transcribe(ctx, args[1:], clientEnv(std, lookup))
	case "pipeline":
		return client.Pipeline(ctx, args[1:], clientEnv(std, lookup))
	case "version", "-version", "--version":
		printVersion(stdout)
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageErrorf("unknown command %q", args[0])
}

// parseFlags parses a command's flags; --help prints its help on stdout and returns
// flag.ErrHelp, a bad flag is a usage error.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer, help string) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, help)
		fmt.Fprintln(stdout, "\nFlags:")
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return flag.ErrHelp
	case err != nil:
		return usageErrorf("%v (see %s --help)", err, fs.Name())
	case fs.NArg() > 0:
		return usageErrorf("%s takes no arguments, got %q (see %s --help)", fs.Name(), fs.Args(), fs.Name())
	}
	return nil
}

// flagSet says whether the command line set the flag.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func clientEnv(std ioStreams, lookup envconfig.Lookup) client.Env {
	return client.Env{Stdout: std.out, Stderr: std.err, Lookup: lookup}
}

func isTerminal(stream any) bool {
	f, ok := stream.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
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
func streamsCommand(ctx context.Context, name, help string, args []string, stdout, stderr io.Writer, lookup envconfig.Lookup,
	do func(js jetstream.JetStream, set *streams.Set, opts []streams.Option) error) error {
	fs := flag.NewFlagSet("jetflow "+name, flag.ContinueOnError)
	replicas := fs.Int("replicas", 0, "num_replicas for every stream and bucket (0 keeps the files' value, 1)")
	if err := parseFlags(fs, args, stdout, help); err != nil {
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

const streamsApplyHelp = `jetflow streams apply [--replicas N]: create what is missing and update what differs, for every
stream, consumer and KV bucket of streams/ (compiled in), and print one line per resource. A
second apply reports everything unchanged.
`

const streamsDiffHelp = `jetflow streams diff [--replicas N]: compare the server with streams/ without writing, one line
per resource; exit 1 when something differs.
`

const devHelp = `jetflow dev: the whole platform in one process: an embedded JetStream server with streams/
applied, the five workers, stand-in model servers, and the gateway (the Connect API and the page
at /) on 127.0.0.1 behind a development API key made for this run. It prints the key and how to
ask a question through the gateway (jetflow chat, the page) and with the nats CLI; the client
commands run from the same directory read the key from .jetflow/data/dev-api-key. Ctrl-C stops
it. LOG_LEVEL=debug logs more; the workers read their usual environment; JETFLOW_DEV_GATEWAY_PORT
sets the gateway's port when --gateway-port is not given.
`

func streamsApply(ctx context.Context, args []string, stdout, stderr io.Writer, lookup envconfig.Lookup) error {
	return streamsCommand(ctx, "streams apply", streamsApplyHelp, args, stdout, stderr, lookup, func(js jetstream.JetStream, set *streams.Set, opts []streams.Option) error {
		changes, err := streams.Apply(ctx, js, set, opts...)
		printChanges(stdout, changes)
		if err != nil {
			return fmt.Errorf("applying stream definitions: %w", err)
		}
		return nil
	})
}

func streamsDiff(ctx context.Context, args []string, stdout, stderr io.Writer, lookup envconfig.Lookup) error {
	return streamsCommand(ctx, "streams diff", streamsDiffHelp, args, stdout, stderr, lookup, func(js jetstream.JetStream, set *streams.Set, opts []streams.Option) error {
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

// devDataDefault is jetflow dev's data directory unless --data says otherwise.
const devDataDefault = ".jetflow/data"

func dev(ctx context.Context, args []string, stdout, stderr io.Writer, lookup envconfig.Lookup) error {
	fs := flag.NewFlagSet("jetflow dev", flag.ContinueOnError)
	data := fs.String("data", devDataDefault, "JetStream data directory, kept between runs")
	port := fs.Int("port", 4222, "NATS client port (-1: any free port)")
	monitor := fs.Int("monitor", 8222, "NATS monitoring port (/jsz, what KEDA reads; -1: any free port)")
	gatewayPort := fs.Int("gateway-port", client.DefaultGatewayPort, "the gateway's port on 127.0.0.1 (-1: any free port; 0: no gateway; env JETFLOW_DEV_GATEWAY_PORT)")
	if err := parseFlags(fs, args, stdout, devHelp); err != nil {
		return err
	}
	if !flagSet(fs, "gateway-port") {
		env := envconfig.New(lookup)
		*gatewayPort = env.Int("JETFLOW_DEV_GATEWAY_PORT", *gatewayPort, -1, 65535)
		if err := env.Err(); err != nil {
			return usageErrorf("%v (a port, -1..65535)", err)
		}
	}
	if *gatewayPort < -1 || *gatewayPort > 65535 {
		return usageErrorf("--gateway-port %d is not a port (-1..65535)", *gatewayPort)
	}
	level := slog.LevelInfo
	if v, ok := lookup("LOG_LEVEL"); ok && strings.EqualFold(v, "debug") {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	return devplatform.Run(ctx, devplatform.Options{
		DataDir: *data, Port: *port, MonitorPort: *monitor, Lookup: lookup, Out: stdout, Log: log,
		GatewayPort: *gatewayPort, ClientGateway: client.DefaultGateway,
		Workers: platform.All,
	})
}
