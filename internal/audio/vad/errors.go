package vad

import "errors"

var (
	// ErrInvalidConfig is returned by Config.Validate and New for a setting out of range.
	ErrInvalidConfig = errors.New("invalid vad config")

	// ErrOddLength is returned by Push for audio that is not a whole number of 16-bit samples.
	// It is marked failure.Permanent: the chunk is malformed.
	ErrOddLength = errors.New("pcm16 audio has an odd number of bytes")

	// ErrInvalidState is returned by Restore for a state that this configuration could not
	// have produced (another sample rate, inconsistent offsets). It is marked failure.Permanent.
	ErrInvalidState = errors.New("invalid vad state")
)
