package session

// Entry is a session value with the KV revision it was read at or written as.
type Entry[T any] struct {
	Value T
	// Revision is the bucket sequence of the write; 0 means the key has no value (returned by
	// an Update that skipped on an absent key).
	Revision uint64
}

// UpdateFunc computes a session's next value from its current one. cur is never nil: when the
// key has no value exists is false and cur points to T's zero value. cur is a fresh copy on
// each call, so the function may modify it and return *cur.
//
// Update may call the function several times (once per lost race), so it must not have side
// effects beyond computing the value. Return ErrSkip to write nothing; any other error stops
// Update and is returned wrapped.
type UpdateFunc[T any] func(cur *T, exists bool) (next T, err error)
