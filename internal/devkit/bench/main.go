package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"

	"github.com/jetflow-dev/jetflow/internal/buildinfo"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
)

// DefaultOut is where Main writes the JSON results unless -out says otherwise.
const DefaultOut = "bench/results.json"

// Exit codes of jetflow-bench, as its -h states them.
const (
	exitOK    = 0 // the benchmark ran, whether or not the targets held (the table says); or -h, -version
	exitError = 1 // it could not run
	exitUsage = 2 // a bad flag or argument
)

// Env lists every environment variable jetflow-bench reads, for its -h; a test checks it
// against what Command really looks up.
var Env = []envconfig.Section{
	{Title: "Environment", Vars: []envconfig.Var{
		{Name: "JETFLOW_WORKER_BIN", Default: "go build it", Usage: "default of -worker-bin: the chat-handler binary, or a directory holding one (bin/ after make binaries)"},
		{Name: "GOFLAGS", Usage: "and the go command's other variables, when it builds chat-handler", ReadBy: "the go command"},
	}},
}

// errHelp is returned by parseFlags once -h or -version has been answered.
var errHelp = errors.New("help or version answered")

// Main is the jetflow-bench command: it parses args, runs the benchmark, prints the Markdown
// table on stdout and writes the JSON results file. It returns the process exit code (exitOK,
// exitError or exitUsage).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return Command(ctx, args, stdout, stderr, os.LookupEnv)
}

// MainWith is Main measuring peers beside jetflow in scenarios 1 and 2: bench/peers's command
// passes Watermill's, from a module of its own so the product does not depend on it.
func MainWith(ctx context.Context, args []string, stdout, stderr io.Writer, peers ...Peer) int {
	return command(ctx, args, stdout, stderr, os.LookupEnv, peers)
}

// Command is Main reading the environment through lookup.
func Command(ctx context.Context, args []string, stdout, stderr io.Writer, lookup envconfig.Lookup) int {
	return command(ctx, args, stdout, stderr, lookup, nil)
}

func command(ctx context.Context, args []string, stdout, stderr io.Writer, lookup envconfig.Lookup, peers []Peer) int {
	cfg, opts, err := parseFlagsEnv(args, stdout, stderr, lookup)
	if errors.Is(err, errHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "jetflow-bench:", err)
		fmt.Fprintln(stderr, "usage: jetflow-bench [flags]   (jetflow-bench -h lists the flags)")
		return exitUsage
	}
	if opts.cpuProfile != "" {
		f, err := os.Create(opts.cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "jetflow-bench: creating the CPU profile:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "jetflow-bench: starting the CPU profile:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	cfg.Peers = peers
	report, err := Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "jetflow-bench:", err)
		return 1
	}
	if err := report.WriteMarkdown(stdout); err != nil {
		fmt.Fprintln(stderr, "jetflow-bench: writing the table:", err)
		return 1
	}
	if opts.out != "" {
		if err := report.WriteJSONFile(opts.out); err != nil {
			fmt.Fprintln(stderr, "jetflow-bench:", err)
			return 1
		}
	}
	return 0
}

type cmdOptions struct {
	out        string
	cpuProfile string
}

// parseFlags reads the command line of jetflow-bench into a Config.
func parseFlags(args []string, stderr io.Writer) (Config, cmdOptions, error) {
	return parseFlagsEnv(args, io.Discard, stderr, os.LookupEnv)
}

