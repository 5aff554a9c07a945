// Package jstest starts real in-process JetStream servers for tests, cleaned up with t.Cleanup.
// There is no mock of the broker: tests of broker behaviour run against the real server.
package jstest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/embedded"
)

// Server starts an embedded JetStream server with a store under t.TempDir().
func Server(tb testing.TB, opts ...func(*embedded.Options)) *embedded.Server {
	tb.Helper()
	o := embedded.Options{StoreDir: tb.TempDir()}
	for _, opt := range opts {
		opt(&o)
	}
	s, err := embedded.Start(o)
	if err != nil {
		tb.Fatalf("starting JetStream server: %v", err)
	}
	tb.Cleanup(s.Shutdown)
	return s
}

// WithMonitor turns on the monitoring endpoint on a random port.
func WithMonitor(o *embedded.Options) { o.MonitorPort = -1 }

// WithMaxPayload sets the server's max payload.
func WithMaxPayload(n int32) func(*embedded.Options) {
	return func(o *embedded.Options) { o.MaxPayload = n }
}

// Connect opens a connection to s that is closed at the end of the test.
func Connect(tb testing.TB, s *embedded.Server, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		tb.Fatalf("connecting to %s: %v", s.ClientURL(), err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("creating JetStream context: %v", err)
	}
	return nc, js
}

// Context returns a context cancelled at the end of the test, with a deadline that keeps a
// hung test from running forever.
func Context(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// Eventually polls check every interval until it returns nil or total passes, then fails the
// test with the last error. Use it instead of sleeping.
func Eventually(tb testing.TB, total, interval time.Duration, check func() error) {
	tb.Helper()
	deadline := time.Now().Add(total)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met within %v: %v", total, err)
		}
		time.Sleep(interval)
	}
}

// Errorf is fmt.Errorf, for check functions passed to Eventually.
func Errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
