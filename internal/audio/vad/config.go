package vad

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Sample rates the detector accepts.
const (
	MinSampleRate = 8000
	MaxSampleRate = 48000
)

// Defaults applied for zero-valued Config fields.
const (
	DefaultFrame       = 20 * time.Millisecond
	DefaultThreshold   = -40.0 // dBFS
	DefaultNoiseRise   = 5 * time.Second
	DefaultPreRoll     = 300 * time.Millisecond
	DefaultPostRoll    = 200 * time.Millisecond
	DefaultMinSpeech   = 250 * time.Millisecond
	DefaultMinSilence  = 500 * time.Millisecond
	DefaultMaxSegment  = 30 * time.Second
	DefaultIdleTimeout = 2 * time.Second
)

// floorDB is the lowest level the detector distinguishes; digital silence is clamped to it.
const floorDB = -120.0

// Config tunes the detector. Zero values mean the defaults stated on each field; call
// WithDefaults to see the effective values. Levels are RMS in dBFS, relative to a full-scale
// square wave (a full-scale sine is about -3 dBFS).
type Config struct {
	// SampleRate in Hz, MinSampleRate..MaxSampleRate. Required.
	SampleRate int `json:"sample_rate"`

	// Frame is the analysis window, 10 ms..100 ms. Zero means 20 ms. Boundaries are found to
	// within one frame.
	Frame time.Duration `json:"frame,omitempty"`

	// Threshold is the level at or above which a frame counts as speech, in dBFS, between -100
	// and 0 (exclusive). Zero means -40 dBFS.
	Threshold float64 `json:"threshold_dbfs,omitempty"`

	// NoiseMargin switches on the adaptive threshold: a frame then also has to be NoiseMargin
	// dB above the tracked noise floor, so steady background noise louder than Threshold stops
	// counting as speech. Zero means off; 1..60 dB when on.
	NoiseMargin float64 `json:"noise_margin_db,omitempty"`

	// NoiseRise is the time constant with which the noise floor rises towards louder frames
	// (it falls to a quieter frame at once). Zero means 5 s. Used only with NoiseMargin.
	NoiseRise time.Duration `json:"noise_rise,omitempty"`

	// PreRoll is audio kept before the first speech frame, so that soft onsets are not cut
	// (Pipecat #3375). Zero means 300 ms; negative means none. It never reaches back past the
	// end of the previous segment.
	PreRoll time.Duration `json:"pre_roll,omitempty"`

	// PostRoll is audio kept after the last speech frame, for trailing consonants. Zero means
	// 200 ms; negative means none; at most MinSilence.
	PostRoll time.Duration `json:"post_roll,omitempty"`

	// MinSpeech is how much speech (counted in speech frames) must accumulate before a segment
	// opens; shorter bursts (clicks, coughs) are dropped. Zero means 250 ms.
	MinSpeech time.Duration `json:"min_speech,omitempty"`

	// MinSilence is the run of non-speech frames that ends a segment. Zero means 500 ms.
	MinSilence time.Duration `json:"min_silence,omitempty"`

	// MaxSegment caps a segment's length, 1 s..1 h: a longer one is cut there and, if speech
	// goes on, a new segment follows at the cut. Zero means 30 s.
	MaxSegment time.Duration `json:"max_segment,omitempty"`

	// IdleTimeout closes an open segment when no audio has arrived for this long (a muted
	// microphone or a dropped connection would otherwise leave it open forever, Pipecat #4124).
	// Zero means 2 s.
	IdleTimeout time.Duration `json:"idle_timeout,omitempty"`
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	setDur := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	setDur(&c.Frame, DefaultFrame)
	setDur(&c.NoiseRise, DefaultNoiseRise)
	setDur(&c.PreRoll, DefaultPreRoll)
	setDur(&c.PostRoll, DefaultPostRoll)
	setDur(&c.MinSpeech, DefaultMinSpeech)
	setDur(&c.MinSilence, DefaultMinSilence)
	setDur(&c.MaxSegment, DefaultMaxSegment)
	setDur(&c.IdleTimeout, DefaultIdleTimeout)
	if c.Threshold == 0 {
		c.Threshold = DefaultThreshold
	}
	return c
}

// Validate reports every setting out of range, after applying defaults.
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []string
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Sprintf(format, args...))
	}
	if c.SampleRate < MinSampleRate || c.SampleRate > MaxSampleRate {
		bad("sample rate %d Hz outside %d..%d", c.SampleRate, MinSampleRate, MaxSampleRate)
	}
	if c.Frame < 10*time.Millisecond || c.Frame > 100*time.Millisecond {
		bad("frame %v outside 10ms..100ms", c.Frame)
	}
	if math.IsNaN(c.Threshold) || c.Threshold <= -100 || c.Threshold >= 0 {
		bad("threshold %v dBFS outside (-100, 0)", c.Threshold)
	}
	if math.IsNaN(c.NoiseMargin) || c.NoiseMargin < 0 || c.NoiseMargin > 60 || (c.NoiseMargin > 0 && c.NoiseMargin < 1) {
		bad("noise margin %v dB: want 0 (off) or 1..60", c.NoiseMargin)
	}
	if c.NoiseRise < c.Frame || c.NoiseRise > 10*time.Minute {
		bad("noise rise %v outside frame..10m", c.NoiseRise)
	}
	if c.PreRoll > 10*time.Second {
		bad("pre-roll %v above 10s", c.PreRoll)
	}
	if c.MinSpeech < 0 || c.MinSpeech > time.Minute {
		bad("min speech %v outside 0..1m", c.MinSpeech)
	}
	if c.MinSilence < c.Frame || c.MinSilence > time.Minute {
		bad("min silence %v outside frame (%v)..1m", c.MinSilence, c.Frame)
	}
	if c.PostRoll > c.MinSilence {
		bad("post-roll %v above min silence %v: the segment would end before its post-roll arrived", c.PostRoll, c.MinSilence)
	}
	if c.MaxSegment < time.Second || c.MaxSegment <= max(c.PreRoll, 0)+c.MinSpeech || c.MaxSegment > time.Hour {
		bad("max segment %v: want at least 1s, above pre-roll + min speech (%v), and at most 1h", c.MaxSegment, max(c.PreRoll, 0)+c.MinSpeech)
	}
	if c.IdleTimeout < 0 || c.IdleTimeout > time.Hour {
		bad("idle timeout %v outside 0..1h", c.IdleTimeout)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(errs, "; "))
}

// Samples converts a duration to a whole number of samples at the configured rate.
func (c Config) Samples(d time.Duration) int64 {
	return int64(d) * int64(c.SampleRate) / int64(time.Second)
}

// Duration converts a sample count or offset to time at the configured rate.
func (c Config) Duration(samples int64) time.Duration {
	if c.SampleRate <= 0 {
		return 0
	}
	rate := int64(c.SampleRate)
	return time.Duration(samples/rate)*time.Second + time.Duration(samples%rate*int64(time.Second)/rate)
}
