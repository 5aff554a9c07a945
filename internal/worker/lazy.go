package worker

import (
	"context"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// Lazy is a resource opened on first use and kept once opened: a KV bucket or a stream the
// process may start before (streams.Apply can run after the workers start). A failed open is
// tried again at the next use. Safe for concurrent use.
type Lazy[T any] struct {
	open func(context.Context) (T, error)

	mu     sync.Mutex
	v      T
	opened bool
}

// NewLazy returns a Lazy that opens with open.
func NewLazy[T any](open func(context.Context) (T, error)) *Lazy[T] {
	return &Lazy[T]{open: open}
}

// Get returns the resource, opening it first if no call has yet.
func (l *Lazy[T]) Get(ctx context.Context) (T, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.opened {
		return l.v, nil
	}
	v, err := l.open(ctx)
	if err != nil {
		return v, err
	}
	l.v, l.opened = v, true
	return v, nil
}

// LazyStream looks a stream up on first use.
func LazyStream(js jetstream.StreamManager, name string) *Lazy[jetstream.Stream] {
	return NewLazy(func(ctx context.Context) (jetstream.Stream, error) {
		s, err := js.Stream(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("looking up stream %s: %w", name, err)
		}
		return s, nil
	})
}

// LazyBucket opens a KV bucket on first use.
func LazyBucket(kv jetstream.KeyValueManager, bucket string) *Lazy[jetstream.KeyValue] {
	return NewLazy(func(ctx context.Context) (jetstream.KeyValue, error) {
		b, err := kv.KeyValue(ctx, bucket)
		if err != nil {
			return nil, fmt.Errorf("opening bucket %s: %w", bucket, err)
		}
		return b, nil
	})
}
