package vad

import (
	"fmt"
	"math"
	"time"

	"github.com/jetflow-dev/jetflow/internal/failure"
)

// Energy is the energy detector: a frame is speech when its RMS level reaches the threshold.
type Energy struct {
	cfg Config
	p   params
	s   State
}

var _ Detector = (*Energy)(nil)

// params are the Config's durations in samples, computed once.
type params struct {
	frame      int64
	frameBytes int
	preRoll    int64
	postRoll   int64
	minSpeech  int64
	minSilence int64
	maxSegment int64
	adaptive   bool
	rise       float64 // fraction of the gap the noise floor rises per frame
}

// New returns an energy detector at the start of a stream.
func New(cfg Config) (*Energy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	d := &Energy{cfg: cfg}
	d.p = params{
		frame:      cfg.Samples(cfg.Frame),
		preRoll:    cfg.Samples(max(cfg.PreRoll, 0)),
		postRoll:   cfg.Samples(max(cfg.PostRoll, 0)),
		minSpeech:  cfg.Samples(cfg.MinSpeech),
		minSilence: cfg.Samples(cfg.MinSilence),
		maxSegment: cfg.Samples(cfg.MaxSegment),
		adaptive:   cfg.NoiseMargin > 0,
		rise:       -math.Expm1(-float64(cfg.Frame) / float64(cfg.NoiseRise)),
	}
	d.p.frameBytes = int(2 * d.p.frame)
	d.s = State{SampleRate: cfg.SampleRate, Phase: PhaseSilence}
	if d.p.adaptive {
		// Start where the adaptive threshold equals the fixed one; the floor learns from there.
		d.s.NoiseFloor = max(cfg.Threshold-cfg.NoiseMargin, floorDB)
	}
	return d, nil
}

// Config returns the effective configuration, defaults applied.
func (d *Energy) Config() Config { return d.cfg }

// Push implements Detector.
func (d *Energy) Push(pcm []byte) ([]Event, error) {
	if len(pcm)%2 != 0 {
		return nil, failure.Permanent(fmt.Errorf("%w: %d bytes", ErrOddLength, len(pcm)))
	}
	var events []Event
	if n := len(d.s.Pending); n > 0 {
		need := d.p.frameBytes - n
		if len(pcm) < need {
			d.s.Pending = append(d.s.Pending, pcm...)
			return nil, nil
		}
		frame := make([]byte, 0, d.p.frameBytes)
		frame = append(append(frame, d.s.Pending...), pcm[:need]...)
		d.s.Pending = nil
		events = d.frame(frame, events)
		pcm = pcm[need:]
	}
	for len(pcm) >= d.p.frameBytes {
		events = d.frame(pcm[:d.p.frameBytes], events)
		pcm = pcm[d.p.frameBytes:]
	}
	if len(pcm) > 0 {
		d.s.Pending = append([]byte(nil), pcm...)
	}
	return events, nil
}

// frame runs the state machine on one frame.
func (d *Energy) frame(b []byte, events []Event) []Event {
	db := level(b)
	voiced := db >= d.threshold()
	if d.p.adaptive {
		d.trackNoise(db)
	}
	d.s.Position += d.p.frame
	end := d.s.Position
	switch d.s.Phase {
	case PhaseSilence:
		if voiced {
			d.s.Phase = PhaseOnset
			d.s.Onset, d.s.Voiced, d.s.LastVoiced = end-d.p.frame, d.p.frame, end
			events = d.confirm(events)
		}
	case PhaseOnset:
		switch {
		case voiced:
			d.s.Voiced += d.p.frame
			d.s.LastVoiced = end
			events = d.confirm(events)
		case end-d.s.LastVoiced >= d.p.minSilence:
			d.reset(d.s.Floor) // too little speech: a click or a cough
		}
	case PhaseSpeech:
		switch {
		case voiced:
			d.s.LastVoiced = end
		case end-d.s.LastVoiced >= d.p.minSilence:
			return d.close(events, ReasonSilence)
		}
		events = d.cutIfLong(events)
	}
	return events
}

func (d *Energy) threshold() float64 {
	if d.p.adaptive {
		return max(d.cfg.Threshold, d.s.NoiseFloor+d.cfg.NoiseMargin)
	}
	return d.cfg.Threshold
}

// trackNoise follows quieter frames at once and louder ones slowly, so the floor settles on
// the background between words rather than on the words.
func (d *Energy) trackNoise(db float64) {
	if db < d.s.NoiseFloor {
		d.s.NoiseFloor = db
		return
	}
	// The explicit conversion forbids fusing into an FMA, so every platform computes the same
	// floor and a state restored on another replica resumes exactly.
	d.s.NoiseFloor += float64((db - d.s.NoiseFloor) * d.p.rise)
}

// confirm opens the segment once enough speech has been heard.
func (d *Energy) confirm(events []Event) []Event {
	if d.s.Voiced < d.p.minSpeech {
		return events
	}
	start := max(d.s.Onset-d.p.preRoll, d.s.Floor, d.s.Position-d.p.maxSegment)
	d.s.Phase = PhaseSpeech
	d.s.Start, d.s.Onset, d.s.Voiced = start, max(d.s.Onset, start), 0
	events = append(events, Event{Kind: SpeechStart, Start: start})
	return d.cutIfLong(events)
}

