package auth_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/gateway/auth"
)

func TestConfigFromEnv(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := auth.ConfigFromEnv(envconfig.Map(map[string]string{
		auth.EnvKeysFile: "/etc/jetflow/keys/keys.json", auth.EnvReloadInterval: "30s", auth.EnvClientCAFile: ca,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.KeysFile != "/etc/jetflow/keys/keys.json" || cfg.ReloadInterval != 30*time.Second || cfg.ClientCAFile != ca {
		t.Fatalf("config = %+v", cfg)
	}

	_, err = auth.ConfigFromEnv(envconfig.Map(map[string]string{
		auth.EnvReloadInterval: "1ns", auth.EnvClientCAFile: filepath.Join(t.TempDir(), "none.pem"),
	}))
	for _, name := range []string{auth.EnvKeysFile, auth.EnvReloadInterval, auth.EnvClientCAFile} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("bad environment: error %v does not name %s", err, name)
		}
	}

	if got := envconfig.Names(auth.Env); !slices.Equal(got, []string{auth.EnvKeysFile, auth.EnvReloadInterval, auth.EnvClientCAFile}) {
		t.Errorf("Env declares %v", got)
	}
}
