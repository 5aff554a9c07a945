package worker

import (
	"net"

	"github.com/jetflow-dev/jetflow/internal/telemetry"
)

// RunOption changes how Run runs the process.
type RunOption func(*runOptions)

type runOptions struct {
	healthListener net.Listener
	telemetry      []telemetry.Option
}

// WithHealthListener serves the health endpoints on ln instead of listening on HEALTH_ADDR.
// Run owns ln from then on and closes it when it returns. Tests and the dev platform bind
// 127.0.0.1:0 themselves and pass the listener, so no other process can take the port between
// choosing and binding it.
func WithHealthListener(ln net.Listener) RunOption {
	return func(o *runOptions) { o.healthListener = ln }
}

// WithTelemetry passes options to the process's telemetry set-up, for a test that collects the
// process's spans in memory (telemetry.WithTracerProvider).
func WithTelemetry(opts ...telemetry.Option) RunOption {
	return func(o *runOptions) { o.telemetry = append(o.telemetry, opts...) }
}
