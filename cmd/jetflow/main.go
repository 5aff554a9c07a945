// Command jetflow is the operator CLI: apply and diff stream definitions, every stage at a
// glance (`jetflow status`), list, replay and purge dead letters (`jetflow dlq`), and
// `jetflow dev`, the whole platform in one process on an embedded JetStream server, with the
// gateway. It is also a client of the gateway: `jetflow chat`, `say`, `transcribe` and
// `pipeline start` call it with an API key and need no NATS credentials.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/jetflow-dev/jetflow/cmd/jetflow/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
