// Command jetflow-bench measures jetflow against two loops written directly on nats.go (bare, with
// the runtime's guarantees, and idiomatic, with read-ahead), side by side, in one run, on an
// embedded server or a nats-server process: it prints one Markdown table and writes the same as
// JSON (bench/results.json). bench/peers's jetflow-bench-peers adds Watermill.
// `jetflow-bench -h` lists the flags, the variables it reads and its exit codes; -version prints
// the build. internal/devkit/bench has the scenarios.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/jetflow-dev/jetflow/internal/devkit/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := bench.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
