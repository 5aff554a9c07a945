package session

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Update applies fn to the session's current value and writes the result with
// compare-and-swap on the revision it read (Create when the key has no value). When another
// writer got there first it reads again and re-applies fn, up to the store's attempt limit,
// pausing a small random time between attempts; then it returns an error matching ErrConflict.
// It returns the entry it wrote, or the current entry when fn returned ErrSkip. Cancelling ctx
// stops the loop at once with ctx's error.
func (s *Store[T]) Update(ctx context.Context, key string, fn UpdateFunc[T]) (Entry[T], error) {
	if err := ValidateKey(key); err != nil {
		return Entry[T]{}, err
	}
	var lastConflict error
	for attempt := 1; attempt <= s.opts.maxAttempts; attempt++ {
		e, conflict, err := s.try(ctx, key, fn)
		if !conflict {
			return e, err
		}
		lastConflict = err
		if s.opts.onConflict != nil {
			s.opts.onConflict(key, attempt)
		}
		if attempt == s.opts.maxAttempts {
			break
		}
		if err := s.pause(ctx, attempt); err != nil {
			return Entry[T]{}, fmt.Errorf("updating session %s after %d conflicts: %w", key, attempt, err)
		}
	}
	return Entry[T]{}, fmt.Errorf("updating session %s: %w after %d attempts: %w", key, ErrConflict, s.opts.maxAttempts, lastConflict)
}

// try makes one read-apply-write attempt. conflict reports a lost race on the write, and only
// there: an error from fn is never retried, whatever it wraps.
func (s *Store[T]) try(ctx context.Context, key string, fn UpdateFunc[T]) (e Entry[T], conflict bool, err error) {
	if err := ctx.Err(); err != nil {
		return Entry[T]{}, false, fmt.Errorf("updating session %s: %w", key, err)
	}
	cur, raw, exists, err := s.get(ctx, key)
	if err != nil {
		return Entry[T]{}, false, err
	}
	next, err := fn(&cur.Value, exists)
	if errors.Is(err, ErrSkip) {
		if !exists {
			return Entry[T]{}, false, nil
		}
		// fn may have modified its copy before deciding to skip: decode the stored bytes again
		// so the caller sees what is stored.
		v, err := s.decode(key, cur.Revision, raw)
		return Entry[T]{Value: v, Revision: cur.Revision}, false, err
	}
	if err != nil {
		return Entry[T]{}, false, fmt.Errorf("updating session %s: %w", key, err)
	}
	data, err := s.encode(key, next)
	if err != nil {
		return Entry[T]{}, false, err
	}
	var rev uint64
	if exists {
		rev, err = s.kv.Update(ctx, key, data, cur.Revision)
	} else {
		rev, err = s.kv.Create(ctx, key, data)
	}
	if err != nil {
		return Entry[T]{}, isConflict(err), fmt.Errorf("writing session %s: %w", key, err)
	}
	return Entry[T]{Value: next, Revision: rev}, false, nil
}

// pause sleeps a random time between half and all of base*2^(attempt-1), capped at max, or
// until ctx is done.
func (s *Store[T]) pause(ctx context.Context, attempt int) error {
	ceiling := s.opts.backoffBase << min(attempt-1, 20)
	if ceiling > s.opts.backoffMax || ceiling <= 0 {
		ceiling = s.opts.backoffMax
	}
	d := ceiling/2 + rand.N(ceiling/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
