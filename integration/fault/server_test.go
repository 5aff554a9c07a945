package fault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Server is one nats-server process with JetStream on file storage. It keeps its port and store
// across Stop/Kill and Restart, as a restarted pod keeps its volume and service address.
type Server struct {
	Name     string
	Port     int // client port on 127.0.0.1
	StoreDir string

	t       *testing.T
	bin     string
	conf    string // the config file
	cluster *clusterPorts
	proc    *process
	starts  int
}

// clusterPorts is the route addresses of every server of a cluster.
type clusterPorts struct {
	name   string
	routes []int // route port of each server, in order
	index  int   // this server's position
}

// StartServer starts a single JetStream server on a free loopback port, with its own store
// under t.TempDir(), and waits until JetStream answers.
func StartServer(t *testing.T) *Server {
	t.Helper()
	s := newServer(t, "n1", nil)
	s.startFresh()
	s.WaitReady()
	return s
}

func newServer(t *testing.T, name string, cluster *clusterPorts) *Server {
	t.Helper()
	dir := t.TempDir()
	return &Server{
		Name: name, StoreDir: filepath.Join(dir, "store"), t: t, bin: NATSServerBinary(t),
		conf: filepath.Join(dir, "nats.conf"), cluster: cluster,
	}
}

// URL is the client URL.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.Port) }

// Running reports whether the process is up.
func (s *Server) Running() bool { return s.proc != nil && s.proc.running() }

// Stop sends SIGTERM (lame duck is not used: nats-server stops at once and flushes its store)
// and waits for the exit.
func (s *Server) Stop() {
	s.t.Helper()
	if err := s.proc.signal(syscall.SIGTERM, 30*time.Second); err != nil {
		s.t.Fatalf("stopping %s: %v", s.Name, err)
	}
}

// Kill sends SIGKILL and waits for the exit: whatever the server had not synced is lost, as in
// a crash.
func (s *Server) Kill() {
	s.t.Helper()
	if err := s.proc.signal(syscall.SIGKILL, 10*time.Second); err != nil {
		s.t.Fatalf("killing %s: %v", s.Name, err)
	}
}

// Restart starts the server again on the same port and store (after Stop or Kill) and waits
// until JetStream answers. The port may still be held for a moment by the old process's
// sockets, so a start that finds it in use is retried.
func (s *Server) Restart() {
	s.t.Helper()
	if s.Running() {
		s.t.Fatalf("restarting %s: it is still running", s.Name)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := s.start()
		if err == nil {
			break
		}
		if !errors.Is(err, errAddrInUse) || time.Now().After(deadline) {
			s.t.Fatalf("restarting %s: %v", s.Name, err)
		}
		time.Sleep(200 * time.Millisecond) // waiting for the kernel to free the port; nothing to poll
	}
	s.WaitReady()
}

// Starts is how many times the process was started.
func (s *Server) Starts() int { return s.starts }

var errAddrInUse = errors.New("address already in use")

// startFresh picks a free port and starts; another process may take the port between the pick
// and the server's listen, so a start that finds it in use picks another.
func (s *Server) startFresh() {
	s.t.Helper()
	for attempt := 0; ; attempt++ {
		s.Port = freePort(s.t)
		err := s.start()
		if err == nil {
			return
		}
		if !errors.Is(err, errAddrInUse) || attempt == 5 {
			s.t.Fatalf("starting %s: %v", s.Name, err)
		}
	}
}

// start writes the config and starts the process; it returns once the server logged that it is
// ready, or with errAddrInUse when a port was taken.
func (s *Server) start() error {
	s.t.Helper()
	if err := os.WriteFile(s.conf, []byte(s.config()), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", s.conf, err)
	}
	proc, err := startProcess(s.t, "nats-server "+s.Name, s.bin, []string{"-c", s.conf}, nil)
	if err != nil {
		return err
	}
	s.proc = proc
	s.starts++
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := proc.out.String()
		if strings.Contains(out, "address already in use") {
			_ = proc.signal(syscall.SIGKILL, 5*time.Second)
			return fmt.Errorf("%s on port %d: %w", s.Name, s.Port, errAddrInUse)
		}
		if strings.Contains(out, "Server is ready") {
			return nil
		}
		if !proc.running() {
			return fmt.Errorf("%s exited at start: %v\n%s", s.Name, proc.err, tail(out, 3000))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within 30s:\n%s", s.Name, tail(out, 3000))
		}
		time.Sleep(20 * time.Millisecond) // polling the log
	}
}

func (s *Server) config() string {
	var b strings.Builder
	fmt.Fprintf(&b, "server_name: %s\nlisten: 127.0.0.1:%d\n", s.Name, s.Port)
	fmt.Fprintf(&b, "jetstream {\n  store_dir: %q\n  max_memory_store: 256MB\n  max_file_store: 4GB\n}\n", s.StoreDir)
	if c := s.cluster; c != nil {
		fmt.Fprintf(&b, "cluster {\n  name: %s\n  listen: 127.0.0.1:%d\n  routes: [\n", c.name, c.routes[c.index])
		for i, port := range c.routes {
			if i != c.index {
				fmt.Fprintf(&b, "    nats-route://127.0.0.1:%d\n", port)
			}
		}
		b.WriteString("  ]\n}\n")
	}
	return b.String()
}

// WaitReady waits until the server's JetStream answers an account info request (in a cluster:
// until the meta group has a leader).
func (s *Server) WaitReady() {
	s.t.Helper()
	if err := waitJetStream(s.URL(), 60*time.Second); err != nil {
		s.t.Fatalf("%s: %v\n%s", s.Name, err, tail(s.proc.out.String(), 3000))
	}
}

func waitJetStream(url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		last = func() error {
			nc, err := nats.Connect(url, nats.Timeout(2*time.Second))
			if err != nil {
				return err
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err = js.AccountInfo(ctx)
			return err
		}()
		if last == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond) // polling the server
	}
	return fmt.Errorf("JetStream at %s not answering within %v: %w", url, within, last)
}

// handedOut are the ports freePort returned, so that it never returns one twice: a closed
// listener's port may come back from the kernel at once, and a cluster picks several before any
// server listens.
var (
	portsMu   sync.Mutex
	handedOut = map[int]bool{}
)

// freePort returns a loopback port that was free a moment ago. Another process may take it
// before the server listens: startFresh retries with another.
func freePort(t *testing.T) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("finding a free port: %v", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !handedOut[port] {
			handedOut[port] = true
			return port
		}
	}
}
