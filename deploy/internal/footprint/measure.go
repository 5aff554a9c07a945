package footprint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/jetflow-dev/jetflow/deploy"
	"github.com/jetflow-dev/jetflow/internal/devkit/healthlog"
	"github.com/jetflow-dev/jetflow/streams"
)

// Limits of one measurement.
const (
	readyTimeout = 15 * time.Second
	// settle is how long the worker idles after ready before its idle memory is read: long
	// enough for the first pulls and the first metrics collection.
	settle      = time.Second
	loadTimeout = 2 * time.Minute
	// stopTimeout is the pod's terminationGracePeriodSeconds.
	stopTimeout = 45 * time.Second
)

// Target is one worker binary to measure.
type Target struct {
	Worker deploy.Worker
	// Binary is the path of the built binary (make binaries); a missing one fails Measure.
	Binary string
	// Env is the worker's environment (Platform.Env) for a health server on healthAddr: any free
	// port, which the worker then logs (so the environment must keep LOG_LEVEL at info or below).
	Env func(healthAddr string) []string
	// Load, when set, generates Requests requests once the worker is ready.
	Load     Loader
	Requests int
	// LoadNote explains a missing load generator.
	LoadNote string
	// Output receives the worker's stdout and stderr.
	Output io.Writer
}

// Measure starts the binary, measures it and stops it. Problems with the worker are reported in
// Result.Err; the error is for problems of the measurement itself.
func Measure(ctx context.Context, p *Platform, t Target) (Result, error) {
	r := Result{Worker: t.Worker.Name, LoadNote: t.LoadNote}
	st, err := os.Stat(t.Binary)
	if err != nil {
		return r, fmt.Errorf("reading the binary of %s (make binaries builds it): %w", t.Worker.Name, err)
	}
	r.Size = st.Size()
	cmd := exec.CommandContext(ctx, t.Binary)
	cmd.Env = t.Env(healthlog.AnyPort)
	out := healthlog.Watch(t.Output)
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return r, fmt.Errorf("starting %s: %w", t.Binary, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	defer func() {
		_ = cmd.Process.Kill() // no-op once it has exited
		<-exited
	}()

	if r.Ready, err = waitReady(ctx, out, start, exited); err != nil {
		r.Err = err
		return r, nil
	}
	select {
	case <-time.After(settle):
	case <-exited:
		r.Err = fmt.Errorf("exited while idle (code %d)", cmd.ProcessState.ExitCode())
		return r, nil
	}
	mem, err := ReadMemory(cmd.Process.Pid)
	if err != nil {
		r.Err = err
		return r, nil
	}
	r.IdleRSS, r.IdleAnon = mem.RSS, mem.Anon

	if t.Load != nil && t.Requests > 0 {
		if err := runLoad(ctx, p, t, &r); err != nil {
			return r, err
		}
		if mem, err = ReadMemory(cmd.Process.Pid); err != nil {
			r.Err = err
			return r, nil
		}
		r.LoadRSS = mem.Peak
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		r.Err = fmt.Errorf("sending SIGTERM: %w", err)
		return r, nil
	}
	select {
	case <-exited:
		r.Exited, r.ExitCode = true, cmd.ProcessState.ExitCode()
	case <-time.After(stopTimeout):
	}
	return r, nil
}

// waitReady reads the health server's address from the worker's log, polls its /readyz in a
// tight loop until it answers 200, and returns the time since start.
func waitReady(ctx context.Context, out *healthlog.Watcher, start time.Time, exited <-chan struct{}) (time.Duration, error) {
	deadline := start.Add(readyTimeout)
	addrCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	addr, err := out.Addr(addrCtx, exited)
	switch {
	case errors.Is(err, healthlog.ErrExited):
		return 0, errors.New("exited before it was ready (see its log above)")
	case err != nil && ctx.Err() == nil:
		return 0, fmt.Errorf("not ready within %v: %w", readyTimeout, err)
	case err != nil:
		return 0, err
	}
	url := "http://" + addr + "/readyz"
	client := &http.Client{Timeout: 200 * time.Millisecond}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return 0, err
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
		select {
		case <-exited:
			return 0, errors.New("exited before it was ready (see its log above)")
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("not ready within %v", readyTimeout)
		}
	}
}

// runLoad publishes the requests and waits until the worker's consumers have nothing pending
// or unacknowledged.
func runLoad(ctx context.Context, p *Platform, t Target, r *Result) error {
	resultsBefore, err := streamMsgs(ctx, p.JS, streams.StreamResults)
	if err != nil {
		return err
	}
	dlqBefore, err := streamMsgs(ctx, p.JS, streams.StreamDeadLetter)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	start := time.Now()
	if err := t.Load(ctx, p.JS, t.Requests); err != nil {
		return err
	}
	r.Load = t.Requests
	for {
		n, err := lag(ctx, p.JS, p.set, t.Worker.Consumers)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		select {
		case <-ctx.Done():
			r.LoadNote = fmt.Sprintf("%d still pending after %v", n, loadTimeout)
			r.LoadDuration = time.Since(start)
			return nil
		case <-time.After(20 * time.Millisecond):
		}
	}
	r.LoadDuration = time.Since(start)
	resultsAfter, err := streamMsgs(ctx, p.JS, streams.StreamResults)
	if err != nil {
		return err
	}
	dlqAfter, err := streamMsgs(ctx, p.JS, streams.StreamDeadLetter)
	if err != nil {
		return err
	}
	r.LoadNote = fmt.Sprintf("%d results, %d dead letters", resultsAfter-resultsBefore, dlqAfter-dlqBefore)
	return nil
}
