package rag

import "testing"

func TestTruncateUTF8(t *testing.T) {
	tests := []struct {
		name string
		in   string
		n    int
		want string
	}{
		{name: "short", in: "abc", n: 5, want: "abc"},
		{name: "ascii", in: "abcdef", n: 3, want: "abc"},
		{name: "inside a rune", in: "aé", n: 2, want: "a"},
		{name: "at a rune end", in: "aéb", n: 3, want: "aé"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := TruncateUTF8(tc.in, tc.n); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
