package standin

import "sync/atomic"

// Stats is the body of GET /admin/stats: what the stand-in was asked, so tests can count the
// upstream calls a worker made (a retry, a breaker that stopped calling, a cache that worked).
type Stats struct {
	// Calls counts requests per route pattern, such as "POST /v1/embeddings", including those
	// answered with an injected error.
	Calls map[string]int64 `json:"calls"`
	// Injected counts requests per route answered 503 by the outage or the error rate.
	Injected map[string]int64 `json:"injected"`
	// InFlight is the number of model requests being handled now.
	InFlight int64 `json:"in_flight"`
	// StreamedChats counts the chat completions answered as a stream of events (stream: true);
	// the others of Calls["POST /v1/chat/completions"] were answered whole.
	StreamedChats int64 `json:"streamed_chats"`
	// Outage is true while an outage is on.
	Outage bool `json:"outage"`
	// Traces are the latest model requests that carried a traceparent (at most 1024), oldest
	// first.
	Traces []Trace `json:"traces"`
}

// routeStats counts one route's requests.
type routeStats struct {
	calls, injected atomic.Int64
}

// stats counts calls. Routes are registered while the server is built and the map is only read
// afterwards, so the counters need no lock.
type stats struct {
	routes        map[string]*routeStats
	inFlight      atomic.Int64
	streamedChats atomic.Int64
	traces        traceLog
}

func newStats() *stats {
	return &stats{routes: map[string]*routeStats{}}
}

func (s *stats) register(pattern string) *routeStats {
	rs := new(routeStats)
	s.routes[pattern] = rs
	return rs
}

func (s *stats) snapshot() Stats {
	out := Stats{Calls: map[string]int64{}, Injected: map[string]int64{}, InFlight: s.inFlight.Load(), StreamedChats: s.streamedChats.Load(), Traces: s.traces.snapshot()}
	for pattern, rs := range s.routes {
		out.Calls[pattern] = rs.calls.Load()
		out.Injected[pattern] = rs.injected.Load()
	}
	return out
}

func (s *stats) reset() {
	for _, rs := range s.routes {
		rs.calls.Store(0)
		rs.injected.Store(0)
	}
	s.streamedChats.Store(0)
	s.traces.reset()
}
