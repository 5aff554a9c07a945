// Package natscli runs the pinned `nats` CLI (tools/go.mod) from tests, to prove that the
// operator recipes in the README work against a real server exactly as printed.
package natscli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// RepoRoot finds the repository root (the directory holding tools/go.mod) above the test's
// working directory.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatalf("finding the working directory: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "tools", "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("no tools/go.mod above the working directory")
		}
		dir = parent
	}
}

// Build builds the CLI for the test and returns its path. The binary is in tb.TempDir(), so the
// testing package removes it when the test ends and no test binary leaves one behind (each is
// 35 MB or more). The Go build cache makes a build take about two seconds after the first on a
// machine, so a test that needs the CLI builds it once and keeps the path.
func Build(tb testing.TB) string {
	tb.Helper()
	root := RepoRoot(tb)
	bin := filepath.Join(tb.TempDir(), "nats")
	cmd := exec.CommandContext(context.Background(), "go", "build", "-modfile="+filepath.Join(root, "tools", "go.mod"), "-o", bin, "github.com/nats-io/natscli/nats")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("building the nats CLI: %v\n%s", err, out)
	}
	return bin
}

// Runner runs the CLI against one server, isolated from the user's contexts and NATS_* variables.
type Runner struct {
	Bin    string
	Dir    string // working directory; the repository root makes README paths work
	Server string
	Home   string
}

// New builds the CLI for the test (Build) and returns a runner for server, working in the
// repository root.
func New(tb testing.TB, server string) Runner {
	tb.Helper()
	return Runner{Bin: Build(tb), Dir: RepoRoot(tb), Server: server, Home: tb.TempDir()}
}

// Run runs `nats --server <server> --no-context args...` and returns its combined output,
// failing the test when it exits non-zero.
func (r Runner) Run(ctx context.Context, tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := r.Try(ctx, args...)
	if err != nil {
		tb.Fatalf("nats %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// RunInTerminal runs the CLI under a pseudo-terminal (util-linux `script`), for commands such
// as `nats stream view` that refuse to run without one, and returns what it printed.
func (r Runner) RunInTerminal(ctx context.Context, tb testing.TB, args ...string) string {
	tb.Helper()
	return r.RunRawInTerminal(ctx, tb, append([]string{"--server", r.Server, "--no-context"}, args...)...)
}

// RunRawInTerminal is RunInTerminal with exactly args (no --server added), as a printed recipe
// would run.
func (r Runner) RunRawInTerminal(ctx context.Context, tb testing.TB, args ...string) string {
	tb.Helper()
	if _, err := exec.LookPath("script"); err != nil {
		tb.Skip("util-linux script is not installed; it gives the CLI a terminal")
	}
	quoted := make([]string, 0, len(args)+1)
	for _, a := range append([]string{r.Bin}, args...) {
		quoted = append(quoted, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	out, err := r.exec(ctx, "script", "-qefc", strings.Join(quoted, " "), "/dev/null")
	if err != nil {
		tb.Fatalf("nats %s (in a terminal): %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.ReplaceAll(out, "\r\n", "\n")
}

// TryRaw runs the CLI with exactly args (no --server added), as a printed recipe would.
func (r Runner) TryRaw(ctx context.Context, args ...string) (string, error) {
	return r.exec(ctx, r.Bin, args...)
}

// Try is Run that returns the error instead of failing.
func (r Runner) Try(ctx context.Context, args ...string) (string, error) {
	args = append([]string{"--server", r.Server, "--no-context"}, args...)
	return r.exec(ctx, r.Bin, args...)
}

func (r Runner) exec(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = r.Dir
	env := []string{"HOME=" + r.Home, "XDG_CONFIG_HOME=" + r.Home}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NATS_") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
