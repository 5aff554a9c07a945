package footprint

import (
	"testing"

	"github.com/jetflow-dev/jetflow/internal/gateway/auth"
)

// TestGatewayEnvStartsTheGateway: the key file it writes is one the gateway loads; without it
// the gateway would refuse to start and the footprint would measure nothing.
func TestGatewayEnvStartsTheGateway(t *testing.T) {
	env, err := GatewayEnv(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.Load(env[auth.EnvKeysFile]); err != nil {
		t.Fatalf("the gateway would not load the key file: %v", err)
	}
	if env["DEAD_LETTER_ADVISORIES"] != "false" || env["GATEWAY_ADDR"] == "" {
		t.Errorf("env %v: want the API on a free port and no advisory catcher, as deployed", env)
	}
}
