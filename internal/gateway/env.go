package gateway

import (
	"time"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
)

// DefaultAddr is where cmd/gateway listens when GATEWAY_ADDR is unset: beside the shell's
// health port (HEALTH_ADDR, :8080).
const DefaultAddr = ":8081"

// Env lists every variable Build reads besides the shell's, for gateway --help. Extensions
// (authentication) list their own.
var Env = []envconfig.Section{
	{Title: "Gateway", Vars: []envconfig.Var{
		{Name: "GATEWAY_ADDR", Default: DefaultAddr, Usage: "address of the API (Connect, gRPC, gRPC-Web, HTTP+JSON), gRPC health, reflection and the page; port 0 picks a free port, logged as \"gateway listening\""},
		{Name: "GATEWAY_TLS_CERT", Usage: "certificate file (PEM, with its chain): serve TLS; needs GATEWAY_TLS_KEY. Unset: plain HTTP/1.1 and HTTP/2 (h2c)"},
		{Name: "GATEWAY_TLS_KEY", Usage: "private key file of GATEWAY_TLS_CERT"},
		{Name: "GATEWAY_GRACE_PERIOD", Default: DefaultGracePeriod, Usage: "at shutdown, how long calls in flight may finish; requests already published complete in the workers regardless"},
		{Name: "GATEWAY_MAX_WAIT", Default: DefaultMaxWait, Usage: "how long a call waits for its result when the caller set no deadline"},
	}},
}

// settings are the variables of Env, read.
type settings struct {
	addr, certFile, keyFile string
	gracePeriod, maxWait    time.Duration
}

func settingsFromEnv(r *envconfig.Reader) settings {
	s := settings{
		addr:        r.String("GATEWAY_ADDR", DefaultAddr),
		certFile:    r.File("GATEWAY_TLS_CERT", ""),
		keyFile:     r.File("GATEWAY_TLS_KEY", ""),
		gracePeriod: r.Duration("GATEWAY_GRACE_PERIOD", DefaultGracePeriod, 0, 10*time.Minute),
		maxWait:     r.Duration("GATEWAY_MAX_WAIT", DefaultMaxWait, time.Second, time.Hour),
	}
	if (s.certFile == "") != (s.keyFile == "") {
		r.Fail("GATEWAY_TLS_CERT", "GATEWAY_TLS_CERT and GATEWAY_TLS_KEY go together: set both or neither")
	}
	return s
}
