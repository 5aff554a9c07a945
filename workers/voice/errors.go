package voice

import "errors"

// ErrSuperseded is the cause of a handler's context cancellation when a newer turn started in
// its session (context.Cause returns it). Handlers that see it drop their work without an
// error: the message is done, not failed.
var ErrSuperseded = errors.New("turn superseded by a newer turn of the session")

// ErrUnsupportedAudio is matched by the dead-letter reason of a request whose audio is not
// PCM16 or WAV. It is wrapped in failure.Invalidf, so it is permanent.
var ErrUnsupportedAudio = errors.New("unsupported audio")
