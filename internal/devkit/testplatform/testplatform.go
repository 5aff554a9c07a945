// Package testplatform gives a test the platform's broker as production has it: a real embedded
// JetStream server with every stream, consumer and KV bucket of streams/ applied, a connection,
// and a context, all cleaned up when the test ends. It is the one harness every package's tests
// use instead of assembling their own.
package testplatform

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/natsserver"
	"github.com/jetflow-dev/jetflow/streams"
)

// Platform is one test's broker with streams/ applied.
type Platform struct {
	Server *natsserver.Server
	NC     *nats.Conn
	JS     jetstream.JetStream
	// Ctx ends when the test ends (and bounds a hung test, as jstest.Context does).
	Ctx context.Context //nolint:containedctx // a test fixture's lifetime is the test's
}

// New starts the server (opts tune it, as for jstest.Server), connects, and applies streams/.
func New(tb testing.TB, opts ...func(*natsserver.Options)) *Platform {
	tb.Helper()
	p := &Platform{Server: jstest.Server(tb, opts...)}
	p.NC, p.JS = jstest.Connect(tb, p.Server)
	p.Ctx = jstest.Context(tb)
	set, err := streams.Load()
	if err != nil {
		tb.Fatalf("loading streams/: %v", err)
	}
	if _, err := streams.Apply(p.Ctx, p.JS, set); err != nil {
		tb.Fatalf("applying streams/: %v", err)
	}
	return p
}

// URL is the server's client URL, for a worker configured through NATS_URL.
func (p *Platform) URL() string { return p.Server.ClientURL() }
