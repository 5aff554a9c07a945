package stt

import (
	"errors"
	"fmt"
	"time"

	"github.com/jetflow-dev/jetflow/internal/audio/vad"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
)

// Defaults of Config.
const (
	DefaultConcurrency   = 8
	DefaultGapTimeout    = 2 * time.Second
	DefaultSweepInterval = time.Second
	DefaultPublishLease  = 30 * time.Second
)

// defaultBackoff starts short: a chunk that lost a CAS race or met a transient error should
// come back quickly, since the chunks after it wait for it.
var defaultBackoff = []time.Duration{200 * time.Millisecond, time.Second, 5 * time.Second, 15 * time.Second}

// Config tunes the worker. Zero fields take the default named in their comment.
type Config struct {
	// Concurrency is the number of chunks one replica handles at once. 0 means 8.
	Concurrency int
	// GapTimeout is how long chunks that arrived ahead wait for a missing one before the gap is
	// reported and skipped. 0 means 2s; at most 1m.
	GapTimeout time.Duration
	// SweepInterval is how often the sweeper looks for timed-out gaps, idle sessions and
	// abandoned outboxes.
	// 0 means 1s.
	SweepInterval time.Duration
	// PublishLease is how long the replica publishing a session's outbox has it to itself; after
	// it another replica (or the sweeper) takes over. Make it longer than a transcription usually
	// takes. 0 means 30s.
	PublishLease time.Duration
	// VAD tunes the segmenter. Its SampleRate is ignored: each session runs at its own rate.
	VAD vad.Config
	// Backoff is the stage's retry schedule. Empty means 200ms, 1s, 5s, 15s. A chunk waiting on
	// a gap is retried after the larger of its remaining wait and this schedule's entry.
	Backoff []time.Duration
	// GracePeriod is how long in-flight chunks get at shutdown. 0 means the runtime's default.
	GracePeriod time.Duration
}

func (c Config) withDefaults() Config {
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.GapTimeout == 0 {
		c.GapTimeout = DefaultGapTimeout
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	if c.PublishLease == 0 {
		c.PublishLease = DefaultPublishLease
	}
	if len(c.Backoff) == 0 {
		c.Backoff = defaultBackoff
	}
	c.VAD = c.VAD.WithDefaults()
	return c
}

// Validate reports every field New would not accept.
func (c Config) Validate() error {
	var errs []error
	if c.Concurrency < 0 || c.Concurrency > 10000 {
		errs = append(errs, fmt.Errorf("concurrency %d is outside [0, 10000]", c.Concurrency))
	}
	if c.GapTimeout < 0 || c.GapTimeout > time.Minute {
		errs = append(errs, fmt.Errorf("gap timeout %v is outside [0, 1m]", c.GapTimeout))
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"sweep interval", c.SweepInterval},
		{"publish lease", c.PublishLease},
		{"grace period", c.GracePeriod},
	} {
		if f.d < 0 {
			errs = append(errs, fmt.Errorf("%s %v is negative", f.name, f.d))
		}
	}
	for _, d := range c.Backoff {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("backoff entry %v must be positive", d))
			break
		}
	}
	// The detector's limits hardly depend on the rate; check both ends of the accepted range.
	for _, rate := range []int{vad.MinSampleRate, vad.MaxSampleRate} {
		v := c.VAD
		v.SampleRate = rate
		if err := v.Validate(); err != nil {
			errs = append(errs, err)
			break
		}
	}
	return errors.Join(errs...)
}

// ConfigFromEnv reads STT_CONCURRENCY, STT_GAP_TIMEOUT, STT_SWEEP_INTERVAL, STT_PUBLISH_LEASE,
// STT_RETRY_BACKOFF (comma-separated durations), STT_GRACE_PERIOD, the VAD settings
// VAD_THRESHOLD_DBFS, VAD_MIN_SPEECH, VAD_MIN_SILENCE, VAD_MAX_SEGMENT, VAD_IDLE_TIMEOUT,
// VAD_PRE_ROLL (negative: none) and VAD_POST_ROLL (negative: none). Problems are recorded in r.
// The transcription breaker's STT_BREAKER_* are read by Build.
func ConfigFromEnv(r *envconfig.Reader) Config {
	c := Config{
		Concurrency:   r.Int("STT_CONCURRENCY", DefaultConcurrency, 1, 10000),
		GapTimeout:    r.Duration("STT_GAP_TIMEOUT", DefaultGapTimeout, 10*time.Millisecond, time.Minute),
		SweepInterval: r.Duration("STT_SWEEP_INTERVAL", DefaultSweepInterval, 10*time.Millisecond, time.Minute),
		PublishLease:  r.Duration("STT_PUBLISH_LEASE", DefaultPublishLease, 100*time.Millisecond, time.Hour),
		Backoff:       r.Durations("STT_RETRY_BACKOFF", nil, 10*time.Millisecond, time.Hour),
		GracePeriod:   r.Duration("STT_GRACE_PERIOD", 0, 100*time.Millisecond, 10*time.Minute),
		VAD: vad.Config{
			Threshold:   r.Float("VAD_THRESHOLD_DBFS", vad.DefaultThreshold, -99.9, -0.1),
			MinSpeech:   r.Duration("VAD_MIN_SPEECH", vad.DefaultMinSpeech, time.Millisecond, time.Minute),
			MinSilence:  r.Duration("VAD_MIN_SILENCE", vad.DefaultMinSilence, 10*time.Millisecond, time.Minute),
			MaxSegment:  r.Duration("VAD_MAX_SEGMENT", vad.DefaultMaxSegment, time.Second, time.Hour),
			IdleTimeout: r.Duration("VAD_IDLE_TIMEOUT", vad.DefaultIdleTimeout, time.Millisecond, time.Hour),
			PreRoll:     r.Duration("VAD_PRE_ROLL", vad.DefaultPreRoll, -time.Second, 10*time.Second),
			PostRoll:    r.Duration("VAD_POST_ROLL", vad.DefaultPostRoll, -time.Second, time.Minute),
		},
	}
	v := c.VAD
	v.SampleRate = vad.MinSampleRate
	if err := v.Validate(); err != nil {
		r.Fail("VAD_*", "%v", err)
	}
	return c
}
