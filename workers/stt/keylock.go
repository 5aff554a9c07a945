package stt

import (
	"context"
	"sync"
)

// keyLock serialises the session updates of one process per session. Handlers of the same
// session in one replica would otherwise race each other's compare-and-swap and burn attempts
// (and CPU) on conflicts that are certain; with it, only replicas race.
type keyLock struct {
	mu    sync.Mutex
	locks map[string]*keyEntry
}

type keyEntry struct {
	ch   chan struct{} // holds a token while the key is locked
	refs int
}

// lock takes key's lock, or returns ctx's error; the caller must call the returned unlock.
func (l *keyLock) lock(ctx context.Context, key string) (unlock func(), err error) {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[string]*keyEntry{}
	}
	e, ok := l.locks[key]
	if !ok {
		e = &keyEntry{ch: make(chan struct{}, 1)}
		l.locks[key] = e
	}
	e.refs++
	l.mu.Unlock()

	release := func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		e.refs--
		if e.refs == 0 {
			delete(l.locks, key)
		}
	}
	select {
	case e.ch <- struct{}{}:
		return func() {
			<-e.ch
			release()
		}, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
