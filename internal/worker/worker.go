// Package worker is the process shell shared by every jetflow binary: logging, configuration,
// telemetry, the NATS connection, the health server, the stages, and an orderly shutdown on
// SIGTERM (stop pulling, finish or nak in-flight work, drain the connection, flush telemetry).
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// Env is what a worker's Build function gets to assemble its stages.
type Env struct {
	Name string
	Log  *slog.Logger
	// Config reads the environment and collects problems; Lookup is the raw environment, for
	// packages that read it themselves.
	Config    *envconfig.Reader
	Lookup    envconfig.Lookup
	NC        *nats.Conn
	JS        jetstream.JetStream
	Telemetry *telemetry.Providers

	atStop []func(context.Context) error
}

// AtStop registers f to run once the process stops: after every runner has returned and the
// NATS connection is drained, or when starting fails after Build registered it. Functions run in
// reverse order of registration. A Build that opens a connection to an upstream (Milvus) closes it
// here, where no handler can still be using it.
func (e *Env) AtStop(f func(context.Context) error) { e.atStop = append(e.atStop, f) }

func (e *Env) stop(ctx context.Context) error {
	var errs []error
	for i := len(e.atStop) - 1; i >= 0; i-- {
		if err := e.atStop[i](ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// StageOptions are the runtime options every stage of the process should get.
func (e *Env) StageOptions(extra ...stage.Option) []stage.Option {
	return append([]stage.Option{
		stage.WithLogger(e.Log),
		stage.WithTracerProvider(e.Telemetry.Tracer),
		stage.WithMeterProvider(e.Telemetry.Meter),
	}, extra...)
}

// Runner is a stage, or anything else the process runs until shutdown.
type Runner interface {
	Name() string
	Run(ctx context.Context) error
}

// Build assembles a worker's stages. Configuration problems go to env.Config (Fail or the typed
// readers) so that they are reported together, naming each variable.
type Build func(ctx context.Context, env *Env) ([]Runner, error)

// Settings of the shell itself, from the environment.
type Settings struct {
	HealthAddr      string        // HEALTH_ADDR, default :8080
	DrainTimeout    time.Duration // NATS_DRAIN_TIMEOUT, default 10s
	AdvisoryCatcher bool          // DEAD_LETTER_ADVISORIES, default true
	LogLevel        slog.Level
}

func settingsFromEnv(r *envconfig.Reader) Settings {
	s := Settings{
		HealthAddr:      r.String("HEALTH_ADDR", ":8080"),
		DrainTimeout:    r.Duration("NATS_DRAIN_TIMEOUT", 10*time.Second, 100*time.Millisecond, 5*time.Minute),
		AdvisoryCatcher: r.Bool("DEAD_LETTER_ADVISORIES", true),
	}
	if err := s.LogLevel.UnmarshalText([]byte(r.String("LOG_LEVEL", "info"))); err != nil {
		r.Fail("LOG_LEVEL", "must be debug, info, warn or error: %v", err)
	}
	return s
}

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
func Run(ctx context.Context, name string, lookup envconfig.Lookup, log *slog.Logger, build Build) (err error) {
	r := envconfig.New(lookup)
	settings := settingsFromEnv(r)
	natsCfg := natsconn.FromEnv(r, name)
	if err := r.Err(); err != nil {
		return fmt.Errorf("reading configuration: %w", err)
	}
	log = slog.New(levelHandler{Handler: log.Handler(), level: settings.LogLevel})

	tel, err := telemetry.Setup(ctx, name, lookup)
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
		catcher, err := stage.New(js, stage.Config{
			Name: streams.ConsumerDeadLetterAdvisories, Stream: streams.StreamAdvisories, Consumer: streams.ConsumerDeadLetterAdvisories,
		}, stage.AdvisoryCatcher{JS: js}, env.StageOptions()...)
		if err != nil {
			return fmt.Errorf("building the dead-letter advisory catcher: %w", err)
		}
		runners = append(runners, catcher)
	}

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
	return runAll(ctx, log, nc, settings, hs, runners)
}

// runAll runs the health server and every runner until ctx ends, then drains the connection.
func runAll(ctx context.Context, log *slog.Logger, nc *nats.Conn, settings Settings, hs *health.Server, runners []Runner) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(runners)+1)
	healthCtx, stopHealth := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHealth()
	healthDone := make(chan error, 1)
	go func() { healthDone <- hs.Serve(healthCtx, settings.HealthAddr) }()
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

// levelHandler filters records below a level without rebuilding the caller's handler.
type levelHandler struct {
	slog.Handler
	level slog.Level
}

func (h levelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

func (h levelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return levelHandler{Handler: h.Handler.WithAttrs(attrs), level: h.level}
}

func (h levelHandler) WithGroup(name string) slog.Handler {
	return levelHandler{Handler: h.Handler.WithGroup(name), level: h.level}
}
