package worker

import (
	"context"
	"errors"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/internal/telemetry"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
)

// breakerMeterScope is the one instrumentation scope of every worker's breakers, as the stage
// metrics have theirs ("github.com/jetflow-dev/jetflow/internal/stage").
const breakerMeterScope = "github.com/jetflow-dev/jetflow/internal/breaker"

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
	// breakerSettings holds each prefix's <PREFIX>_BREAKER_* once read, so stages sharing a
	// prefix share the settings and a bad value is reported once.
	breakerSettings map[string]breaker.Settings
	// statusStages are the stages Stages built, for the status publisher.
	statusStages []StageSpec
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

// stageOptions are the runtime options every stage of the process gets: the process's logger,
// tracer and meter.
func (e *Env) stageOptions() []stage.Option {
	opts := []stage.Option{stage.WithLogger(e.Log)}
	if e.Telemetry != nil {
		opts = append(opts, stage.WithTracerProvider(e.Telemetry.Tracer), stage.WithMeterProvider(e.Telemetry.Meter))
	}
	return opts
}

// Stages builds one stage per spec, each with the process's logger, tracer and meter.
func (e *Env) Stages(specs ...StageSpec) ([]Runner, error) {
	runners := make([]Runner, 0, len(specs))
	for _, spec := range specs {
		s, err := NewStage(e.JS, spec, e.stageOptions()...)
		if err != nil {
			return nil, err
		}
		runners = append(runners, s)
		e.statusStages = append(e.statusStages, spec)
	}
	return runners, nil
}

// Breakers returns the breaker set of one stage (one breaker per upstream it calls), tuned by
// <prefix>_BREAKER_FAILURES, _TIMEOUT, _PROBES and _INTERVAL (breaker.SettingsFromEnv), logging
// and exporting state changes through the process's logger and meter.
func (e *Env) Breakers(stageName, prefix string) *breaker.Set {
	s, ok := e.breakerSettings[prefix]
	if !ok {
		s = breaker.SettingsFromEnv(e.Config, prefix, breaker.Settings{})
		if e.breakerSettings == nil {
			e.breakerSettings = map[string]breaker.Settings{}
		}
		e.breakerSettings[prefix] = s
	}
	opts := []breaker.Option{breaker.WithLogger(e.Log)}
	if e.Telemetry != nil {
		opts = append(opts, breaker.WithMeter(e.Telemetry.Meter.Meter(breakerMeterScope)))
	}
	return breaker.NewSet(stageName, s, opts...)
}

// ModelServer reads a model server's endpoint, <prefix>_URL, _MODEL, _API_KEY and _TIMEOUT
// (modelhttp.FromEnv), and records <prefix>_URL as missing when it is unset. what says which
// server it is, for the operator who left it out.
func (e *Env) ModelServer(prefix, what string) modelhttp.Config {
	cfg := modelhttp.FromEnv(e.Config, prefix, modelhttp.Config{})
	if cfg.BaseURL == "" {
		e.requireFailed(prefix+"_URL", what)
	}
	return cfg
}

// RequireURL reads an absolute http(s) URL and records it as missing when it is unset. what
// says what the URL is for.
func (e *Env) RequireURL(name, what string) string {
	v := e.Config.URL(name, "")
	if v == "" {
		e.requireFailed(name, what)
	}
	return v
}

func (e *Env) requireFailed(name, what string) {
	e.Config.Fail(name, "is required: %s", what)
}
