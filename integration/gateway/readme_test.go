package gateway

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/devkit/natscli"
	"github.com/jetflow-dev/jetflow/internal/gateway"
	"github.com/jetflow-dev/jetflow/internal/gateway/auth"
)

// exampleMarker precedes each README example of calling the gateway: a ```sh block holding
// one command (continued with backslashes), run by TestReadmeExamples exactly as printed, with
// only the address localhost:8081 replaced by the test gateway's and $JETFLOW_API_KEY set.
var exampleMarker = regexp.MustCompile(`^<!--\s*gateway-example:\s*([a-z0-9-]+)\s*-->$`)

// examples reads the marked blocks of a Markdown document.
func examples(markdown string) map[string]string {
	out := map[string]string{}
	lines := strings.Split(markdown, "\n")
	for i := 0; i < len(lines); i++ {
		m := exampleMarker.FindStringSubmatch(strings.TrimSpace(lines[i]))
		if m == nil {
			continue
		}
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) == ""; i++ {
		}
		if i >= len(lines) || strings.TrimSpace(lines[i]) != "```sh" {
			continue
		}
		var block []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			block = append(block, lines[i])
		}
		out[m[1]] = strings.Join(block, "\n")
	}
	return out
}

// What each example's output must contain.
var exampleWants = map[string]string{
	"chat-curl":       `"answer":"According to`,
	"voices-curl":     `"id":"alloy"`,
	"health-curl":     `SERVING`,
	"chat-grpcurl":    `"answer": "According to`,
	"list-grpcurl":    "jetflow.v1.ChatService",
	"chat-buf-curl":   `"answer": "According to`,
	"stream-buf-curl": `"token"`,
}

// The README's gateway examples, run as printed against the platform with a gateway that asks
// for a key. testdata/readme-examples.md holds them too, so they are run before they are in the
// README, and the two must agree once they are.
func TestReadmeExamples(t *testing.T) {
	root := natscli.RepoRoot(t)
	own, err := os.ReadFile(filepath.Join("testdata", "readme-examples.md"))
	if err != nil {
		t.Fatal(err)
	}
	want := examples(string(own))
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if inReadme := examples(string(readme)); len(inReadme) > 0 {
		for name, block := range want {
			if inReadme[name] != block {
				t.Errorf("README's example %s differs from testdata/readme-examples.md:\n%s\nwant:\n%s", name, inReadme[name], block)
			}
		}
		want = inReadme
	}
	if len(want) != len(exampleWants) {
		t.Fatalf("%d examples, the test knows %d", len(want), len(exampleWants))
	}

	key, keys, err := auth.NewDevKeys("readme")
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(auth.Config{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, harnessOptions{config: func(c *gateway.Config) {
		c.Interceptors = append(c.Interceptors, a.Interceptor())
	}})
	addr := strings.TrimPrefix(h.url, "http://")
	for name, block := range want {
		t.Run(name, func(t *testing.T) {
			wantOut, ok := exampleWants[name]
			if !ok {
				t.Fatalf("no expectation for example %s", name)
			}
			ctx, cancel := context.WithTimeout(h.p.Ctx, 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "bash", "-c", strings.ReplaceAll(block, "localhost:8081", addr))
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "JETFLOW_API_KEY="+key)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(string(out), wantOut) {
				t.Fatalf("output lacks %q:\n%s", wantOut, out)
			}
		})
	}
}
