package natscli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Recipe is one operator recipe of the README: a fenced sh block preceded by a marker comment
//
//	<!-- recipe: NAME KEY=what the operator puts there ... -->
//
// Its lines are nats CLI commands only (no pipes, redirections or variables), so that a test can
// run them exactly as printed. A KEY declared in the marker is a placeholder: the only words a
// test may substitute, each for a value it finds the way the README says.
type Recipe struct {
	Name string
	// Placeholders maps each placeholder to the README's description of its value.
	Placeholders map[string]string
	// Lines are the block's commands, without comments and blank lines.
	Lines []string
}

// markerPattern matches a recipe marker; its second group holds the placeholders, each
// KEY=description up to the next KEY= or the end.
var (
	markerPattern      = regexp.MustCompile(`^<!--\s*recipe:\s*([a-z0-9-]+)\s*(.*?)\s*-->$`)
	placeholderPattern = regexp.MustCompile(`([A-Z][A-Z0-9_]*)=`)
)

// ReadmeRecipes reads the recipes of the repository's README.md.
func ReadmeRecipes(tb testing.TB) map[string]Recipe {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(RepoRoot(tb), "README.md"))
	if err != nil {
		tb.Fatalf("reading the README: %v", err)
	}
	recipes, err := ParseRecipes(string(b))
	if err != nil {
		tb.Fatalf("reading the README's recipes: %v", err)
	}
	return recipes
}

// ParseRecipes finds the marked recipes in a Markdown document. A marker must be followed, after
// blank lines at most, by a ```sh block, and every line of that block must be a nats command.
func ParseRecipes(markdown string) (map[string]Recipe, error) {
	lines := strings.Split(markdown, "\n")
	recipes := map[string]Recipe{}
	for i := 0; i < len(lines); i++ {
		m := markerPattern.FindStringSubmatch(strings.TrimSpace(lines[i]))
		if m == nil {
			continue
		}
		r := Recipe{Name: m[1], Placeholders: parsePlaceholders(m[2])}
		if _, dup := recipes[r.Name]; dup {
			return nil, fmt.Errorf("line %d: recipe %q is marked twice", i+1, r.Name)
		}
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) == "" {
			j++
		}
		if j == len(lines) || strings.TrimSpace(lines[j]) != "```sh" {
			return nil, fmt.Errorf("line %d: recipe %q is not followed by a ```sh block", i+1, r.Name)
		}
		closed := false
		for j++; j < len(lines); j++ {
			line := strings.TrimSpace(lines[j])
			if line == "```" {
				closed = true
				break
			}
			words, err := SplitCommand(line)
			if err != nil {
				return nil, fmt.Errorf("line %d, recipe %q: %w", j+1, r.Name, err)
			}
			if len(words) == 0 {
				continue
			}
			if words[0] != "nats" {
				return nil, fmt.Errorf("line %d, recipe %q: %q is not a nats command; recipes use the nats CLI only", j+1, r.Name, line)
			}
			r.Lines = append(r.Lines, line)
		}
		if !closed {
			return nil, fmt.Errorf("recipe %q: its block is not closed", r.Name)
		}
		if len(r.Lines) == 0 {
			return nil, fmt.Errorf("recipe %q has no command", r.Name)
		}
		recipes[r.Name] = r
		i = j
	}
	return recipes, nil
}

func parsePlaceholders(s string) map[string]string {
	out := map[string]string{}
	locs := placeholderPattern.FindAllStringSubmatchIndex(s, -1)
	for k, loc := range locs {
		end := len(s)
		if k+1 < len(locs) {
			end = locs[k+1][0]
		}
		out[s[loc[2]:loc[3]]] = strings.TrimSpace(s[loc[1]:end])
	}
	return out
}

// Commands splits the recipe's lines into the CLI's arguments (without the leading "nats"),
// with each placeholder replaced by its value. Every placeholder must get a value and no other
// word may be given one, so a test cannot quietly rewrite a recipe.
func (r Recipe) Commands(values map[string]string) ([][]string, error) {
	for k := range r.Placeholders {
		if _, ok := values[k]; !ok {
			return nil, fmt.Errorf("recipe %q: no value for its placeholder %s (%s)", r.Name, k, r.Placeholders[k])
		}
	}
	for k := range values {
		if _, ok := r.Placeholders[k]; !ok {
			return nil, fmt.Errorf("recipe %q declares no placeholder %s", r.Name, k)
		}
	}
	cmds := make([][]string, 0, len(r.Lines))
	for _, line := range r.Lines {
		words, err := SplitCommand(line)
		if err != nil {
			return nil, fmt.Errorf("recipe %q: %w", r.Name, err)
		}
		args := words[1:]
		for i := range args {
			for k, v := range values {
				args[i] = strings.ReplaceAll(args[i], k, v)
			}
		}
		cmds = append(cmds, args)
	}
	return cmds, nil
}

// RunRecipe runs every command of the recipe in order, under a terminal as an operator would
// (some commands, such as nats stream view, refuse to run without one), against the runner's
// server, and returns what each printed. A command that fails fails the test.
func (r Runner) RunRecipe(ctx context.Context, tb testing.TB, rec Recipe, values map[string]string) []string {
	tb.Helper()
	cmds, err := rec.Commands(values)
	if err != nil {
		tb.Fatal(err)
	}
	outs := make([]string, 0, len(cmds))
	for _, args := range cmds {
		out := r.RunInTerminal(ctx, tb, args...)
		tb.Logf("recipe %s: nats %s\n%s", rec.Name, strings.Join(args, " "), out)
		outs = append(outs, out)
	}
	return outs
}

// SplitCommand splits a shell line into words the way sh would for a plain command: blanks
// separate words, 'single' and "double" quotes group, a backslash escapes the next character
// outside single quotes, and an unquoted # starting a word begins a comment. Anything that would
// make the shell do more than run one command (pipes, redirections, variables, substitutions,
// command lists) is an error: a recipe must mean the same run by sh or by a test.
func SplitCommand(line string) ([]string, error) {
	var (
		words   []string
		cur     strings.Builder
		inWord  bool
		quote   rune // 0, '\'' or '"'
		escaped bool
	)
	for _, c := range line {
		switch {
		case escaped:
			cur.WriteRune(c)
			escaped = false
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteRune(c)
			}
		case quote == '"':
			switch c {
			case '"':
				quote = 0
			case '\\':
				escaped = true
			case '$', '`':
				return nil, fmt.Errorf("%q: %q inside double quotes is expanded by the shell; use single quotes", line, c)
			default:
				cur.WriteRune(c)
			}
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '#' && !inWord:
			return words, nil
		case strings.ContainsRune("|&;<>()$`*?[]{}~", c):
			return nil, fmt.Errorf("%q: %q makes the shell do more than run one command; recipes are plain nats commands", line, c)
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == '\\':
			escaped, inWord = true, true
		default:
			cur.WriteRune(c)
			inWord = true
		}
	}
	if quote != 0 || escaped {
		return nil, fmt.Errorf("%q: unterminated quote or escape", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
