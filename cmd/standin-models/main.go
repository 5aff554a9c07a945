// Command standin-models serves the stand-in model servers (chat, embeddings, rerank, speech,
// transcription) on one port, for `make run`, the tests, the benchmarks and the fault tests.
// Configuration comes from STANDIN_* variables; see standin.FromEnv.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(logger); err != nil {
		logger.Error("stand-in models stopped", "err", err)
		os.Exit(1)
	}
}

func run(logger *slog.Logger) error {
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
