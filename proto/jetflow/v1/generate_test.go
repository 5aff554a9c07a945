package jetflowv1

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/devkit/natscli"
)

// These tests run the buf pinned in tools/go.mod, so they need the go command (go test puts
// its own on the PATH) and the tools in the module cache. The first run on a cold machine
// builds buf, which takes minutes; later runs take seconds.

// The tests are not parallel on purpose: on a cold machine the first one builds buf and the
// others reuse it, instead of three builds competing for two cores.

// bufTimeout bounds one buf run, cold tool build included.
const bufTimeout = 8 * time.Minute

// TestGeneratedCodeIsCurrent regenerates the Go code into a temporary directory and compares
// it byte for byte with the committed code, so a .proto edit without `make proto` fails here
// and not in a reviewer's head.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs buf generate; skipped with -short")
	}
	root := natscli.RepoRoot(t)
	out := t.TempDir()
	runBuf(t, root, "generate", "--template", filepath.Join(root, "buf.gen.yaml"), "-o", out)

	generated := map[string]bool{}
	err := filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(out, path)
		if err != nil {
			return err
		}
		generated[rel] = true
		want, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		got, err := os.ReadFile(filepath.Join(root, rel))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			t.Errorf("%s is not committed: run make proto", rel)
		case err != nil:
			return err
		case !bytes.Equal(got, want):
			t.Errorf("%s is stale: run make proto", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("comparing generated code: %v", err)
	}
	if len(generated) == 0 {
		t.Fatal("buf generate wrote no files")
	}

	// A generated file whose .proto was removed or renamed is stale too.
	err = filepath.WalkDir(filepath.Join(root, "proto"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !strings.HasSuffix(path, ".pb.go") && !strings.HasSuffix(path, ".connect.go") {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		if !generated[rel] {
			t.Errorf("%s is no longer generated: delete it and run make proto", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("looking for leftover generated code: %v", err)
	}
}

// TestBufLint fails on any finding of buf lint (STANDARD rules, see buf.yaml).
func TestBufLint(t *testing.T) {
	if testing.Short() {
		t.Skip("runs buf lint; skipped with -short")
	}
	runBuf(t, natscli.RepoRoot(t), "lint")
}

// TestBufFormat fails when a .proto file is not in buf's canonical format.
func TestBufFormat(t *testing.T) {
	if testing.Short() {
		t.Skip("runs buf format; skipped with -short")
	}
	runBuf(t, natscli.RepoRoot(t), "format", "--diff", "--exit-code")
}

// runBuf runs the pinned buf in root and fails the test with buf's output if it fails.
func runBuf(t *testing.T, root string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), bufTimeout)
	defer cancel()
	args = append([]string{"tool", "-modfile=" + filepath.Join(root, "tools", "go.mod"), "buf"}, args...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root // buf.gen.yaml's plugin commands and inputs are relative to the root
	output, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s\nfix the findings, then run make proto", strings.Join(args, " "), err, output)
	}
}
