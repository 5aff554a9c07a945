// Package health serves a worker's probes and metrics: /healthz (the process is alive),
// /readyz (connected to NATS and every stage's consumer exists) and /metrics.
package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Check reports why the process is not ready, or nil.
type Check func(ctx context.Context) error

// Server is the health and metrics HTTP server.
type Server struct {
	mux    *http.ServeMux
	log    *slog.Logger
	mu     sync.Mutex
	checks map[string]Check
	names  []string
}

// New returns a server; metrics may be nil.
func New(metrics http.Handler, log *slog.Logger) *Server {
	s := &Server{mux: http.NewServeMux(), log: log, checks: map[string]Check{}}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /readyz", s.ready)
	if metrics != nil {
		s.mux.Handle("GET /metrics", metrics)
	}
	return s
}

// AddCheck registers a readiness check under a name shown in the /readyz answer.
func (s *Server) AddCheck(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.checks[name]; !ok {
		s.names = append(s.names, name)
	}
	s.checks[name] = c
}

// Handler is the server's HTTP handler, for tests and for mounting elsewhere.
func (s *Server) Handler() http.Handler { return s.mux }

type readiness struct {
	Ready  bool              `json:"ready"`
	Checks map[string]string `json:"checks"`
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	s.mu.Lock()
	names := append([]string(nil), s.names...)
	checks := make([]Check, len(names))
	for i, n := range names {
		checks[i] = s.checks[n]
	}
	s.mu.Unlock()

	res := readiness{Ready: true, Checks: map[string]string{}}
	if len(names) == 0 {
		res.Ready = false
		res.Checks["startup"] = "no checks registered yet"
	}
	for i, n := range names {
		if err := checks[i](ctx); err != nil {
			res.Ready = false
			res.Checks[n] = err.Error()
		} else {
			res.Checks[n] = "ok"
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if !res.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(res)
}

// Limits of the health server: how long a client may take to send its request headers, and how
// long requests in flight get to finish at shutdown.
const (
	readHeaderTimeout = 5 * time.Second
	shutdownTimeout   = 5 * time.Second
)

// Serve listens on addr until ctx ends, then shuts down within shutdownTimeout. It returns the listener's
// error, or nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, addr string) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listening for health checks on %s: %w", addr, err)
	}
	return s.ServeListener(ctx, ln)
}

// ServeListener is Serve on a listener the caller bound (a test's or the dev platform's, held
// from choosing the port to serving on it); it closes ln when it returns.
func (s *Server) ServeListener(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: readHeaderTimeout}
	s.log.Info("health server listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving health checks: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if serveErr := <-errc; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	if err != nil {
		return fmt.Errorf("stopping health server: %w", err)
	}
	return nil
}
