package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/failure"
)

// Store is a typed view of a JetStream KV bucket of sessions of type T, safe for concurrent
// use by many goroutines and, through the bucket, by many processes.
type Store[T any] struct {
	kv   jetstream.KeyValue
	opts options
}

// New returns a Store over kv. It trusts the bucket's configuration; Open also checks it.
func New[T any](kv jetstream.KeyValue, opts ...Option) (*Store[T], error) {
	if kv == nil {
		return nil, fmt.Errorf("%w: nil key-value bucket", ErrInvalidOption)
	}
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	return &Store[T]{kv: kv, opts: o}, nil
}

// Open binds a Store to an existing bucket (created from streams/kv/ by streams.Apply). It
// refuses a bucket without a TTL, and lowers the value size limit to fit the bucket's
// max_value_size, so that an oversized value is refused here with a clear error rather than
// by the server.
func Open[T any](ctx context.Context, kvm jetstream.KeyValueManager, bucket string, opts ...Option) (*Store[T], error) {
	kv, err := kvm.KeyValue(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("opening session bucket %s: %w", bucket, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading status of session bucket %s: %w", bucket, err)
	}
	if st.TTL() <= 0 {
		return nil, fmt.Errorf("%w: bucket %s has no ttl, so abandoned sessions would never expire", ErrInvalidBucket, bucket)
	}
	s, err := New[T](kv, opts...)
	if err != nil {
		return nil, err
	}
	if limit := int(st.Config().MaxValueSize) - headerAllowance; st.Config().MaxValueSize > 0 && limit < s.opts.maxValueSize {
		if limit <= 0 {
			return nil, fmt.Errorf("%w: bucket %s max_value_size %d leaves no room for a value", ErrInvalidBucket, bucket, st.Config().MaxValueSize)
		}
		s.opts.maxValueSize = limit
	}
	return s, nil
}

// MaxValueSize is the largest encoded value the store writes, in bytes.
func (s *Store[T]) MaxValueSize() int { return s.opts.maxValueSize }

// Get returns the session's current value and revision, or an error matching ErrNotFound.
func (s *Store[T]) Get(ctx context.Context, key string) (Entry[T], error) {
	if err := ValidateKey(key); err != nil {
		return Entry[T]{}, err
	}
	e, _, ok, err := s.get(ctx, key)
	if err != nil {
		return Entry[T]{}, err
	}
	if !ok {
		return Entry[T]{}, fmt.Errorf("reading session %s: %w: %w", key, ErrNotFound, jetstream.ErrKeyNotFound)
	}
	return e, nil
}

// get reads key and returns the decoded entry with the stored bytes; ok is false when the key
// has no value.
func (s *Store[T]) get(ctx context.Context, key string) (e Entry[T], raw []byte, ok bool, err error) {
	kve, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Entry[T]{}, nil, false, nil
	}
	if err != nil {
		return Entry[T]{}, nil, false, fmt.Errorf("reading session %s: %w", key, err)
	}
	if e.Value, err = s.decode(key, kve.Revision(), kve.Value()); err != nil {
		return Entry[T]{}, nil, false, err
	}
	e.Revision = kve.Revision()
	return e, kve.Value(), true, nil
}

func (s *Store[T]) decode(key string, rev uint64, data []byte) (T, error) {
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return v, failure.Permanent(fmt.Errorf("reading session %s at revision %d: %w: %w", key, rev, ErrCorrupt, err))
	}
	return v, nil
}

// Create writes v only if key has no value, and returns the new revision. It fails with an
// error matching ErrExists when the key has one.
func (s *Store[T]) Create(ctx context.Context, key string, v T) (uint64, error) {
	if err := ValidateKey(key); err != nil {
		return 0, err
	}
	data, err := s.encode(key, v)
	if err != nil {
		return 0, err
	}
	rev, err := s.kv.Create(ctx, key, data)
	if isConflict(err) {
		return 0, fmt.Errorf("creating session %s: %w: %w", key, ErrExists, err)
	}
	if err != nil {
		return 0, fmt.Errorf("creating session %s: %w", key, err)
	}
	return rev, nil
}

// Delete removes the session and its history (a purge, so a conversation's old revisions do
// not linger until the TTL). Deleting a missing key is not an error.
func (s *Store[T]) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := s.kv.Purge(ctx, key); err != nil {
		return fmt.Errorf("deleting session %s: %w", key, err)
	}
	return nil
}

func (s *Store[T]) encode(key string, v T) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, failure.Permanent(fmt.Errorf("encoding session %s: %w", key, err))
	}
	if len(data) > s.opts.maxValueSize {
		return nil, failure.Permanent(fmt.Errorf("writing session %s: %w: %d bytes, limit %d", key, ErrTooLarge, len(data), s.opts.maxValueSize))
	}
	return data, nil
}
