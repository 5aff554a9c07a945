package worker

import (
	"context"
	"log/slog"
	"time"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
)

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
