// Command standin-models serves the stand-in model servers (chat, embeddings, rerank, speech,
// transcription) on one port, for `make run`, the tests, the benchmarks and the fault tests.
//
// `standin-models --help` lists every environment variable it reads (standin.Env) and its exit
// codes; --help and --version answer without listening.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/jetflow-dev/jetflow/internal/buildinfo"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
)

const name = "standin-models"

const help = `standin-models: serves the stand-in model servers on one port: an OpenAI-shaped LLM, embeddings,
reranker (Cohere and TEI shapes), speech and transcription, deterministic and marked as stand-ins
(X-Jetflow-Stand-In: true), with latency and faults on demand. For make run, the tests and the
benchmarks; never for production.

Usage:
  standin-models            serve until SIGTERM or SIGINT
  standin-models --help     this text
  standin-models --version  version and build information

Configured only by environment variables; a bad value stops it at start, naming the variable.

`

const exitCodes = `
Exit codes:
  0  stopped cleanly on SIGTERM or SIGINT; or --help or --version answered
  1  did not start (a bad variable, the address in use); the JSON log on stderr says why
  2  a flag it does not know, or an argument
`

func main() { os.Exit(command(os.Args[1:], os.Stdout, os.Stderr)) }

// command answers --help and --version, or serves; it returns the exit code.
func command(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the error is reported below, with the usage line
	var showHelp, showVersion bool
	fs.BoolVar(&showHelp, "help", false, "")
	fs.BoolVar(&showHelp, "h", false, "")
	fs.BoolVar(&showVersion, "version", false, "")
	err := fs.Parse(args)
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q: %s is configured only by environment variables", fs.Arg(0), name)
	}
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\nusage: %s [--help | --version]   (%s --help lists its environment variables)\n", name, err, name, name)
		return 2
	case showHelp:
		fmt.Fprint(stdout, help)
		if err := envconfig.WriteHelp(stdout, standin.Env...); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return 1
		}
		fmt.Fprint(stdout, exitCodes)
		return 0
	case showVersion:
		fmt.Fprint(stdout, buildinfo.Read(name))
		return 0
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	if err := serve(logger); err != nil {
		logger.Error("stand-in models stopped", "err", err)
		return 1
	}
	return 0
}

func serve(logger *slog.Logger) error {
	cfg, err := standin.FromEnv(nil)
	if err != nil {
		return err
	}
	srv, err := standin.New(cfg, logger)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	logger.Info("stand-in models listening", "addr", ln.Addr().String(), "prefix", cfg.Prefix)
	if err := srv.Serve(ctx, ln); err != nil {
		return err
	}
	logger.Info("stand-in models stopped")
	return nil
}
