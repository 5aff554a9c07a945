package vad

import "fmt"

// Kind is the type of an Event.
type Kind string

// Event kinds. Every SpeechStart is followed by exactly one SegmentEnd with the same Start
// before the next SpeechStart.
const (
	// SpeechStart: a segment opened at Start. It is reported once MinSpeech of speech has been
	// heard, so Start lies in the past (by MinSpeech plus the pre-roll, roughly).
	SpeechStart Kind = "speech-start"
	// SegmentEnd: the segment [Start, End) is complete and can be transcribed.
	SegmentEnd Kind = "segment-end"
)

// Reason says why a segment ended.
type Reason string

// Segment end reasons.
const (
	ReasonSilence   Reason = "silence"    // MinSilence without speech
	ReasonMaxLength Reason = "max-length" // MaxSegment reached; speech may go on in a new segment
	ReasonIdle      Reason = "idle"       // no audio arrived for IdleTimeout
	ReasonFlush     Reason = "flush"      // the caller ended the stream
)

// Event is a segment boundary. Offsets are in samples from the start of the stream (byte
// offset = 2 * sample offset); Config.Duration converts them to time.
type Event struct {
	Kind Kind `json:"kind"`
	// Start is the segment's first sample, pre-roll included.
	Start int64 `json:"start"`
	// End is one past the segment's last sample, post-roll included; SegmentEnd only.
	End int64 `json:"end,omitempty"`
	// Reason is set on SegmentEnd only.
	Reason Reason `json:"reason,omitempty"`
}

func (e Event) String() string {
	if e.Kind == SegmentEnd {
		return fmt.Sprintf("%s [%d, %d) %s", e.Kind, e.Start, e.End, e.Reason)
	}
	return fmt.Sprintf("%s %d", e.Kind, e.Start)
}
