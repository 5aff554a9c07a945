package dlq

import (
	"errors"
	"fmt"
)

// ErrUsage matches an error in how the command was called (a bad flag, a missing or malformed
// argument): the command did nothing. jetflow exits 2 for it.
var ErrUsage = errors.New("usage error")

// ErrIncomplete is returned when a replay or purge ran but some dead letters failed (or it was
// interrupted): what did succeed is recorded, and running the same command again resumes.
// jetflow exits 1 for it.
var ErrIncomplete = errors.New("some dead letters were not done")

// usageError is an ErrUsage with its own message.
type usageError struct{ msg string }

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == ErrUsage }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}
