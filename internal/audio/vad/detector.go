package vad

import "time"

// Detector turns a stream of PCM16 audio into segment boundaries. The energy detector (New) is
// the only implementation today; the interface leaves room for a model-based one (Silero,
// WebRTC) behind a build tag, with the same events and state handling.
//
// A Detector is not safe for concurrent use: one stream, one goroutine.
type Detector interface {
	// Push analyses the next audio of the stream, a whole number of 16-bit little-endian mono
	// samples, and returns the events it completed. Audio that does not fill a frame is kept
	// for the next Push. On error the detector is unchanged.
	Push(pcm []byte) ([]Event, error)

	// Idle tells the detector that no audio has arrived for elapsed. From IdleTimeout on, an
	// open segment is closed with ReasonIdle and speech not yet confirmed is dropped.
	Idle(elapsed time.Duration) []Event

	// Flush ends the stream: it closes an open segment with ReasonFlush and drops speech not yet
	// confirmed and any partial frame. Offsets keep counting if audio is pushed afterwards.
	Flush() []Event

	// KeepFrom is the earliest sample offset a future event can start at: audio before it can
	// be discarded.
	KeepFrom() int64

	// State returns the detector's complete state; Restore(State()) on a detector with the same
	// Config resumes exactly.
	State() State

	// Restore replaces the detector's state with s, taken from a detector with the same sample
	// rate. It checks s and leaves the detector unchanged when s is invalid.
	Restore(s State) error
}
