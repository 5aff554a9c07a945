package gateway

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"github.com/jetflow-dev/jetflow/internal/worker"
)

// Extension adds to the gateway process what lives in other packages: authentication (its
// interceptors, UserID, the client certificates TLS asks for, a runner reloading keys), the
// page. It reads its variables from env.Config, so a bad one is reported with the others, and
// may change cfg; the runners it returns run beside the server.
type Extension func(ctx context.Context, env *worker.Env, cfg *Config) ([]worker.Runner, error)

// Build is the gateway process for worker.Command (cmd/gateway): the shell gives it the NATS
// connection, telemetry and the health server on HEALTH_ADDR; it serves the API on
// GATEWAY_ADDR until the process stops.
func Build(extensions ...Extension) worker.Build {
	return func(ctx context.Context, env *worker.Env) ([]worker.Runner, error) {
		set := settingsFromEnv(env.Config)
		cfg := Config{
			NC: env.NC, JS: env.JS, Log: env.Log,
			Tracer: env.Telemetry.Tracer, Meter: env.Telemetry.Meter,
			GracePeriod: set.gracePeriod, MaxWait: set.maxWait,
		}
		if set.certFile != "" {
			cert, err := tls.LoadX509KeyPair(set.certFile, set.keyFile)
			if err != nil {
				return nil, fmt.Errorf("loading GATEWAY_TLS_CERT and GATEWAY_TLS_KEY: %w", err)
			}
			cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
		var runners []worker.Runner
		for _, ext := range extensions {
			more, err := ext(ctx, env, &cfg)
			if err != nil {
				return nil, err
			}
			runners = append(runners, more...)
		}
		if err := env.Config.Err(); err != nil {
			return nil, err
		}
		srv, err := New(cfg)
		if err != nil {
			return nil, err
		}
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", set.addr)
		if err != nil {
			_ = srv.Close()
			return nil, fmt.Errorf("listening on GATEWAY_ADDR %s: %w", set.addr, err)
		}
		return append(runners, serving{srv: srv, ln: ln}), nil
	}
}

// serving is the server as one of the process's runners.
type serving struct {
	srv *Server
	ln  net.Listener
}

func (s serving) Name() string                  { return "gateway" }
func (s serving) Run(ctx context.Context) error { return s.srv.Run(ctx, s.ln) }
