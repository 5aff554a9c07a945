package breaker

import (
	"fmt"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
)

// Defaults applied by New to zero fields of Settings.
const (
	DefaultMaxRequests         = 1
	DefaultInterval            = 60 * time.Second
	DefaultTimeout             = 30 * time.Second
	DefaultConsecutiveFailures = 5
)

// Settings tunes one breaker. The zero value is usable: every zero field takes the default named
// in its comment.
type Settings struct {
	// Name identifies the breaker in logs; empty means "<stage>/<upstream>".
	Name string
	// MaxRequests is how many probe calls may run while half-open; that many consecutive
	// successes close the breaker, one failure re-opens it. 0 means 1.
	MaxRequests uint32
	// Interval is how often the closed breaker forgets its counts, so that rare failures spread
	// over hours never add up to a trip. 0 means 60s.
	Interval time.Duration
	// Timeout is how long the breaker stays open before letting a probe through. 0 means 30s.
	Timeout time.Duration
	// ConsecutiveFailures trips the breaker after that many retryable failures in a row.
	// 0 means 5.
	ConsecutiveFailures uint32
}

// Validate reports every field that New would not accept as written.
func (s Settings) Validate() error {
	var problems []string
	if s.Interval < 0 {
		problems = append(problems, fmt.Sprintf("interval %v is negative", s.Interval))
	}
	if s.Timeout < 0 {
		problems = append(problems, fmt.Sprintf("timeout %v is negative", s.Timeout))
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalidSettings, strings.Join(problems, "; "))
}

// withDefaults replaces zero (and, defensively, negative) fields by their defaults.
func (s Settings) withDefaults(stage, upstream string) Settings {
	if s.Name == "" {
		s.Name = stage + "/" + upstream
	}
	if s.MaxRequests == 0 {
		s.MaxRequests = DefaultMaxRequests
	}
	if s.Interval <= 0 {
		s.Interval = DefaultInterval
	}
	if s.Timeout <= 0 {
		s.Timeout = DefaultTimeout
	}
	if s.ConsecutiveFailures == 0 {
		s.ConsecutiveFailures = DefaultConsecutiveFailures
	}
	return s
}

// SettingsFromEnv overrides def with <PREFIX>_BREAKER_FAILURES (ConsecutiveFailures),
// <PREFIX>_BREAKER_TIMEOUT, <PREFIX>_BREAKER_PROBES (MaxRequests) and <PREFIX>_BREAKER_INTERVAL;
// an empty prefix reads BREAKER_*. Bad values are recorded in r and leave def's value in place.
func SettingsFromEnv(r *envconfig.Reader, prefix string, def Settings) Settings {
	name := func(suffix string) string {
		if prefix == "" {
			return "BREAKER_" + suffix
		}
		return prefix + "_BREAKER_" + suffix
	}
	s := def
	s.ConsecutiveFailures = uint32(r.Int(name("FAILURES"), int(def.ConsecutiveFailures), 1, 10_000))
	s.Timeout = r.Duration(name("TIMEOUT"), def.Timeout, 100*time.Millisecond, time.Hour)
	s.MaxRequests = uint32(r.Int(name("PROBES"), int(def.MaxRequests), 1, 1_000))
	s.Interval = r.Duration(name("INTERVAL"), def.Interval, time.Second, 24*time.Hour)
	return s
}
