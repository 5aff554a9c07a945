package voice

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSpeechSegments(t *testing.T) {
	tests := []struct {
		name string
		text string
		max  int
		want []string
	}{
		{name: "short text is one piece", text: "  Hello there. How are you?  ", max: 100, want: []string{"Hello there. How are you?"}},
		{name: "empty", text: " ", max: 10, want: nil},
		{name: "sentences packed", text: "One two. Three four. Five six.", max: 20, want: []string{"One two. Three four.", "Five six."}},
		{name: "a long sentence is cut between words", text: "Short. This sentence is far too long for one call.", max: 16,
			want: []string{"Short.", "This sentence", "is far too long", "for one call."}},
		{name: "a long word is cut inside", text: "Supercalifragilistic", max: 8, want: []string{"Supercal", "ifragili", "stic"}},
		{name: "decimals do not end a sentence", text: "Pi is 3.14 or so. Yes.", max: 18, want: []string{"Pi is 3.14 or so.", "Yes."}},
		{name: "multibyte characters count once", text: "Größe ändert. Übel.", max: 13, want: []string{"Größe ändert.", "Übel."}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := speechSegments(tc.text, tc.max)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for _, s := range got {
				if utf8.RuneCountInString(s) > tc.max {
					t.Fatalf("%q is longer than %d", s, tc.max)
				}
			}
			if strings.Join(strings.Fields(strings.Join(got, " ")), "") != strings.Join(strings.Fields(tc.text), "") {
				t.Fatalf("pieces %q lose text of %q", got, tc.text)
			}
		})
	}
}
