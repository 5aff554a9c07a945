package vad

// Phase is where the detector is in its state machine.
type Phase string

// Detector phases.
const (
	// PhaseSilence: no speech heard since the last segment.
	PhaseSilence Phase = "silence"
	// PhaseOnset: speech frames heard, but less than MinSpeech of them so far.
	PhaseOnset Phase = "onset"
	// PhaseSpeech: a segment is open (SpeechStart was reported).
	PhaseSpeech Phase = "speech"
)

// State is everything the detector remembers, as plain JSON, so that the stt worker can keep it
// in the session's KV entry and another replica can resume the stream. All offsets are sample
// offsets from the start of the stream.
type State struct {
	SampleRate int `json:"sample_rate"`
	// Position is the offset just past the last analysed frame.
	Position int64 `json:"position"`
	// Pending holds the bytes of an incomplete frame, waiting for the next Push.
	Pending []byte `json:"pending,omitempty"`
	Phase   Phase  `json:"phase"`
	// Floor is the end of the previous segment; no pre-roll reaches back past it.
	Floor int64 `json:"floor"`
	// Onset is the first speech frame of the current onset or segment (PhaseOnset, PhaseSpeech).
	Onset int64 `json:"onset,omitempty"`
	// Start is the open segment's start, pre-roll included (PhaseSpeech).
	Start int64 `json:"start,omitempty"`
	// Voiced counts the speech samples heard since Onset (PhaseOnset).
	Voiced int64 `json:"voiced,omitempty"`
	// LastVoiced is the end of the latest speech frame (PhaseOnset, PhaseSpeech).
	LastVoiced int64 `json:"last_voiced,omitempty"`
	// NoiseFloor is the tracked background level in dBFS; used with Config.NoiseMargin.
	NoiseFloor float64 `json:"noise_floor_dbfs,omitempty"`
}