// cutIfLong ends the open segment when one more frame would take it past MaxSegment, so no
// segment is longer (when MaxSegment is a whole number of frames, segments are cut at exactly
// MaxSegment). Speech that goes on opens the next segment at the cut once it passes MinSpeech
// again (pre-roll cannot reach back past the cut).
func (d *Energy) cutIfLong(events []Event) []Event {
	if d.s.Phase != PhaseSpeech || d.s.Position-d.s.Start+d.p.frame <= d.p.maxSegment {
		return events
	}
	events = append(events, Event{Kind: SegmentEnd, Start: d.s.Start, End: d.s.Position, Reason: ReasonMaxLength})
	d.reset(d.s.Position)
	return events
}

// close ends the open segment after its last speech frame plus the post-roll.
func (d *Energy) close(events []Event, reason Reason) []Event {
	end := min(d.s.LastVoiced+d.p.postRoll, d.s.Position)
	events = append(events, Event{Kind: SegmentEnd, Start: d.s.Start, End: end, Reason: reason})
	d.reset(end)
	return events
}

// reset returns to silence with floor as the new pre-roll limit.
func (d *Energy) reset(floor int64) {
	d.s.Phase = PhaseSilence
	d.s.Floor = floor
	d.s.Onset, d.s.Start, d.s.Voiced, d.s.LastVoiced = 0, 0, 0, 0
}

// Idle implements Detector.
func (d *Energy) Idle(elapsed time.Duration) []Event {
	if elapsed < d.cfg.IdleTimeout {
		return nil
	}
	switch d.s.Phase {
	case PhaseOnset:
		d.reset(d.s.Floor)
	case PhaseSpeech:
		return d.close(nil, ReasonIdle)
	}
	return nil
}

// Flush implements Detector.
func (d *Energy) Flush() []Event {
	d.s.Position += int64(len(d.s.Pending) / 2)
	d.s.Pending = nil
	switch d.s.Phase {
	case PhaseOnset:
		d.reset(d.s.Floor)
	case PhaseSpeech:
		return d.close(nil, ReasonFlush)
	}
	return nil
}

// KeepFrom implements Detector.
func (d *Energy) KeepFrom() int64 {
	switch d.s.Phase {
	case PhaseSpeech:
		return d.s.Start
	case PhaseOnset:
		return max(d.s.Onset-d.p.preRoll, d.s.Floor)
	default:
		return max(d.s.Position-d.p.preRoll, d.s.Floor)
	}
}

// State implements Detector.
func (d *Energy) State() State {
	s := d.s
	if s.Pending != nil {
		s.Pending = append([]byte(nil), s.Pending...)
	}
	return s
}

// Restore implements Detector.
func (d *Energy) Restore(s State) error {
	if err := d.check(s); err != nil {
		return err
	}
	if s.Pending != nil {
		s.Pending = append([]byte(nil), s.Pending...)
	}
	d.s = s
	return nil
}

// check reports whether this detector could have reached s, so that a corrupted KV entry
// cannot make it emit events out of order.
func (d *Energy) check(s State) error {
	bad := func(format string, args ...any) error {
		return failure.Permanent(fmt.Errorf("%w: %s", ErrInvalidState, fmt.Sprintf(format, args...)))
	}
	switch {
	case s.SampleRate != d.cfg.SampleRate:
		return bad("sample rate %d, detector runs at %d", s.SampleRate, d.cfg.SampleRate)
	case len(s.Pending)%2 != 0 || len(s.Pending) >= d.p.frameBytes:
		return bad("%d pending bytes, want an even number below the frame size %d", len(s.Pending), d.p.frameBytes)
	case s.Position < 0 || s.Position > math.MaxInt64/4:
		return bad("position %d out of range", s.Position)
	case s.Floor < 0 || s.Floor > s.Position:
		return bad("floor %d outside 0..position %d", s.Floor, s.Position)
	case math.IsNaN(s.NoiseFloor) || s.NoiseFloor < floorDB || s.NoiseFloor > 0:
		return bad("noise floor %v dBFS outside %v..0", s.NoiseFloor, floorDB)
	}
	switch s.Phase {
	case PhaseSilence:
		if s.Onset != 0 || s.Start != 0 || s.Voiced != 0 || s.LastVoiced != 0 {
			return bad("silence phase with segment fields set")
		}
	case PhaseOnset:
		if s.Onset < s.Floor || s.LastVoiced <= s.Onset || s.LastVoiced > s.Position ||
			s.Position-s.LastVoiced >= d.p.minSilence || s.Voiced <= 0 ||
			s.Voiced > s.LastVoiced-s.Onset || s.Voiced >= d.p.minSpeech || s.Start != 0 {
			return bad("onset phase with onset %d, last voiced %d, voiced %d, start %d (floor %d, position %d)",
				s.Onset, s.LastVoiced, s.Voiced, s.Start, s.Floor, s.Position)
		}
	case PhaseSpeech:
		if s.Start < s.Floor || s.Start > s.Onset || s.LastVoiced <= s.Onset || s.LastVoiced > s.Position ||
			s.Position-s.LastVoiced >= d.p.minSilence || s.Position-s.Start+d.p.frame > d.p.maxSegment || s.Voiced != 0 {
			return bad("speech phase with start %d, onset %d, last voiced %d, voiced %d (floor %d, position %d)",
				s.Start, s.Onset, s.LastVoiced, s.Voiced, s.Floor, s.Position)
		}
	default:
		return bad("unknown phase %q", s.Phase)
	}
	return nil
}
