package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ScanFunc receives one session of a Scan: its key and current entry. err is nil, or, for a
// stored value that does not decode, an error matching ErrCorrupt, with e holding only the
// revision. Returning an error stops the scan, and Scan returns it.
type ScanFunc[T any] func(key string, e Entry[T], err error) error

// Scan calls fn with the current entry of every session in the bucket, one at a time and in no
// particular order, and returns once every session present when it started has been seen. It
// reads the bucket with one watch, so it costs no read per session; bound it with ctx. Sessions
// written during the scan may or may not be seen.
func (s *Store[T]) Scan(ctx context.Context, fn ScanFunc[T]) error {
	w, err := s.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("scanning sessions: %w", err)
	}
	defer StopWatch(w)
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("scanning sessions: %w", ctx.Err())
		case kve, ok := <-w.Updates():
			if !ok {
				return errors.New("scanning sessions: the watch ended early (connection closed)")
			}
			if kve == nil { // nats.go's marker: every value present at the start was delivered
				return nil
			}
			v, err := s.decode(kve.Key(), kve.Revision(), kve.Value())
			if err := fn(kve.Key(), Entry[T]{Value: v, Revision: kve.Revision()}, err); err != nil {
				return err
			}
		}
	}
}

// stopWatchLimit bounds how long StopWatch drains: past it a stuck connection costs one
// goroutine rather than holding the caller.
const stopWatchLimit = 2 * time.Second

// StopWatch stops a KV watch and drains its channel until nats.go closes it. nats.go's watch
// callback blocks, holding the watcher's lock, while the channel (256 entries) is full, so a
// watch stopped without draining keeps its subscription's goroutine forever: once per Scan that
// ends early, or per restart of a long-lived watch.
func StopWatch(w jetstream.KeyWatcher) {
	// Stop fails only when the subscription or its connection is already closed or draining;
	// the channel is then closed, or about to be, and the drain below ends all the same.
	_ = w.Stop()
	limit := time.NewTimer(stopWatchLimit)
	defer limit.Stop()
	for {
		select {
		case _, ok := <-w.Updates():
			if !ok {
				return
			}
		case <-limit.C:
			return
		}
	}
}
