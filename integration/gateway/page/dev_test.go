package page

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/devkit/syncbuf"
	"github.com/jetflow-dev/jetflow/internal/devkit/testbin"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if err := testbin.RemoveBuilt(); err != nil {
		fmt.Fprintln(os.Stderr, "removing the test binaries:", err)
	}
	os.Exit(code)
}

// devRun is a `jetflow dev` process and what it printed.
type devRun struct {
	dir     string // its working directory: a fresh one, as a new clone's
	gateway string // the gateway's URL, as printed
	key     string // the development key, as printed
	out     string // everything printed up to "Press Ctrl-C"
	logs    *syncbuf.Buffer
}

var (
	printedGateway = regexp.MustCompile(`(?m)^  gateway: (http://\S+) `)
	printedKey     = regexp.MustCompile(`(?m)^  development API key \([^)]*\): (\S+)$`)
)

// startDev runs bin/jetflow dev in a new directory, on free ports, and waits until it prints
// that everything is up. The process is interrupted (as Ctrl-C does) when the test ends, and
// must stop within 30 s.
func startDev(t *testing.T) *devRun {
	t.Helper()
	jetflow := testbin.Path(t, "jetflow", "./cmd/jetflow")
	d := &devRun{dir: t.TempDir(), logs: &syncbuf.Buffer{}}
	cmd := exec.Command(jetflow, "dev", "--port", "-1", "--monitor", "-1", "--gateway-port", "-1")
	cmd.Dir = d.dir
	cmd.Env = append(os.Environ(), "JETFLOW_API_KEY=") // the key must come from what dev prints or writes
	cmd.Stderr = d.logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting jetflow dev: %v", err)
	}
	exited := make(chan error, 1)
	printed := make(chan string, 1)
	go func() {
		var out strings.Builder
		lines := bufio.NewScanner(stdout)
		sent := false
		for lines.Scan() {
			out.WriteString(lines.Text() + "\n")
			if !sent && strings.HasPrefix(lines.Text(), "Press Ctrl-C") {
				printed <- out.String()
				sent = true
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("jetflow dev did not stop cleanly on Ctrl-C: %v\nlogs:\n%s", err, d.logs.String())
			}
			// The development key dies with its run.
			if _, err := os.Stat(filepath.Join(d.dir, ".jetflow", "data", "dev-api-key")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the development key file outlived jetflow dev: %v", err)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("jetflow dev still running 30 s after Ctrl-C\nlogs:\n%s", d.logs.String())
		}
	})
	select {
	case d.out = <-printed:
	case err := <-exited:
		t.Fatalf("jetflow dev exited before it was up: %v\nlogs:\n%s", err, d.logs.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("jetflow dev not up after 90 s\nlogs:\n%s", d.logs.String())
	}
	gw, key := printedGateway.FindStringSubmatch(d.out), printedKey.FindStringSubmatch(d.out)
	if gw == nil || key == nil {
		t.Fatalf("jetflow dev printed no gateway URL or development key:\n%s", d.out)
	}
	d.gateway, d.key = gw[1], key[1]
	return d
}

// printedCommand is the line of what jetflow dev printed that starts with prefix (after any
// VAR=value words), split into words: the words of a double-quoted argument stay together.
func printedCommand(t *testing.T, out, prefix string) (env, args []string) {
	t.Helper()
	for line := range strings.Lines(out) {
		words := splitWords(strings.TrimSpace(line))
		i := 0
		for i < len(words) && strings.Contains(words[i], "=") && !strings.HasPrefix(words[i], "-") {
			i++
		}
		if strings.HasPrefix(strings.Join(words[i:], " "), prefix) {
			return words[:i], words[i:]
		}
	}
	t.Fatalf("jetflow dev printed no line starting %q:\n%s", prefix, out)
	return nil, nil
}

