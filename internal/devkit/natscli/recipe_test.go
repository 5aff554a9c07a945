package natscli

import (
	"reflect"
	"strings"
	"testing"
)

func TestSplitCommand(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    []string
		wantErr string
	}{
		{"words", "nats stream view AI_DLQ", []string{"nats", "stream", "view", "AI_DLQ"}, ""},
		{"single quotes keep JSON", `nats pub ai.tts.request '{"text":"a b"}' -H Content-Type:application/json`,
			[]string{"nats", "pub", "ai.tts.request", `{"text":"a b"}`, "-H", "Content-Type:application/json"}, ""},
		{"double quotes and escapes", `nats consumer pause AI_TTS tts "2030-01-01 00:00:00" a\ b`,
			[]string{"nats", "consumer", "pause", "AI_TTS", "tts", "2030-01-01 00:00:00", "a b"}, ""},
		{"trailing comment", "nats consumer report AI_CHAT   # every consumer", []string{"nats", "consumer", "report", "AI_CHAT"}, ""},
		{"hash inside a word", "nats pub a b#c", []string{"nats", "pub", "a", "b#c"}, ""},
		{"comment line", "# only words", nil, ""},
		{"quoted wildcard", `nats stream view AI_RESULTS --subject 'ai.result.>'`, []string{"nats", "stream", "view", "AI_RESULTS", "--subject", "ai.result.>"}, ""},
		{"pipe", "nats stream view AI_DLQ | less", nil, "more than run one command"},
		{"redirection", "nats stream get AI_DLQ 1 > x", nil, "more than run one command"},
		{"variable", "nats stream get AI_DLQ $SEQ", nil, "more than run one command"},
		{"variable in double quotes", `nats pub a "$X"`, nil, "expanded by the shell"},
		{"unquoted wildcard", "nats stream view AI_RESULTS --subject ai.result.*", nil, "more than run one command"},
		{"open quote", "nats pub a 'b", nil, "unterminated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SplitCommand(tt.line)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("SplitCommand(%q) = %q, %v; want an error containing %q", tt.line, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("SplitCommand(%q) = %q, %v; want %q", tt.line, got, err, tt.want)
			}
		})
	}
}

func TestParseRecipes(t *testing.T) {
	md := strings.Join([]string{
		"text",
		"<!-- recipe: show-one SEQ=the dead letter's sequence in AI_DLQ N=how many -->",
		"",
		"```sh",
		"# a comment",
		"nats stream get AI_DLQ SEQ",
		"",
		"nats stream view AI_DLQ N  # page",
		"```",
		"```sh",
		"not a recipe, no marker",
		"```",
	}, "\n")
	recipes, err := ParseRecipes(md)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := recipes["show-one"]
	if !ok || len(recipes) != 1 {
		t.Fatalf("recipes = %v, want show-one only", recipes)
	}
	wantPlaceholders := map[string]string{"SEQ": "the dead letter's sequence in AI_DLQ", "N": "how many"}
	if !reflect.DeepEqual(r.Placeholders, wantPlaceholders) {
		t.Errorf("placeholders = %q, want %q", r.Placeholders, wantPlaceholders)
	}
	cmds, err := r.Commands(map[string]string{"SEQ": "7", "N": "5"})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"stream", "get", "AI_DLQ", "7"}, {"stream", "view", "AI_DLQ", "5"}}
	if !reflect.DeepEqual(cmds, want) {
		t.Errorf("commands = %q, want %q", cmds, want)
	}
	if _, err := r.Commands(map[string]string{"SEQ": "7"}); err == nil {
		t.Error("a placeholder without a value was accepted")
	}
	if _, err := r.Commands(map[string]string{"SEQ": "7", "N": "5", "AI_DLQ": "X"}); err == nil {
		t.Error("a value for a word that is no placeholder was accepted")
	}

	for name, bad := range map[string]string{
		"not a nats command": "<!-- recipe: x -->\n```sh\nkubectl get pods\n```",
		"no block":           "<!-- recipe: x -->\ntext\n```sh\nnats stream ls\n```",
		"a pipe":             "<!-- recipe: x -->\n```sh\nnats stream ls | wc -l\n```",
		"marked twice":       "<!-- recipe: x -->\n```sh\nnats stream ls\n```\n<!-- recipe: x -->\n```sh\nnats stream ls\n```",
		"unclosed":           "<!-- recipe: x -->\n```sh\nnats stream ls\n",
	} {
		if _, err := ParseRecipes(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
