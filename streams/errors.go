package streams

import "errors"

var (
	// ErrInvalidDefinition marks a definition file that does not decode, names the wrong
	// resource, or contradicts another file.
	ErrInvalidDefinition = errors.New("invalid definition")

	// ErrInvalidOption is returned by Apply and Diff for an option with an invalid value.
	ErrInvalidOption = errors.New("invalid option")

	// ErrNotConverged means the server stored a resource with a value other than the one the
	// file asks for (the server normalised it), so every Apply would report it as changed.
	// The fix is to write the server's value into the file.
	ErrNotConverged = errors.New("server config does not match the definition after writing it")
)
