// Package jstest starts real in-process JetStream servers for tests, cleaned up with t.Cleanup.
// There is no mock of the broker: tests of broker behaviour run against the real server.
package jstest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/devkit/natsserver"
)

// Server starts an embedded JetStream server with a store under t.TempDir().
func Server(tb testing.TB, opts ...func(*natsserver.Options)) *natsserver.Server {
	tb.Helper()
	o := natsserver.Options{StoreDir: tb.TempDir()}
	for _, opt := range opts {
		opt(&o)
	}
	s, err := natsserver.Start(o)
	if err != nil {
		tb.Fatalf("starting JetStream server: %v", err)
	}
	tb.Cleanup(s.Shutdown)
	return s
}

// WithMaxPayload sets the server's max payload.
func WithMaxPayload(n int32) func(*natsserver.Options) {
	return func(o *natsserver.Options) { o.MaxPayload = n }
}

// Connect opens a connection to s that is closed at the end of the test.
func Connect(tb testing.TB, s *natsserver.Server, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
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

// Consistently checks every interval, for total, that check keeps returning nil, and fails the
// test at the first error. It is the named form of "sample an invariant over time" (nothing is
// redelivered, nothing more is published) instead of a bare sleep followed by one look.
func Consistently(tb testing.TB, total, interval time.Duration, check func() error) {
	tb.Helper()
	deadline := time.Now().Add(total)
	for {
		if err := check(); err != nil {
			tb.Fatalf("condition broken within %v: %v", total, err)
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(interval)
	}
}

// Run runs run (a stage's, a worker's or any runner's Run) in a goroutine until the test ends:
// at cleanup it cancels the context it gave run, waits for run to return, and fails the test
// when run returned an error. It returns a function that stops run early and returns its
// error; cleanup then only waits for nothing.
func Run(tb testing.TB, ctx context.Context, run func(ctx context.Context) error) (stop func() error) {
	tb.Helper()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(runCtx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	tb.Cleanup(func() {
		if err := stop(); err != nil {
			tb.Errorf("runner stopped with: %v", err)
		}
	})
	return stop
}
