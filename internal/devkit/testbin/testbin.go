// Package testbin finds the binaries tests run as processes: the ones `make binaries` built into
// JETFLOW_WORKER_BIN (make test says where), or else builds them once per test process, so a
// package's tests also run under a bare `go test`.
package testbin

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/jetflow-dev/jetflow/internal/devkit/natscli"
)

// DirEnv names the directory of the binaries make binaries built.
const DirEnv = "JETFLOW_WORKER_BIN"

var (
	mu       sync.Mutex
	builtDir string // made by Path, removed by RemoveBuilt
)

// Path returns DirEnv/name when that file exists, and otherwise the binary of pkg (a package
// path or ./cmd/<name>, resolved at the repository root) built once per test process with the
// tags and stripping of make binaries.
func Path(tb testing.TB, name, pkg string) string {
	tb.Helper()
	if dir := os.Getenv(DirEnv); dir != "" {
		if bin := filepath.Join(dir, name); isFile(bin) {
			return bin
		}
	}
	root := natscli.RepoRoot(tb)
	mu.Lock()
	defer mu.Unlock()
	if builtDir == "" {
		dir, err := os.MkdirTemp("", "jetflow-test-bin-*")
		if err != nil {
			tb.Fatal(err)
		}
		builtDir = dir
	}
	bin := filepath.Join(builtDir, name)
	if isFile(bin) {
		return bin
	}
	// Not -trimpath or CGO_ENABLED=0 (make binaries' release flags): the flags of go vet's
	// compile, so the packages it compiled come from the cache.
	cmd := exec.CommandContext(context.Background(), "go", "build", "-tags", "grpcnotrace", "-ldflags=-s -w", "-o", bin, pkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("building %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// RemoveBuilt removes what Path built; call it from TestMain after m.Run.
func RemoveBuilt() error {
	mu.Lock()
	defer mu.Unlock()
	if builtDir == "" {
		return nil
	}
	err := os.RemoveAll(builtDir)
	builtDir = ""
	return err
}

func isFile(path string) bool {
	info, err := os.Stat(path)
	return err == nil && !info.IsDir()
}
