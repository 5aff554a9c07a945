package gateway

import (
	"context"
	"fmt"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/gateway/auth"
	"github.com/jetflow-dev/jetflow/internal/worker"
)

// CommandEnv is every variable cmd/gateway reads besides the shell's: the gateway's own (Env)
// and its Authentication's. Its --help lists them; the help tests hold them to what it reads.
var CommandEnv = append(append([]envconfig.Section(nil), Env...), auth.Env)

// Authentication is the Extension that puts gateway/auth in front of every call: the key file
// of GATEWAY_KEYS_FILE (re-read while the process runs), client certificates when
// GATEWAY_CLIENT_CA_FILE is set (with TLS), and the caller's name as every request's user_id.
// Health answers without a key; the page's static files too (Config.Page is not a Connect
// handler).
func Authentication(_ context.Context, env *worker.Env, cfg *Config) ([]worker.Runner, error) {
	ac, err := auth.ConfigFromEnv(env.Lookup)
	if err != nil {
		return nil, err
	}
	ac.Logger = env.Log
	a, err := auth.New(ac.Config)
	if err != nil {
		return nil, err
	}
	if ac.ClientCAFile != "" {
		if cfg.TLS == nil {
			return nil, fmt.Errorf("%s needs TLS: set GATEWAY_TLS_CERT and GATEWAY_TLS_KEY", auth.EnvClientCAFile)
		}
		if err := auth.ConfigureClientCerts(cfg.TLS, ac.ClientCAFile); err != nil {
			return nil, err
		}
	}
	cfg.Authenticate(a)
	return []worker.Runner{keyReloader{a}}, nil
}

// Authenticate puts a in front of every call of the server cfg configures: its interceptor
// and middleware, and the caller's name as every request's user_id.
func (cfg *Config) Authenticate(a *auth.Authenticator) {
	cfg.Interceptors = append(cfg.Interceptors, a.Interceptor())
	cfg.Middleware = append(cfg.Middleware, a.Middleware)
	cfg.UserID = func(ctx context.Context) (string, bool) {
		c, ok := auth.CallerFrom(ctx)
		return c.Name, ok
	}
}

// keyReloader runs the authenticator's reload of the key file as one of the process's runners.
type keyReloader struct{ a *auth.Authenticator }

func (keyReloader) Name() string                    { return "gateway key reloader" }
func (k keyReloader) Run(ctx context.Context) error { return k.a.Run(ctx) }
