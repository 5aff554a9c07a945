package streams

import "testing"

func TestSubjectSubset(t *testing.T) {
	tests := []struct {
		name            string
		filter, pattern string
		want            bool
	}{
		{"equal literal", "a.b", "a.b", true},
		{"literal under gt", "a.b.c", "a.>", true},
		{"gt under gt", "a.b.>", "a.>", true},
		{"gt equals gt", "a.>", "a.>", true},
		{"prefix only", "a", "a.>", false},
		{"literal under star", "a.b", "a.*", true},
		{"star under star", "a.*", "a.*", true},
		{"gt not under star", "a.>", "a.*", false},
		{"star not under literal", "a.*", "a.b", false},
		{"longer than pattern", "a.b.c", "a.*", false},
		{"shorter than pattern", "a", "a.b", false},
		{"different literal", "a.c", "a.b", false},
		{"advisory", "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.S.c", SubjectAdvisoryMaxDeliveriesAll, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := subjectSubset(tt.filter, tt.pattern); got != tt.want {
				t.Errorf("subjectSubset(%q, %q) = %v, want %v", tt.filter, tt.pattern, got, tt.want)
			}
		})
	}
}

func TestSubjectsOverlap(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"equal", "a.b", "a.b", true},
		{"different", "a.b", "a.c", false},
		{"gt covers", "a.>", "a.b.c", true},
		{"gt needs a token", "a.>", "a", false},
		{"star and literal", "a.*", "a.b", true},
		{"star and longer", "a.*", "a.b.c", false},
		{"two stars", "*.b", "a.*", true},
		{"disjoint families", "ai.chat.>", "ai.voice.>", false},
		{"family and member", "ai.stt.>", "ai.stt.audio.>", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := subjectsOverlap(tt.a, tt.b); got != tt.want {
				t.Errorf("subjectsOverlap(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
			if got := subjectsOverlap(tt.b, tt.a); got != tt.want {
				t.Errorf("subjectsOverlap(%q, %q) = %v, want %v (not symmetric)", tt.b, tt.a, got, tt.want)
			}
		})
	}
}
