package breaker

import (
	"testing"
	"time"
)

func TestSetOpenFor(t *testing.T) {
	tests := []struct {
		name string
		trip []string
	}{
		{name: "all closed"},
		{name: "one open", trip: []string{Embeddings}},
		{name: "two open", trip: []string{LLM, Milvus}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := NewSet("chat", Settings{ConsecutiveFailures: 1, Timeout: time.Minute})
			for _, name := range []string{LLM, Embeddings, Reranker, Milvus} {
				set.Get(name)
			}
			u := &upstream{}
			for _, name := range tt.trip {
				trip(t, set.Get(name), u)
			}
			longest := func() time.Duration {
				var d time.Duration
				for _, name := range []string{LLM, Embeddings, Reranker, Milvus} {
					d = max(d, set.Get(name).OpenFor())
				}
				return d
			}
			// Open time only shrinks, so the set's answer lies between the maxima taken just
			// before and just after it.
			before := longest()
			got := set.OpenFor()
			after := longest()
			if got < after || got > before {
				t.Fatalf("Set.OpenFor = %v, want within [%v, %v]", got, after, before)
			}
			if (len(tt.trip) > 0) != (got > 0) {
				t.Fatalf("Set.OpenFor = %v with %d breakers open", got, len(tt.trip))
			}
		})
	}
}

func TestSetGetReturnsOneBreakerPerUpstream(t *testing.T) {
	set := NewSet("voice", Settings{})
	first, second := set.Get(LLM), set.Get(LLM)
	if first != second {
		t.Fatal("Get made a second breaker for the same upstream")
	}
	if set.Get(LLM) == set.Get(TTS) {
		t.Fatal("two upstreams share a breaker")
	}
	if b := set.Get(STT); b.stage != "voice" || b.upstream != STT {
		t.Fatalf("breaker is for %s/%s, want voice/stt", b.stage, b.upstream)
	}
}

func TestSetProbingWhileHalfOpen(t *testing.T) {
	s := NewSet("chat-generate", Settings{ConsecutiveFailures: 1, Timeout: 30 * time.Millisecond})
	b := s.Get(LLM)
	if s.Probing() {
		t.Fatal("probing while closed")
	}
	var u upstream
	trip(t, b, &u)
	if s.Probing() {
		t.Fatal("probing while open")
	}
	waitHalfOpen(t, b)
	if !s.Probing() {
		t.Fatal("not probing while half-open")
	}
	if _, err := Do(t.Context(), b, u.answer(nil)); err != nil {
		t.Fatal(err)
	}
	if s.Probing() {
		t.Fatal("still probing after a successful probe closed the breaker")
	}
}
