package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// natsServerPackage is the nats-server main package; go build takes its version from go.mod, so
// the external server is the one the embedded server and the tests run.
const natsServerPackage = "github.com/nats-io/nats-server/v2"

// externalServer is a nats-server process started for the run, with JetStream on file storage in
// the run's store directory, listening on a free loopback port.
type externalServer struct {
	cmd *exec.Cmd
	url string
	dir string // the directory of a built binary, removed by stop
}

// startExternalServer finds nats-server in Config.WorkerBin's directory, or builds it, and starts
// it on storeDir.
func startExternalServer(ctx context.Context, cfg Config, storeDir string) (*externalServer, error) {
	s := &externalServer{}
	bin := ""
	if cfg.WorkerBin != "" {
		if p := filepath.Join(cfg.WorkerBin, "nats-server"); isFile(p) {
			bin = p
		}
	}
	if bin == "" {
		dir, err := os.MkdirTemp("", "jetflow-bench-nats-*")
		if err != nil {
			return nil, fmt.Errorf("creating a directory for nats-server: %w", err)
		}
		s.dir = dir
		bin = filepath.Join(dir, "nats-server")
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, natsServerPackage)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if msg, err := cmd.CombinedOutput(); err != nil {
			s.removeBuilt()
			return nil, fmt.Errorf("building nats-server: %w: %s", err, bytes.TrimSpace(msg))
		}
	}
	port, err := freePort(ctx)
	if err != nil {
		s.removeBuilt()
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s.url = "nats://" + addr
	// Not ctx: the server outlives the start-up and is stopped by stop, with SIGTERM.
	s.cmd = exec.CommandContext(context.WithoutCancel(ctx), bin, "-js", "-sd", storeDir, "-a", "127.0.0.1", "-p", strconv.Itoa(port)) //nolint:gosec // our own build
	var logs tailBuffer
	s.cmd.Stdout, s.cmd.Stderr = &logs, &logs
	if err := s.cmd.Start(); err != nil {
		s.removeBuilt()
		return nil, fmt.Errorf("starting nats-server: %w", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	dialer := net.Dialer{Timeout: time.Second}
	for {
		conn, err := dialer.DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = conn.Close()
			return s, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.stop()
			return nil, fmt.Errorf("waiting for nats-server on %s: %w: %s", addr, errors.Join(err, ctx.Err()), logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cpu is the CPU time the server process has used so far (Linux; 0 elsewhere).
func (s *externalServer) cpu() time.Duration {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces: utime and
	// stime are the 12th and 13th, in clock ticks of 1/100 s.
	_, rest, ok := strings.Cut(string(data), ") ")
	fields := strings.Fields(rest)
	if !ok || len(fields) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// stop ends the server with SIGTERM and waits for it.
func (s *externalServer) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() {
			_ = s.cmd.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-done
		}
	}
	s.removeBuilt()
}

func (s *externalServer) removeBuilt() {
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

func freePort(ctx context.Context) (int, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func isFile(path string) bool {
	info, err := os.Stat(path)
	return err == nil && !info.IsDir()
}
