package fault

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/devkit/healthlog"
	"github.com/jetflow-dev/jetflow/internal/devkit/syncbuf"
)

// process is one run of a binary, with its combined output.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	log  *healthlog.Watcher // out, with a worker's health address picked out
	// exited is closed once the process has exited; err is then its exit error.
	exited chan struct{}
	err    error
}

// startProcess starts bin and kills it at the end of the test unless it has exited by then.
// Every run's output is kept on the test's log when the test fails.
func startProcess(t *testing.T, name, bin string, args, env []string) (*process, error) {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	p := &process{name: name, cmd: cmd, out: &syncbuf.Buffer{}, exited: make(chan struct{})}
	p.log = healthlog.Watch(p.out)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("--- output of %s (pid %d, %v):\n%s", name, cmd.Process.Pid, p.err, tail(p.out.String(), 6000))
		}
	})
	return p, nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}

func (p *process) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// signal sends sig and waits up to within for the exit. With SIGKILL the exit status is the
// signal's; with SIGTERM a non-zero exit is reported.
func (p *process) signal(sig syscall.Signal, within time.Duration) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("sending %v to %s: %w", sig, p.name, err)
	}
	select {
	case <-p.exited:
	case <-time.After(within):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s still running %v after %v (killed)", p.name, within, sig)
	}
	if sig != syscall.SIGKILL && p.err != nil {
		return fmt.Errorf("%s exit after %v: %w", p.name, sig, p.err)
	}
	return nil
}
