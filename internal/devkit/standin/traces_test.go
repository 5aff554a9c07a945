package standin

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func embedWithTraceparent(t *testing.T, url, traceparent string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/v1/embeddings", strings.NewReader(`{"input":"hello"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if traceparent != "" {
		req.Header.Set("traceparent", traceparent)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// The stand-in records the trace id of each model request's traceparent, per route, and
// ignores requests without one or with a malformed one.
func TestTraceIDsReceived(t *testing.T) {
	ts, s := serve(t, Config{})
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	embedWithTraceparent(t, ts.URL, "00-"+id+"-00f067aa0ba902b7-01")
	embedWithTraceparent(t, ts.URL, "")
	embedWithTraceparent(t, ts.URL, "00-not-a-trace-01")

	const route = "POST /v1/embeddings"
	if got := s.TraceIDs(route); !slices.Equal(got, []string{id}) {
		t.Fatalf("TraceIDs(%q) = %v, want [%s]", route, got, id)
	}
	if got := s.TraceIDs("POST /v1/chat/completions"); len(got) != 0 {
		t.Fatalf("trace ids on a route not called: %v", got)
	}
	resp, err := http.Get(ts.URL + "/admin/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	st := decodeAs[Stats](t, resp, http.StatusOK)
	if want := []Trace{{Route: route, TraceID: id}}; !slices.Equal(st.Traces, want) {
		t.Fatalf("GET /admin/stats traces = %v, want %v", st.Traces, want)
	}
	s.stats.reset()
	if got := s.TraceIDs(""); len(got) != 0 {
		t.Fatalf("trace ids after a reset: %v", got)
	}
}

// Only the latest maxTraces are kept, oldest first.
func TestTraceLogKeepsTheLatest(t *testing.T) {
	var l traceLog
	req, err := http.NewRequest(http.MethodPost, "/", http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	id := func(i int) string { return strings.Repeat("0", 32-len(strconv.Itoa(i+1))) + strconv.Itoa(i+1) }
	for i := range maxTraces + 10 {
		req.Header.Set("traceparent", "00-"+id(i)+"-00f067aa0ba902b7-01")
		l.record("r", req)
	}
	got := l.snapshot()
	if len(got) != maxTraces || got[0].TraceID != id(10) || got[len(got)-1].TraceID != id(maxTraces+9) {
		t.Fatalf("kept %d traces from %s to %s, want %d from %s to %s",
			len(got), got[0].TraceID, got[len(got)-1].TraceID, maxTraces, id(10), id(maxTraces+9))
	}
}
