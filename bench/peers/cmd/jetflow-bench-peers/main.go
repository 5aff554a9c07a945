// Command jetflow-bench-peers is jetflow-bench with the peers of bench/peers (Watermill) measured
// beside jetflow and the two references in scenarios 1 and 2. It takes jetflow-bench's flags.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/jetflow-dev/jetflow/bench/peers"
	"github.com/jetflow-dev/jetflow/internal/devkit/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := bench.MainWith(ctx, os.Args[1:], os.Stdout, os.Stderr, peers.Watermill())
	stop()
	os.Exit(code)
}
