// Package natscli runs the pinned `nats` CLI (tools/go.mod) from tests, to prove that the
// operator recipes in the README work against a real server exactly as printed.
package natscli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
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

// Build builds the CLI once per test binary and returns its path. The Go build cache makes it
// take seconds after the first build on a machine.
func Build(tb testing.TB) string {
	tb.Helper()
	root := RepoRoot(tb)
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "jetflow-natscli-*")
		if err != nil {
			buildErr = err
			return
		}
		bin := filepath.Join(dir, "nats")
		cmd := exec.CommandContext(context.Background(), "go", "build", "-modfile="+filepath.Join(root, "tools", "go.mod"), "-o", bin, "github.com/nats-io/natscli/nats")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = errors.New("building the nats CLI: " + err.Error() + "\n" + string(out))
			return
		}
		builtBin = bin
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return builtBin
}

// Runner runs the CLI against one server, isolated from the user's contexts and NATS_* variables.
type Runner struct {
	Bin    string
	Dir    string // working directory; the repository root makes README paths work
	Server string
	Home   string
}

// New builds the CLI and returns a runner for server, working in the repository root.
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
	if _, err := exec.LookPath("script"); err != nil {
		tb.Skip("util-linux script is not installed; it gives the CLI a terminal")
	}
	args = append([]string{r.Bin, "--server", r.Server, "--no-context"}, args...)
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	out, err := r.exec(ctx, "script", "-qefc", strings.Join(quoted, " "), "/dev/null")
	if err != nil {
		tb.Fatalf("nats %s (in a terminal): %v\n%s", strings.Join(args[1:], " "), err, out)
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
