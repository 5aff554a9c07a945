package client

import (
	"io"
	"os"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
)

// Env is what a client command runs with.
type Env struct {
	Stdout, Stderr io.Writer
	// Lookup reads the environment (JETFLOW_GATEWAY, JETFLOW_API_KEY); nil means os.LookupEnv.
	Lookup envconfig.Lookup
	// DevKeyFile is where jetflow dev's development key is looked for; "" means DevKeyPath.
	DevKeyFile string
}

func (e Env) devKeyPath() string {
	if e.DevKeyFile == "" {
		return DevKeyPath
	}
	return e.DevKeyFile
}

func (e Env) lookup() envconfig.Lookup {
	if e.Lookup == nil {
		return os.LookupEnv
	}
	return e.Lookup
}
