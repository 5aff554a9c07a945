package voice

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestTrimHistory(t *testing.T) {
	msg := func(role, content string) historyMessage { return historyMessage{Role: role, Content: content} }
	u, a := "user", "assistant"
	conversation := []historyMessage{msg(u, "q1"), msg(a, "a1"), msg(u, "q2"), msg(a, "a2"), msg(u, "q3"), msg(a, "a3")}
	contents := func(h []historyMessage) []string {
		var out []string
		for _, m := range h {
			out = append(out, m.Content)
		}
		return out
	}
	tests := []struct {
		name   string
		in     []historyMessage
		keep   int
		budget int
		want   []string
	}{
		{name: "within bounds", in: conversation, keep: 20, budget: 1 << 20, want: []string{"q1", "a1", "q2", "a2", "q3", "a3"}},
		{name: "oldest dropped first", in: conversation, keep: 4, budget: 1 << 20, want: []string{"q2", "a2", "q3", "a3"}},
		{name: "never starts with an answer", in: conversation, keep: 3, budget: 1 << 20, want: []string{"q3", "a3"}},
		{name: "size budget", in: conversation, keep: 20, budget: 120, want: []string{"q3", "a3"}},
		{name: "nothing fits", in: []historyMessage{msg(u, strings.Repeat("x", 100))}, keep: 20, budget: 50, want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := trimHistory(slices.Clone(tc.in), tc.keep, tc.budget)
			if !slices.Equal(contents(got), tc.want) {
				t.Fatalf("got %q, want %q", contents(got), tc.want)
			}
			if b, _ := json.Marshal(got); len(got) > 0 && len(b) > tc.budget {
				t.Fatalf("%d bytes, budget %d", len(b), tc.budget)
			}
		})
	}
}

func FuzzDecodeTurn(f *testing.F) {
	f.Add([]byte(`{"current_turn":"t1","turn_sequence":7,"history":[{"role":"user","content":"hi","turn":"t0"}]}`))
	f.Add([]byte(`{"current_turn":""}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"current_turn":42}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, b []byte) {
		turn, err := decodeTurn(b)
		if err != nil && turn != "" {
			t.Fatalf("turn %q with error %v", turn, err)
		}
		var full sessionState
		if json.Unmarshal(b, &full) == nil && err == nil && full.CurrentTurn != turn {
			t.Fatalf("decodeTurn %q, full decode %q", turn, full.CurrentTurn)
		}
	})
}
