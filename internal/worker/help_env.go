package worker

import (
	"time"

	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
)

// ShellEnv lists the variables the shell reads for every worker: settingsFromEnv,
// natsconn.FromEnv, telemetry.Setup, and those the libraries under them read from the process
// environment themselves. Every worker's --help ends with them.
var ShellEnv = []envconfig.Section{
	{Title: "Process", Vars: []envconfig.Var{
		{Name: "HEALTH_ADDR", Default: ":8080", Usage: "address of /healthz, /readyz and /metrics; port 0 picks a free port, logged as \"health server listening\""},
		{Name: "LOG_LEVEL", Default: "info", Usage: "debug, info, warn or error; logs are JSON on stderr"},
		{Name: "DEAD_LETTER_ADVISORIES", Default: true, Usage: "run the dead-letter-advisories stage in this process"},
		{Name: "STATUS_INTERVAL", Default: DefaultStatusInterval, Usage: "how often this process puts its stages' breaker states in KV jetflow-status (for jetflow status) when none changes; a change is put at once; 100ms to 5s"},
		{Name: "GOMEMLIMIT", Usage: "soft memory limit, such as 200MiB", ReadBy: "the Go runtime"},
		{Name: "GOMAXPROCS", Default: "the CPUs available, or the container's CPU limit", Usage: "threads running Go code at once", ReadBy: "the Go runtime"},
	}},
	{Title: "NATS connection", Vars: []envconfig.Var{
		{Name: "NATS_URL", Default: "nats://127.0.0.1:4222", Usage: "server(s), comma-separated"},
		{Name: "NATS_CREDS", Usage: "JWT and nkey credentials file; set one way to authenticate of NATS_CREDS, NATS_NKEY, NATS_USER, NATS_TOKEN"},
		{Name: "NATS_NKEY", Usage: "nkey seed file"},
		{Name: "NATS_USER", Usage: "user name; needs NATS_PASSWORD"},
		{Name: "NATS_PASSWORD", Usage: "password of NATS_USER (never logged)"},
		{Name: "NATS_TOKEN", Usage: "token (never logged)"},
		{Name: "NATS_TLS_CA", Usage: "CA file that verifies the server"},
		{Name: "NATS_TLS_CERT", Usage: "client certificate file; needs NATS_TLS_KEY"},
		{Name: "NATS_TLS_KEY", Usage: "client key file"},
		{Name: "NATS_CONNECT_TIMEOUT", Default: 10 * time.Second, Usage: "limit on the first connection; afterwards it reconnects forever"},
		{Name: "NATS_DRAIN_TIMEOUT", Default: 10 * time.Second, Usage: "limit on draining the connection at shutdown"},
	}},
	{Title: "Telemetry (metrics are always on /metrics)", Vars: []envconfig.Var{
		{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Default: "no export", Usage: "export traces and metrics over OTLP/HTTP to this collector"},
		{Name: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", Usage: "export traces only, or to another collector"},
		{Name: "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", Usage: "export metrics only, or to another collector"},
		{Name: "OTEL_SDK_DISABLED", Default: false, Usage: "true turns tracing off"},
		{Name: "OTEL_EXPORTER_OTLP_HEADERS", Usage: "headers of every export, key=value,...; and the other OTEL_EXPORTER_OTLP_* of the specification", ReadBy: "OpenTelemetry"},
		{Name: "OTEL_TRACES_SAMPLER", Default: "parentbased_always_on", Usage: "sampler, with OTEL_TRACES_SAMPLER_ARG", ReadBy: "OpenTelemetry"},
	}},
	{Title: "Outbound HTTP (model servers, Kubernetes, KFP, OTLP)", Vars: []envconfig.Var{
		{Name: "HTTPS_PROXY", Usage: "proxy of https requests; also HTTP_PROXY, and NO_PROXY for the hosts that bypass it", ReadBy: "net/http"},
	}},
}

// ModelServerEnv lists what Env.ModelServer and modelhttp.FromEnv read for one model server:
// <prefix>_URL, _MODEL, _API_KEY and _TIMEOUT. what says which server it is; unset says what
// an unset URL means, "" when the URL is required.
func ModelServerEnv(prefix, what, unset string) []envconfig.Var {
	return []envconfig.Var{
		{Name: prefix + "_URL", Required: unset == "", Default: unset, Usage: what + ": base URL, up to and including /v1 for an OpenAI-shaped server"},
		{Name: prefix + "_MODEL", Default: "the server's", Usage: "model sent with each request"},
		{Name: prefix + "_API_KEY", Usage: "sent as a bearer token (never logged)"},
		{Name: prefix + "_TIMEOUT", Default: modelhttp.DefaultTimeout, Usage: "limit on one call (a stream: the whole stream)"},
	}
}

// BreakerEnv lists what Env.Breakers and breaker.SettingsFromEnv read for a prefix:
// <prefix>_BREAKER_FAILURES, _TIMEOUT, _PROBES and _INTERVAL. what says which breakers they tune.
func BreakerEnv(prefix, what string) []envconfig.Var {
	return []envconfig.Var{
		{Name: prefix + "_BREAKER_FAILURES", Default: breaker.DefaultConsecutiveFailures, Usage: what + ": retryable failures in a row that open a breaker"},
		{Name: prefix + "_BREAKER_TIMEOUT", Default: breaker.DefaultTimeout, Usage: "how long an open breaker waits before letting a probe through"},
		{Name: prefix + "_BREAKER_PROBES", Default: breaker.DefaultMaxRequests, Usage: "probes let through while half-open; that many successes close it"},
		{Name: prefix + "_BREAKER_INTERVAL", Default: breaker.DefaultInterval, Usage: "how often a closed breaker forgets its counts"},
	}
}
