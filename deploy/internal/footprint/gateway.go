package footprint

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jetflow-dev/jetflow/internal/gateway/auth"
)

// GatewayEnv is what the gateway needs besides Platform.Env to start: a key file (it refuses to
// start without one; written into dir with a development key, which the measurement never
// uses), its API on any free local port, and no dead-letter advisory catcher, as deployed.
func GatewayEnv(dir string) (map[string]string, error) {
	_, keys, err := auth.NewDevKeys("footprint")
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(keys)
	if err != nil {
		return nil, fmt.Errorf("encoding the gateway's key file: %w", err)
	}
	path := filepath.Join(dir, "gateway-keys.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return nil, fmt.Errorf("writing the gateway's key file: %w", err)
	}
	return map[string]string{
		auth.EnvKeysFile:         path,
		"GATEWAY_ADDR":           "127.0.0.1:0",
		"DEAD_LETTER_ADVISORIES": "false",
	}, nil
}
