// Package breaker wraps each upstream call of a stage (LLM, embeddings, reranker, Milvus, STT,
// TTS) in a circuit breaker, so that a dead upstream costs one fast refusal per message instead
// of a timeout, and so the stage runtime can stop pulling work altogether while the upstream is
// down (OpenFor) rather than burn every message's delivery budget against it.
//
// Only retryable failures count against an upstream: errors marked failure.Permanent (a 400 for
// one bad input) show the upstream is up, and a call the caller cancelled shows nothing.
package breaker

import (
	"log/slog"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
)

// State is a breaker's state; its values are those exported by the jetflow.breaker.state gauge.
type State int

// The breaker states.
const (
	Closed   State = 0 // calls flow
	HalfOpen State = 1 // a few probe calls test the upstream
	Open     State = 2 // calls are refused until Timeout has passed
)

func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half-open"
	case Open:
		return "open"
	default:
		return "unknown"
	}
}

func fromGobreaker(s gobreaker.State) State {
	switch s {
	case gobreaker.StateOpen:
		return Open
	case gobreaker.StateHalfOpen:
		return HalfOpen
	default:
		return Closed
	}
}

// Breaker guards the calls of one stage to one upstream. It is safe for concurrent use.
type Breaker struct {
	stage, upstream string
	settings        Settings
	cb              *gobreaker.TwoStepCircuitBreaker[struct{}]
	logger          *slog.Logger
	metrics         *instruments

	// mu guards the state as last reported by gobreaker and when it last opened: gobreaker
	// does not export its open expiry.
	mu       sync.Mutex
	state    State
	openedAt time.Time
}

// New returns a closed breaker for calls of stage to upstream. Zero fields of s take their
// defaults; New does not reject bad settings, so check them with Validate when they come from
// outside.
func New(stage, upstream string, s Settings, opts ...Option) *Breaker {
	o := options{logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	s = s.withDefaults(stage, upstream)
	b := &Breaker{
		stage:    stage,
		upstream: upstream,
		settings: s,
		logger:   o.logger.With("stage", stage, "upstream", upstream, "breaker", s.Name),
	}
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:          s.Name,
		MaxRequests:   s.MaxRequests,
		Interval:      s.Interval,
		Timeout:       s.Timeout,
		ReadyToTrip:   s.readyToTrip,
		OnStateChange: b.onStateChange,
		IsSuccessful:  isSuccessful,
		IsExcluded:    isExcluded,
	})
	if o.meter != nil {
		b.metrics = newInstruments(o.meter, b)
	}
	return b
}

// State returns the current state, moving an open breaker whose Timeout has passed to half-open.
func (b *Breaker) State() State { return fromGobreaker(b.cb.State()) }

// OpenFor tells the stage runtime how long to hold off pulling work for this upstream: the time
// left while open, a short wait while half-open with every probe slot taken (more calls would
// only be refused), and 0 otherwise.
func (b *Breaker) OpenFor() time.Duration {
	// State, not our own record, so the lazy open -> half-open move happens (and is logged) now.
	switch b.State() {
	case Open:
		return b.remaining(time.Now())
	case HalfOpen:
		if b.probesFull() {
			return minRetryDelay
		}
	}
	return 0
}

// remaining returns the open time left at now, 0 if the breaker is not (or no longer) open.
func (b *Breaker) remaining(now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != Open {
		return 0
	}
	return max(b.openedAt.Add(b.settings.Timeout).Sub(now), 0)
}

// probesFull mirrors gobreaker's own half-open admission test.
func (b *Breaker) probesFull() bool {
	c := b.cb.Counts()
	valid := uint32(0)
	if c.Requests > c.TotalExclusions {
		valid = c.Requests - c.TotalExclusions
	}
	return valid >= b.settings.MaxRequests
}

// observedState is the state for the gauge: it reports an expired open breaker as half-open
// without moving it, so collecting metrics has no side effects.
func (b *Breaker) observedState(now time.Time) State {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == Open && !now.Before(b.openedAt.Add(b.settings.Timeout)) {
		return HalfOpen
	}
	return b.state
}

// onStateChange runs inside gobreaker's lock: it must not call back into the breaker.
func (b *Breaker) onStateChange(_ string, from, to gobreaker.State) {
	now := time.Now()
	state := fromGobreaker(to)
	b.mu.Lock()
	b.state = state
	if state == Open {
		// Taken after gobreaker's own clock reading, so our expiry is never earlier than its.
		b.openedAt = now
	}
	b.mu.Unlock()

	const msg = "circuit breaker state changed"
	if state == Open {
		b.logger.Warn(msg, "from", fromGobreaker(from).String(), "to", state.String(), "open_for", b.settings.Timeout)
	} else {
		b.logger.Info(msg, "from", fromGobreaker(from).String(), "to", state.String())
	}
	if b.metrics != nil {
		b.metrics.transition(state)
	}
}

// readyToTrip decides, on every failure while closed, whether the breaker opens.
func (s Settings) readyToTrip(c gobreaker.Counts) bool {
	return c.ConsecutiveFailures >= s.ConsecutiveFailures
}
