package rag

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

func TestPromptListsSourcesInRankedOrder(t *testing.T) {
	r := New(nil, nil, nil, nil, Config{})
	msgs := r.Prompt(Question{Query: "q", History: []*jetflowv1.ChatMessage{{Role: "user", Content: "earlier"}}},
		[]*jetflowv1.Source{{Text: "first\nline"}, {Text: "second"}})
	if len(msgs) != 3 || !strings.Contains(msgs[0].Content, "[source 1] first line\n[source 2] second") || msgs[2].Content != "q" {
		b, _ := json.Marshal(msgs)
		t.Fatalf("prompt = %s", b)
	}
}

func TestPromptCutsLongSourcesOnACharacterBoundary(t *testing.T) {
	r := New(nil, nil, nil, nil, Config{})
	// "é" is two bytes: 1999 ASCII bytes then "é" puts the limit inside it.
	long := strings.Repeat("a", maxSourceBytes-1) + strings.Repeat("é", 10)
	msgs := r.Prompt(Question{Query: "q"}, []*jetflowv1.Source{{Text: long}})
	system := msgs[0].Content
	if !utf8.ValidString(system) {
		t.Fatalf("the prompt is not valid UTF-8 after cutting a source: ...%q", system[len(system)-8:])
	}
	want := "[source 1] " + strings.Repeat("a", maxSourceBytes-1) + "\n"
	if !strings.HasSuffix(system, want) {
		t.Fatalf("prompt ends with ...%q, want the source cut before the split character", system[len(system)-8:])
	}

	exact := strings.Repeat("é", maxSourceBytes/2)
	msgs = r.Prompt(Question{Query: "q"}, []*jetflowv1.Source{{Text: exact + "é"}})
	if !strings.HasSuffix(msgs[0].Content, "[source 1] "+exact+"\n") {
		t.Fatalf("a source cut at a character boundary lost more than the characters past the limit")
	}
}
