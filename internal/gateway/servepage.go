package gateway

import (
	"context"

	"github.com/jetflow-dev/jetflow/internal/gateway/page"
	"github.com/jetflow-dev/jetflow/internal/worker"
)

// ServePage is the Extension that serves the page (internal/gateway/page) at / of GATEWAY_ADDR.
func ServePage(_ context.Context, _ *worker.Env, cfg *Config) ([]worker.Runner, error) {
	cfg.Page = page.Handler()
	return nil, nil
}