// splitWords splits a command line at spaces outside double quotes, as a shell would for the
// quoting the printed commands use.
func splitWords(line string) []string {
	var words []string
	var cur strings.Builder
	quoted, inWord := false, false
	for _, r := range line {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// runJetflow runs bin/jetflow with args in dir, with env added to the environment, and returns
// its stdout, stderr and exit code.
func runJetflow(ctx context.Context, t *testing.T, dir string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.CommandContext(ctx, testbin.Path(t, "jetflow", "./cmd/jetflow"), args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "JETFLOW_API_KEY=", "JETFLOW_GATEWAY="), env...)
	var out, errs strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errs
	err := cmd.Run()
	if exit, ok := errors.AsType[*exec.ExitError](err); ok {
		return out.String(), errs.String(), exit.ExitCode()
	} else if err != nil {
		t.Fatalf("running jetflow %q: %v", args, err)
	}
	return out.String(), errs.String(), 0
}

// `make run` then `jetflow chat` from a fresh clone: the commands jetflow dev prints, run as
// printed from the directory it runs in (go run ./cmd/jetflow being the binary), get a cited
// answer, with the key from the file it wrote and with the key it printed.
func TestMakeRunThenChat(t *testing.T) {
	d := startDev(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	for _, tt := range []struct {
		name, prefix string
		dir          string
	}{
		{"from the same directory, the key from the file jetflow dev wrote", "go run ./cmd/jetflow chat", d.dir},
		{"from anywhere, with the printed key", "JETFLOW_API_KEY=", t.TempDir()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var env, words []string
			if strings.HasPrefix(tt.prefix, "JETFLOW_API_KEY=") {
				for _, line := range strings.Split(d.out, "\n") {
					if strings.HasPrefix(strings.TrimSpace(line), tt.prefix) {
						all := splitWords(strings.TrimSpace(line))
						env, words = all[:1], all[1:]
					}
				}
				if len(env) != 1 || env[0] != "JETFLOW_API_KEY="+d.key {
					t.Fatalf("the printed command carries %q, not the printed key %s", env, d.key)
				}
			} else {
				env, words = printedCommand(t, d.out, tt.prefix)
			}
			args := words[3:] // after go run ./cmd/jetflow
			stdout, stderr, code := runJetflow(ctx, t, tt.dir, env, args...)
			if code != 0 {
				t.Fatalf("jetflow %q exited %d:\n%s\n%s", args, code, stdout, stderr)
			}
			// Live tokens are at-most-once: where some were lost, the complete answer follows them.
			if !strings.Contains(stdout, "According to [source 1]:") || !strings.Contains(stdout, "KEDA") ||
				!strings.Contains(stdout, "\nSources:\n  [1] ") {
				t.Fatalf("jetflow %q printed no cited answer with its sources:\n%s\nstderr:\n%s", args, stdout, stderr)
			}
		})
	}

	t.Run("a wrong key is refused with what to do", func(t *testing.T) {
		stdout, stderr, code := runJetflow(ctx, t, t.TempDir(), []string{"JETFLOW_API_KEY=jf_wrong"}, "chat", "--gateway", d.gateway, "Hello?")
		if code != 1 || !strings.Contains(stderr, "refused the key in JETFLOW_API_KEY: use the key jetflow dev printed") {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
	})
	t.Run("say writes a WAV file that transcribe reads back", func(t *testing.T) {
		out := d.dir + "/hello.wav"
		if stdout, stderr, code := runJetflow(ctx, t, d.dir, nil, "say", "--gateway", d.gateway, "Hello from jetflow.", "-o", out); code != 0 {
			t.Fatalf("say exited %d:\n%s\n%s", code, stdout, stderr)
		}
		stdout, stderr, code := runJetflow(ctx, t, d.dir, nil, "transcribe", "--gateway", d.gateway, out)
		if code != 0 || strings.TrimSpace(stdout) != "Hello from jetflow." {
			t.Fatalf("transcribe exited %d, printed %q (stderr %q); want the spoken text back", code, stdout, stderr)
		}
	})
}
