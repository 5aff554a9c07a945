package modelhttp

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
)

// DefaultTimeout bounds a call whose context has no deadline and whose Config.Timeout is zero.
// It is generous because a non-streaming LLM answer can take tens of seconds.
const DefaultTimeout = 60 * time.Second

// Config describes one model server endpoint.
type Config struct {
	// BaseURL is the endpoint's root including any Ray Serve route prefix: up to and including
	// the OpenAI "/v1" segment (http://ray:8000/llm/v1), or the root of a TEI server
	// (http://tei:8080) for its native routes. A trailing slash is ignored. Required.
	BaseURL string
	// Model is sent as the request's "model" field; empty leaves it out (the server's default
	// model, as TEI and single-model vLLM deployments have).
	Model string
	// APIKey is sent as "Authorization: Bearer <APIKey>"; empty sends no header. It is never
	// printed: String, GoString and LogValue redact it.
	APIKey string
	// Timeout bounds each call (for a stream, the whole stream) when the caller's context has no
	// deadline of its own. Zero means DefaultTimeout.
	Timeout time.Duration
}

// Validate reports a configuration that could never work.
func (c Config) Validate() error {
	if c.BaseURL == "" {
		return fmt.Errorf("model server base URL is empty")
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("model server base URL must be an absolute http(s) URL")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("model server base URL must not have a query or fragment")
	}
	if c.Timeout < 0 {
		return fmt.Errorf("model server timeout %v is negative", c.Timeout)
	}
	return nil
}

// timeout returns the per-call timeout with the default applied.
func (c Config) timeout() time.Duration {
	if c.Timeout == 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

// redactedURL hides a password in the base URL's user info, if any.
func redactedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func redactedKey(key string) string {
	if key == "" {
		return ""
	}
	return "[REDACTED]"
}

// String describes the endpoint for logs and errors without the API key.
func (c Config) String() string {
	return fmt.Sprintf("{BaseURL:%s Model:%s APIKey:%s Timeout:%v}",
		redactedURL(c.BaseURL), c.Model, redactedKey(c.APIKey), c.Timeout)
}

// GoString keeps %#v from printing the API key.
func (c Config) GoString() string { return "modelhttp.Config" + c.String() }

// LogValue keeps slog from printing the API key.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("base_url", redactedURL(c.BaseURL)),
		slog.String("model", c.Model),
		slog.String("api_key", redactedKey(c.APIKey)),
		slog.Duration("timeout", c.Timeout),
	)
}

// FromEnv reads <prefix>_URL, <prefix>_MODEL, <prefix>_API_KEY and <prefix>_TIMEOUT (a Go
// duration within [1ms, 1h]), each falling back to the field of defaults. Problems are recorded
// in r; call r.Err() once every variable has been read. A URL is not required here: a missing
// one is reported by Validate, so that callers with a stand-in (jetflow dev) can tell "unset"
// from "wrong".
func FromEnv(r *envconfig.Reader, prefix string, defaults Config) Config {
	prefix = strings.TrimSuffix(prefix, "_")
	return Config{
		BaseURL: r.URL(prefix+"_URL", defaults.BaseURL),
		Model:   r.String(prefix+"_MODEL", defaults.Model),
		APIKey:  r.String(prefix+"_API_KEY", defaults.APIKey),
		Timeout: r.Duration(prefix+"_TIMEOUT", defaults.Timeout, time.Millisecond, time.Hour),
	}
}
