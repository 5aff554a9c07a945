package auth

import (
	"time"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
)

// Environment variables of the gateway's authentication.
const (
	EnvKeysFile       = "GATEWAY_KEYS_FILE"
	EnvReloadInterval = "GATEWAY_KEYS_RELOAD_INTERVAL"
	EnvClientCAFile   = "GATEWAY_CLIENT_CA_FILE"
)

// Env declares the variables for the gateway's --help.
var Env = envconfig.Section{
	Title: "Authentication",
	Vars: []envconfig.Var{
		{Name: EnvKeysFile, Required: true, Usage: "JSON key file of the callers (a mounted Kubernetes Secret); re-read when it changes"},
		{Name: EnvReloadInterval, Default: DefaultReloadInterval, Usage: "how often the key file is checked for changes"},
		{Name: EnvClientCAFile, Default: "no client certificates", Usage: "PEM CAs that verify client certificates (mTLS callers); needs TLS"},
	},
}

// EnvConfig is the authentication part of the gateway's environment.
type EnvConfig struct {
	Config
	// ClientCAFile is the PEM CA bundle for ConfigureClientCerts; empty means no mTLS.
	ClientCAFile string
}

// ConfigFromEnv reads the variables of Env through lookup (nil means os.LookupEnv); every bad
// variable is reported, each by name.
func ConfigFromEnv(lookup envconfig.Lookup) (EnvConfig, error) {
	r := envconfig.New(lookup)
	cfg := EnvConfig{
		Config: Config{
			KeysFile:       r.Required(EnvKeysFile),
			ReloadInterval: r.Duration(EnvReloadInterval, DefaultReloadInterval, 100*time.Millisecond, time.Hour),
		},
		ClientCAFile: r.File(EnvClientCAFile, ""),
	}
	return cfg, r.Err()
}
