package retrieval

import (
	"errors"
	"fmt"

	"github.com/jetflow-dev/jetflow/internal/failure"
)

// ErrCollectionNotFound matches a search of a collection that does not exist. Such errors are
// permanent: retrying will not create the collection.
var ErrCollectionNotFound = errors.New("collection not found")

// ErrInvalidQuery matches a query the collection cannot answer: a vector of the wrong dimension,
// a filter that does not parse or names an unknown field, a TopK out of range. Such errors are
// permanent.
var ErrInvalidQuery = errors.New("invalid query")

// invalidf returns a permanent error matching ErrInvalidQuery.
func invalidf(format string, args ...any) error {
	return failure.Permanent(fmt.Errorf("%w: %s", ErrInvalidQuery, fmt.Sprintf(format, args...)))
}

// LineError locates a problem in a JSONL corpus, so a bad line in a large file is found at once.
type LineError struct {
	Line int // 1-based
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }
