package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jetflow-dev/jetflow/internal/devkit/healthlog"
)

// chatHandlerPackage is what chatHandler builds when Config.WorkerBin is empty.
const chatHandlerPackage = "github.com/jetflow-dev/jetflow/cmd/chat-handler"

// chatHandler is the path of the chat-handler binary: Config.WorkerBin (a file, or a directory
// holding chat-handler), else one built once per run the way make binaries builds it, so the
// measured process is the deployed one (static, stripped).
func (h *Harness) chatHandler(ctx context.Context) (string, error) {
	h.workerOnce.Do(func() { h.workerBin, h.workerErr = h.findOrBuildWorker(ctx) })
	return h.workerBin, h.workerErr
}

func (h *Harness) findOrBuildWorker(ctx context.Context) (string, error) {
	if p := h.cfg.WorkerBin; p != "" {
		info, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("finding the chat-handler binary: %w", err)
		}
		if info.IsDir() {
			p = filepath.Join(p, "chat-handler")
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("finding the chat-handler binary: %w", err)
			}
		}
		return p, nil
	}
	dir, err := os.MkdirTemp("", "jetflow-bench-bin-*")
	if err != nil {
		return "", fmt.Errorf("creating a directory for chat-handler: %w", err)
	}
	h.workerDir = dir
	out := filepath.Join(dir, "chat-handler")
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", "grpcnotrace", "-ldflags=-s -w", "-o", out, chatHandlerPackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building chat-handler (set -worker-bin or JETFLOW_WORKER_BIN to use a built one): %w: %s",
			err, bytes.TrimSpace(msg))
	}
	h.log.Info("built chat-handler", "path", out, "took", time.Since(start).Round(time.Millisecond))
	return out, nil
}

// workerProc is one chat-handler process.
type workerProc struct {
	cmd    *exec.Cmd
	stderr *tailBuffer
	done   chan struct{} // closed when the process has exited and waitErr is set
	err    error
}

// startWorker starts bin with env (and nothing else from this process's environment, so no
// stray OTEL_* or LOG_LEVEL changes what is measured) and waits until its /readyz answers 200.
// Its health server takes any free port, read from its log: env's LOG_LEVEL must be info or
// below.
func startWorker(ctx context.Context, bin string, env map[string]string) (*workerProc, error) {
	env["HEALTH_ADDR"] = healthlog.AnyPort
	// The process must outlive no measurement, but ending ctx should stop it the way
	// Kubernetes does: SIGTERM, then a kill after a grace period.
	cmd := exec.CommandContext(ctx, bin)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &workerProc{cmd: cmd, stderr: &tailBuffer{limit: 4 << 10}, done: make(chan struct{})}
	stderr := healthlog.Watch(p.stderr)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting chat-handler: %w", err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := waitReady(ctx, stderr, p.done); err != nil {
		return nil, errors.Join(fmt.Errorf("waiting for chat-handler to be ready: %w; stderr: %s", err, p.stderr), p.stop())
	}
	return p, nil
}

func (p *workerProc) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM and waits for a clean exit (the worker finishes or naks what it holds).
func (p *workerProc) stop() error {
	select {
	case <-p.done:
	default:
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("stopping chat-handler %d: %w", p.pid(), err)
		}
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			return fmt.Errorf("chat-handler %d did not stop within 20s of SIGTERM; stderr: %s", p.pid(), p.stderr)
		}
	}
	if p.err != nil {
		return fmt.Errorf("chat-handler %d exited: %w; stderr: %s", p.pid(), p.err, p.stderr)
	}
	return nil
}

// stopAll stops every process, all at once so that their grace periods overlap.
func stopAll(procs []*workerProc) error {
	errs := make([]error, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Go(func() { errs[i] = p.stop() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitReady reads the health server's address from the worker's log and polls its /readyz
// until it answers 200, the process exits, or 60 s pass (the worker embeds the sample corpus
// before it is ready).
func waitReady(ctx context.Context, log *healthlog.Watcher, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	addr, err := log.Addr(ctx, exited)
	if err != nil {
		return err
	}
	url := "http://" + addr + "/readyz"
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("asking %s: %w", url, err)
		}
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("the process exited")
		case <-ctx.Done():
			return fmt.Errorf("asking %s: %w", url, ctx.Err())
		case <-tick.C:
		}
	}
}

// tailBuffer keeps the last limit bytes written to it, for error messages.
type tailBuffer struct {
	mu    sync.Mutex
	limit int
	buf   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.limit; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}
