package standin

import "errors"

var (
	// ErrSampleRate reports a sample rate the speech codec cannot use.
	ErrSampleRate = errors.New("unsupported sample rate")

	// ErrDamagedSpeech reports an utterance that was found but could not be read back: the audio
	// was cut inside it, or changed so much that its CRC no longer matches.
	ErrDamagedSpeech = errors.New("damaged speech")

	// ErrInvalidConfig reports a Config that Validate rejects.
	ErrInvalidConfig = errors.New("invalid stand-in configuration")
)
