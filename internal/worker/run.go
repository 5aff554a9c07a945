package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/health"
	"github.com/jetflow-dev/jetflow/internal/natsconn"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/internal/telemetry"
	"github.com/jetflow-dev/jetflow/streams"
)

// Main runs a worker process until SIGTERM or SIGINT and returns its exit code.
func Main(name string, build Build) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("service", name)
	if err := Run(ctx, name, os.LookupEnv, log, build); err != nil {
		log.Error("exiting", "error", err)
		return 1
	}
	return 0
}

// Run is Main without the process: it reads the environment through lookup and returns when
// ctx ends and everything has stopped.
func Run(ctx context.Context, name string, lookup envconfig.Lookup, log *slog.Logger, build Build, opts ...RunOption) (err error) {
	var o runOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.healthListener != nil {
		// Closed here whatever happens before the health server takes it over (it closes it
		// itself at shutdown; a second Close only returns an error nobody needs).
		defer o.healthListener.Close()
	}
	r := envconfig.New(lookup)
	settings := settingsFromEnv(r)
	natsCfg := natsconn.FromEnv(r, name)
	statusCfg := statusConfigFromEnv(r, name)
	if err := r.Err(); err != nil {
		return fmt.Errorf("reading configuration: %w", err)
	}
	log = slog.New(levelHandler{Handler: log.Handler(), level: settings.LogLevel})

	tel, err := telemetry.Setup(ctx, name, lookup, o.telemetry...)
	if err != nil {
		return err
	}
	defer func() {
		if err := tel.Shutdown(context.WithoutCancel(ctx)); err != nil {
			log.Warn("flushing telemetry", "error", err)
		}
	}()

	nc, err := natsconn.Connect(ctx, natsCfg, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("creating JetStream context: %w", err)
	}
	env := &Env{Name: name, Log: log, Config: r, Lookup: lookup, NC: nc, JS: js, Telemetry: tel}
	defer func() {
		if stopErr := env.stop(context.WithoutCancel(ctx)); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("stopping %s: %w", name, stopErr))
		}
	}()
	runners, err := build(ctx, env)
	if err == nil {
		err = r.Err()
	}
	if err != nil {
		return fmt.Errorf("building %s: %w", name, err)
	}
	if settings.AdvisoryCatcher {
		catcher, err := env.Stages(StageSpec{Consumer: streams.ConsumerDeadLetterAdvisories, Handler: stage.AdvisoryCatcher{JS: js}})
		if err != nil {
			return fmt.Errorf("building the dead-letter advisory catcher: %w", err)
		}
		runners = append(runners, catcher...)
	}
	runners = append(runners, env.statusPublisher(statusCfg))

	hs := health.New(tel.Metrics, log)
	hs.AddCheck("nats", func(context.Context) error {
		if !nc.IsConnected() {
			return fmt.Errorf("NATS connection is %v", nc.Status())
		}
		return nil
	})
	for _, rn := range runners {
		if s, ok := rn.(*stage.Stage); ok {
			hs.AddCheck("consumer "+s.Name(), s.Check)
		}
	}
	return runAll(ctx, log, nc, settings, hs, o.healthListener, runners)
}

// runAll runs the health server (on healthLn when given, else on settings.HealthAddr) and every
// runner until ctx ends, then drains the connection.
func runAll(ctx context.Context, log *slog.Logger, nc *nats.Conn, settings Settings, hs *health.Server, healthLn net.Listener, runners []Runner) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(runners)+1)
	healthCtx, stopHealth := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHealth()
	healthDone := make(chan error, 1)
	go func() {
		if healthLn != nil {
			healthDone <- hs.ServeListener(healthCtx, healthLn)
			return
		}
		healthDone <- hs.Serve(healthCtx, settings.HealthAddr)
	}()
	for _, rn := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := rn.Run(runCtx); err != nil {
				errs <- fmt.Errorf("running %s: %w", rn.Name(), err)
				cancel() // one stage failing takes the process down; Kubernetes restarts it
			}
		}()
	}
	log.Info("started", "runners", len(runners))
	select {
	case <-runCtx.Done():
	case err := <-healthDone:
		cancel()
		wg.Wait()
		return err
	}
	log.Info("shutting down")
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if err := drain(nc, settings.DrainTimeout); err != nil {
		log.Warn("draining NATS connection", "error", err)
	}
	stopHealth()
	if err := <-healthDone; err != nil {
		all = append(all, err)
	}
	log.Info("stopped")
	return errors.Join(all...)
}

// drain flushes what the process published and acked, and closes the connection, within limit.
func drain(nc *nats.Conn, limit time.Duration) error {
	if nc.IsClosed() {
		return nil
	}
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		nc.Close()
		return fmt.Errorf("starting drain: %w", err)
	}
	select {
	case <-closed:
		return nil
	case <-time.After(limit):
		nc.Close()
		return fmt.Errorf("drain did not finish within %v", limit)
	}
}
