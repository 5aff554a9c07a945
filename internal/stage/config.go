package stage

import (
	"errors"
	"fmt"
	"time"
)

// defaultBackoff is the retry schedule used when Config.Backoff is empty: the delay before the
// second delivery is the first entry, and the last entry repeats.
var defaultBackoff = []time.Duration{time.Second, 5 * time.Second, 15 * time.Second, 30 * time.Second, time.Minute}

// Config describes one stage: which durable consumer it serves and how hard it works.
type Config struct {
	// Name of the stage. It names the dead-letter subject (streams.DeadLetterSubject), the
	// metrics and spans, and is part of every output's Nats-Msg-Id. Required; one subject token.
	Name string
	// Stream and Consumer name the durable pull consumer. Required. The consumer must exist
	// (streams.Apply creates it): the runtime never creates or edits consumers.
	Stream   string
	Consumer string
	// Concurrency is the number of messages handled at once, and also the most this replica
	// holds unacknowledged: there is no read-ahead beyond it. 0 means 1.
	Concurrency int
	// MaxPayload is the largest input payload the stage accepts, in bytes; larger messages are
	// dead-lettered without being decoded. 0 means 1 MiB.
	MaxPayload int
	// HandlerTimeout bounds one handler call. 0 means no bound beyond the message's own deadline
	// (the runtime still keeps the message alive with InProgress while the handler runs).
	HandlerTimeout time.Duration
	// Backoff is the schedule of redelivery delays after retryable failures, indexed by the
	// delivery count (delivery 1 failed: Backoff[0]); the last entry repeats. Empty means
	// 1s, 5s, 15s, 30s, 1m. The consumer itself must have no backoff list: a server-side backoff
	// replaces ack_wait with its first value.
	Backoff []time.Duration
	// GracePeriod is how long in-flight handlers may run after shutdown starts before their
	// contexts are cancelled and their messages naked. 0 means 20s.
	GracePeriod time.Duration
	// FetchWait is how long one pull request waits on the server for messages. 0 means 5s.
	// While it waits, the server sends an idle heartbeat every quarter of it; the stage takes its
	// requests for lost, and asks again, after three quarters without a word.
	FetchWait time.Duration
}

func (c Config) withDefaults() Config {
	if c.Concurrency == 0 {
		c.Concurrency = 1
	}
	if c.MaxPayload == 0 {
		c.MaxPayload = 1 << 20
	}
	if len(c.Backoff) == 0 {
		c.Backoff = defaultBackoff
	}
	if c.GracePeriod == 0 {
		c.GracePeriod = 20 * time.Second
	}
	if c.FetchWait == 0 {
		c.FetchWait = 5 * time.Second
	}
	return c
}

// Validate reports every problem with the configuration.
func (c Config) Validate() error {
	var errs []error
	if !validToken(c.Name) {
		errs = append(errs, fmt.Errorf("stage name %q must be one subject token of letters, digits, '-' or '_'", c.Name))
	}
	if c.Stream == "" || c.Consumer == "" {
		errs = append(errs, errors.New("stream and consumer are required"))
	}
	if c.Concurrency < 0 || c.Concurrency > 10000 {
		errs = append(errs, fmt.Errorf("concurrency %d is outside [0, 10000]", c.Concurrency))
	}
	if c.MaxPayload < 0 {
		errs = append(errs, fmt.Errorf("max payload %d is negative", c.MaxPayload))
	}
	for _, d := range c.Backoff {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("backoff entry %v must be positive", d))
			break
		}
	}
	if c.HandlerTimeout < 0 || c.GracePeriod < 0 || c.FetchWait < 0 {
		errs = append(errs, errors.New("timeouts must not be negative"))
	}
	if c.FetchWait != 0 && c.FetchWait < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("fetch wait %v is below 100ms", c.FetchWait))
	}
	return errors.Join(errs...)
}

func validToken(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		ok := r == '-' || r == '_' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !ok {
			return false
		}
	}
	return true
}
