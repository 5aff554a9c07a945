package standin

import (
	"net/http"
	"sync"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// maxTraces bounds the trace ids the stand-in remembers, so a long benchmark does not grow it
// without end: the most recent ones are kept.
const maxTraces = 1024

// Trace is one model request that carried a W3C traceparent, as a real vLLM or Ray Serve
// server would continue it.
type Trace struct {
	// Route is the route pattern, such as "POST /v1/embeddings".
	Route string `json:"route"`
	// TraceID is the trace id of the traceparent header, in hex.
	TraceID string `json:"trace_id"`
}

// traceLog keeps the last maxTraces traced requests in a ring.
type traceLog struct {
	mu     sync.Mutex
	traces []Trace // the ring, in arrival order until it is full
	next   int     // where the next one goes once the ring is full
}

// record notes the trace id of r's traceparent, if it has a valid one.
func (l *traceLog) record(route string, r *http.Request) {
	if r.Header.Get("traceparent") == "" {
		return
	}
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header)))
	if !sc.IsValid() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t := Trace{Route: route, TraceID: sc.TraceID().String()}
	if len(l.traces) < maxTraces {
		l.traces = append(l.traces, t)
		return
	}
	l.traces[l.next] = t
	l.next = (l.next + 1) % maxTraces
}

// snapshot returns the traces oldest first.
func (l *traceLog) snapshot() []Trace {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append(append(make([]Trace, 0, len(l.traces)), l.traces[l.next:]...), l.traces[:l.next]...)
}

func (l *traceLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.traces, l.next = nil, 0
}

// TraceIDs returns the trace ids the stand-in received on route (a pattern such as
// "POST /v1/chat/completions"; empty means every route), oldest first, so a test can check that
// a worker's calls carried its request's trace.
func (s *Server) TraceIDs(route string) []string {
	var ids []string
	for _, t := range s.stats.traces.snapshot() {
		if route == "" || t.Route == route {
			ids = append(ids, t.TraceID)
		}
	}
	return ids
}
