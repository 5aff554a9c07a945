// Package jstest starts real in-process JetStream servers for tests, cleaned up with t.Cleanup.
// There is no mock of the broker: tests of broker behaviour run against the real server.
package jstest

import (
	"context"
	"errors"
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

// Stored returns the messages a stream holds on subject ("" for every subject), oldest first.
// Tests read results and dead letters this way: what the stream stored, not what a subscriber
// happened to see.
func Stored(tb testing.TB, ctx context.Context, js jetstream.JetStream, stream, subject string) []*jetstream.RawStreamMsg {
	tb.Helper()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		tb.Fatalf("looking up stream %s: %v", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		tb.Fatalf("reading stream %s: %v", stream, err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // deleted (acked from a work queue, or removed)
		}
		if err != nil {
			tb.Fatalf("reading %s seq %d: %v", stream, seq, err)
		}
		if subject == "" || m.Subject == subject {
			out = append(out, m)
		}
	}
	return out
}
