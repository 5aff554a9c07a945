// Package natsserver runs a NATS server with JetStream inside the current process. Tests use it
// through jstest; `make run` and `jetflow dev` use it so the platform runs without a cluster.
package natsserver

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options tunes the embedded server. The zero value gives a server on a random loopback port with
// JetStream in a fresh temporary directory that is removed on Shutdown. The server listens on
// 127.0.0.1 only and logs nothing.
type Options struct {
	// StoreDir is where JetStream keeps its data. Empty means a temporary directory that
	// Shutdown removes; a set directory is kept, so data survives a restart.
	StoreDir string
	// Port for clients. 0 means a random free port.
	Port int
	// MonitorPort serves /varz, /jsz (what KEDA reads). 0 means no monitoring endpoint;
	// -1 means a random free port.
	MonitorPort int
	// MaxPayload in bytes. 0 means the server's default (1 MiB).
	MaxPayload int32
	// ConfigFile, when set, is parsed first (accounts, users, permissions) and the fields above
	// override it where they are set.
	ConfigFile string
}

// Server is a running embedded server.
type Server struct {
	*server.Server
	tempDir string
}

// Start starts a server and waits until it accepts connections.
func Start(o Options) (*Server, error) {
	opts := &server.Options{}
	if o.ConfigFile != "" {
		fileOpts, err := server.ProcessConfigFile(o.ConfigFile)
		if err != nil {
			return nil, fmt.Errorf("reading server config %s: %w", o.ConfigFile, err)
		}
		opts = fileOpts
	}
	opts.JetStream = true
	opts.NoSigs = true
	opts.NoLog = true
	opts.Host = "127.0.0.1"
	opts.Port = o.Port
	if opts.Port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	if o.MonitorPort != 0 {
		opts.HTTPHost = opts.Host
		opts.HTTPPort = o.MonitorPort
	}
	if o.MaxPayload > 0 {
		opts.MaxPayload = o.MaxPayload
	}
	s := &Server{}
	opts.StoreDir = o.StoreDir
	if opts.StoreDir == "" {
		dir, err := os.MkdirTemp("", "jetflow-js-*")
		if err != nil {
			return nil, fmt.Errorf("creating JetStream store directory: %w", err)
		}
		s.tempDir = dir
		opts.StoreDir = dir
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		s.removeTemp()
		return nil, fmt.Errorf("creating embedded NATS server: %w", err)
	}
	s.Server = ns
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		s.removeTemp()
		return nil, errors.New("embedded NATS server did not become ready in time")
	}
	return s, nil
}

// MonitorURL is the base URL of the monitoring endpoint, or "" when monitoring is off.
func (s *Server) MonitorURL() string {
	addr := s.MonitorAddr()
	if addr == nil {
		return ""
	}
	return "http://" + addr.String()
}

// Shutdown stops the server, waits for it to finish, and removes a temporary store.
func (s *Server) Shutdown() {
	s.Server.Shutdown()
	s.WaitForShutdown()
	s.removeTemp()
}

func (s *Server) removeTemp() {
	if s.tempDir != "" {
		_ = os.RemoveAll(s.tempDir)
	}
}
