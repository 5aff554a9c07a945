package breaker

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// Upstream names, one breaker each per stage.
const (
	LLM        = "llm"
	Embeddings = "embeddings"
	Reranker   = "reranker"
	Milvus     = "milvus"
	STT        = "stt"
	TTS        = "tts"
)

// Set holds the breakers of one stage, one per upstream, so the stage runtime asks one object
// whether it may pull work. It is safe for concurrent use.
type Set struct {
	stage    string
	settings Settings
	opts     []Option

	mu       sync.Mutex
	breakers map[string]*Breaker
}

// NewSet returns an empty set for stage; its breakers are made by Get with s and opts.
func NewSet(stage string, s Settings, opts ...Option) *Set {
	return &Set{stage: stage, settings: s, opts: opts, breakers: make(map[string]*Breaker)}
}

// Get returns the breaker for upstream, making it on first use, so a stage only exports the
// upstreams it calls.
func (s *Set) Get(upstream string) *Breaker {
	s.mu.Lock()
	b, ok := s.breakers[upstream]
	s.mu.Unlock()
	if ok {
		return b
	}
	// Made outside the lock: New registers metric instruments, which waits for a metrics
	// collection in progress, and that collection's gauges read this set (CanProgress, States).
	// Holding the lock here deadlocked a worker and its /metrics.
	made := New(s.stage, upstream, s.settings, s.opts...)
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.breakers[upstream]; ok {
		return b
	}
	s.breakers[upstream] = made
	return made
}

// OpenFor is the longest Breaker.OpenFor of the set: a stage's messages may need any of its
// upstreams, so it waits for the last one to let calls through.
func (s *Set) OpenFor() time.Duration {
	var longest time.Duration
	for _, b := range s.snapshot() {
		longest = max(longest, b.OpenFor())
	}
	return longest
}

// Probing reports whether any breaker of the stage is half-open: the stage should then take one
// message at a time, so that the probe decides before more messages spend a delivery on an
// upstream that may still be down.
func (s *Set) Probing() bool {
	for _, b := range s.snapshot() {
		if b.State() == HalfOpen {
			return true
		}
	}
	return false
}

// CanProgress reports whether every breaker of the set is closed, without moving any of them (an
// open breaker whose Timeout has passed counts as half-open, as States reports it). It is what
// the stage's can-progress gauge reads while metrics are collected: a collection must not move a
// breaker, whose state change logs and records a metric from inside gobreaker's lock.
func (s *Set) CanProgress() bool {
	now := time.Now()
	for _, b := range s.snapshot() {
		if b.observedState(now) != Closed {
			return false
		}
	}
	return true
}

// UpstreamState is one breaker of a set as an observer (the status publisher) sees it.
type UpstreamState struct {
	Upstream string
	State    State
	// OpenFor is how long the breaker stays open from now; 0 unless State is Open.
	OpenFor time.Duration
}

// States reads every breaker of the set, sorted by upstream, without moving any of them: an
// open breaker whose Timeout has passed is reported half-open, as the state gauge reports it,
// so that watching a stage never changes what it does (State and OpenFor would move it, and
// log). A set whose stage has not called an upstream yet has no breaker for it.
func (s *Set) States() []UpstreamState {
	now := time.Now()
	breakers := s.snapshot()
	states := make([]UpstreamState, 0, len(breakers))
	for _, b := range breakers {
		st := UpstreamState{Upstream: b.upstream, State: b.observedState(now)}
		if st.State == Open {
			st.OpenFor = b.remaining(now)
		}
		states = append(states, st)
	}
	slices.SortFunc(states, func(a, b UpstreamState) int { return cmp.Compare(a.Upstream, b.Upstream) })
	return states
}

// snapshot returns the set's breakers so their state can be read without holding the set's
// lock: reading a state may move a breaker and log, which must not block Get.
func (s *Set) snapshot() []*Breaker {
	s.mu.Lock()
	defer s.mu.Unlock()
	breakers := make([]*Breaker, 0, len(s.breakers))
	for _, b := range s.breakers {
		breakers = append(breakers, b)
	}
	return breakers
}
