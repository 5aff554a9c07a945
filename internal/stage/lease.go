package stage

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// leases are the messages the stage's workers are handling, one per worker, so that one
// heartbeat goroutine per stage tells the server which of them are still being worked on. A
// timer per message cost more than the rest of the runtime's bookkeeping for a fast handler,
// and most handlers finish long before their first beat.
type leases struct {
	held  []lease
	every time.Duration
}

// lease is one worker's message while its handler runs.
type lease struct {
	mu   sync.Mutex
	msg  jetstream.Msg // nil while the worker is idle or past its handler
	last time.Time     // when the lease was taken or last reported in progress
}

func newLeases(n int, every time.Duration) *leases {
	return &leases{held: make([]lease, n), every: every}
}

// take starts the lease: the first InProgress is due one interval from now.
func (l *lease) take(msg jetstream.Msg) {
	l.mu.Lock()
	l.msg, l.last = msg, time.Now()
	l.mu.Unlock()
}

// release ends the lease. Once it returns no more InProgress is sent for the message.
func (l *lease) release() {
	l.mu.Lock()
	l.msg = nil
	l.mu.Unlock()
}

// beat sends InProgress for every held message whose beat is due, checking twice per interval
// (so a beat is at most half an interval late), until stop is closed.
func (l *leases) beat(stop <-chan struct{}, log *slog.Logger) {
	t := time.NewTicker(l.every / 2)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			for i := range l.held {
				if err := l.held[i].beatIfDue(now, l.every); err != nil {
					log.Warn("sending in-progress", "error", err)
				}
			}
		}
	}
}

func (l *lease) beatIfDue(now time.Time, every time.Duration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.msg == nil || now.Sub(l.last) < every {
		return nil
	}
	l.last = now
	if err := l.msg.InProgress(); err != nil {
		return fmt.Errorf("reporting message in progress: %w", err)
	}
	return nil
}