// parseFlagsEnv is parseFlags reading the environment through lookup. -h writes the help to
// stderr, as the flag package does; -version writes the build to stdout. Both return errHelp.
func parseFlagsEnv(args []string, stdout, stderr io.Writer, lookup envconfig.Lookup) (Config, cmdOptions, error) {
	fs := flag.NewFlagSet("jetflow-bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // a parse error is reported by Command, with a usage line
	fs.Usage = func() {}     // the flag package calls it on every error; help is printed below
	help := func() {
		fs.SetOutput(stderr)
		fmt.Fprintln(stderr, "usage: jetflow-bench [flags]\n\nMeasures jetflow against two loops written directly on nats.go (bare: the runtime's guarantees;\nidiomatic: Consume with read-ahead), side by side, on an embedded server (or -server external,\nor -url): prints one Markdown table on stdout and writes the same as JSON (-out).\n\nFlags:")
		fs.PrintDefaults()
		fmt.Fprintln(stderr)
		if err := envconfig.WriteHelp(stderr, Env...); err != nil {
			fmt.Fprintln(stderr, "jetflow-bench:", err)
		}
		fmt.Fprintf(stderr, "\nExit codes:\n  %d  the benchmark ran, whether or not the targets held (the table says); or -h or -version answered\n"+
			"  %d  it could not run\n  %d  a bad flag or argument\n", exitOK, exitError, exitUsage)
	}
	workerBin, _ := lookup("JETFLOW_WORKER_BIN")
	var (
		cfg       Config
		opts      cmdOptions
		scenarios string
		payloads  string
		verbose   bool
	)
	fs.BoolVar(&cfg.Short, "short", false, "a run of a few seconds with small counts (noisy numbers)")
	fs.StringVar(&scenarios, "scenarios", "", "comma-separated scenarios to run, by number (1-6) or name ("+scenarioNames()+"); empty = all")
	fs.IntVar(&cfg.Concurrency, "concurrency", defaultConcurrency, "messages each stage handles at once, jetflow and bare alike")
	fs.BoolVar(&cfg.EqualBound, "equal-bound", false, "also run jetflow and bare at twice -concurrency (jetflow@2c, bare@2c), the bound on unacknowledged messages the idiomatic loop reaches at -concurrency")
	fs.DurationVar(&cfg.Duration, "duration", 0, "how long one hop-latency run sends requests (default 10s, 1s with -short)")
	fs.IntVar(&cfg.Rounds, "rounds", 0, "repetitions of each measurement, alternating jetflow and bare (default 5, 1 with -short)")
	fs.StringVar(&payloads, "payloads", "", "comma-separated request sizes for scenario 1, such as 256,1k,64k (default 256,1k,4k,64k,512k)")
	fs.IntVar(&cfg.MaxMessages, "messages", 0, "most requests pre-published per drain run (default 20000, 300 with -short)")
	fs.IntVar(&cfg.Rate, "rate", defaultRate, "requests per second in the hop-latency scenario")
	fs.StringVar(&opts.out, "out", DefaultOut, "JSON results file; empty = none")
	fs.StringVar(&cfg.StoreDir, "store", "", "directory for the embedded server's streams (default: a temporary directory, removed after)")
	fs.StringVar(&cfg.WorkerBin, "worker-bin", workerBin,
		"chat-handler binary for scenarios 3-6, or a directory holding one, such as bin/ after make binaries (default $JETFLOW_WORKER_BIN; empty = go build it)")
	fs.StringVar(&opts.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	fs.StringVar(&cfg.URL, "url", "", "measure against this nats-server (such as nats://127.0.0.1:4222) instead of the run's own; it needs JetStream")
	fs.StringVar(&cfg.Server, "server", ServerEmbedded, "the run's own server when -url is not given: "+ServerEmbedded+" (in this process) or "+
		ServerExternal+" (a nats-server process built from the version go.mod pins, or $JETFLOW_WORKER_BIN/nats-server)")
	fs.BoolVar(&verbose, "v", false, "log progress on stderr")
	showVersion := fs.Bool("version", false, "print the version and build information, and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			help()
			return Config{}, cmdOptions{}, errHelp
		}
		return Config{}, cmdOptions{}, err
	}
	if *showVersion {
		fmt.Fprint(stdout, buildinfo.Read("jetflow-bench"))
		return Config{}, cmdOptions{}, errHelp
	}
	if fs.NArg() > 0 {
		return Config{}, cmdOptions{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if scenarios != "" {
		cfg.Scenarios = strings.Split(scenarios, ",")
	}
	if payloads != "" {
		for _, p := range strings.Split(payloads, ",") {
			n, err := parseSize(p)
			if err != nil {
				return Config{}, cmdOptions{}, err
			}
			cfg.Payloads = append(cfg.Payloads, n)
		}
	}
	if verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, cmdOptions{}, err
	}
	return cfg, opts, nil
}

// parseSize reads 256, 1k, 4KiB, 512K as bytes (k = 1024).
func parseSize(s string) (int, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1
	for _, suffix := range []string{"kib", "kb", "k"} {
		if rest, ok := strings.CutSuffix(t, suffix); ok {
			t, mult = rest, 1<<10
			break
		}
	}
	n, err := strconv.Atoi(strings.TrimSpace(t))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("payload size %q is not a number of bytes such as 256, 1k or 64KiB", s)
	}
	return n * mult, nil
}
