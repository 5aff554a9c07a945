package retrieval_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval"
)

func TestParseFilter(t *testing.T) {
	tests := []struct {
		name string
		expr string
		want retrieval.Filter
	}{
		{"empty", "", retrieval.Filter{}},
		{"blank", " \t\n", retrieval.Filter{}},
		{"double quotes", `lang == "en"`, retrieval.Filter{Key: "lang", Value: "en"}},
		{"single quotes", `lang=='en'`, retrieval.Filter{Key: "lang", Value: "en"}},
		{"underscore and digits", `_src2 == "a b"`, retrieval.Filter{Key: "_src2", Value: "a b"}},
		{"escapes", `k == "say \"hi\" \\ 'x'"`, retrieval.Filter{Key: "k", Value: `say "hi" \ 'x'`}},
		{"empty value", `k == ""`, retrieval.Filter{Key: "k", Value: ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := retrieval.ParseFilter(tt.expr)
			if err != nil || got != tt.want {
				t.Fatalf("ParseFilter(%q) = %+v, %v; want %+v", tt.expr, got, err, tt.want)
			}
		})
	}
}

func TestParseFilterRefuses(t *testing.T) {
	tests := []struct {
		name string
		expr string
	}{
		{"no operator", `lang`},
		{"other operator", `lang != "en"`},
		{"number", `year == 2024`},
		{"unquoted", `lang == en`},
		{"unterminated", `lang == "en`},
		{"bad escape", `lang == "e\n"`},
		{"conjunction", `lang == "en" && src == "x"`},
		{"leading digit", `1a == "x"`},
		{"trailing garbage", `lang == "en" )`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := retrieval.ParseFilter(tt.expr)
			if !errors.Is(err, retrieval.ErrInvalidQuery) || !failure.IsPermanent(err) {
				t.Fatalf("ParseFilter(%q) err = %v, want a permanent ErrInvalidQuery", tt.expr, err)
			}
		})
	}
}

func TestFilterMatch(t *testing.T) {
	md := map[string]string{"lang": "en", "empty": ""}
	tests := []struct {
		name string
		f    retrieval.Filter
		want bool
	}{
		{"zero matches all", retrieval.Filter{}, true},
		{"equal", retrieval.Filter{Key: "lang", Value: "en"}, true},
		{"different", retrieval.Filter{Key: "lang", Value: "de"}, false},
		{"missing key", retrieval.Filter{Key: "src", Value: ""}, false},
		{"empty value present", retrieval.Filter{Key: "empty", Value: ""}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.Match(md); got != tt.want {
				t.Fatalf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, seed := range []string{``, `lang == "en"`, `lang=='en'`, `k == "a\"b\\c"`, `k == `, `a == "x" && b == "y"`, `1 == "x"`, `k == 'unterminated`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		got, err := retrieval.ParseFilter(expr)
		if err != nil {
			if !errors.Is(err, retrieval.ErrInvalidQuery) || !failure.IsPermanent(err) {
				t.Fatalf("error %v is not a permanent ErrInvalidQuery", err)
			}
			return
		}
		if got.Key == "" {
			if got.Value != "" {
				t.Fatalf("zero key with value %q", got.Value)
			}
			return
		}
		// What parsed must parse again, to the same filter, when written back out.
		quoted := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(got.Value)
		again, err := retrieval.ParseFilter(got.Key + ` == "` + quoted + `"`)
		if err != nil || again != got {
			t.Fatalf("%q parsed to %+v, which written back parses to %+v, %v", expr, got, again, err)
		}
	})
}
