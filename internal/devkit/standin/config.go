package standin

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
)

// Config describes one stand-in model server. The zero value is a fast, faultless server on
// 127.0.0.1:8000 with the OpenAI routes under /v1; each field says what zero means.
type Config struct {
	// Addr is the TCP address the command listens on. Zero means 127.0.0.1:8000.
	Addr string `json:"addr"`
	// Prefix is the base path of the OpenAI-style routes (chat, embeddings, /rerank in the
	// Cohere shape, audio, models), as Ray Serve mounts an app under a route prefix. Zero means
	// "/v1"; "/llm/v1" serves "/llm/v1/chat/completions"; "/" serves them at the root.
	Prefix string `json:"prefix"`
	// TEIPrefix is the base path of the TEI-native routes /embed and /rerank. Zero means the
	// root.
	TEIPrefix string `json:"tei_prefix"`

	// Delay is added once to every model request before it is answered (time to first byte).
	// Zero means none.
	Delay time.Duration `json:"delay"`
	// DelayJitter adds a uniformly random [0, DelayJitter) to Delay. Zero means none.
	DelayJitter time.Duration `json:"delay_jitter"`
	// TokenDelay is the time the LLM takes per generated word: between streamed chunks, and
	// words × TokenDelay before a non-streamed answer. Zero means none.
	TokenDelay time.Duration `json:"token_delay"`
	// ErrorRate is the share of model requests, in [0, 1], answered 503 after the delay. Zero
	// means none.
	ErrorRate float64 `json:"error_rate"`
	// Seed makes the jitter and the injected errors reproducible: the same seed and the same
	// order of requests give the same faults. Zero is a seed like any other.
	Seed uint64 `json:"seed"`
	// OutageStart and OutageDuration describe an outage relative to the server's start, during
	// which every model route answers 503 with Retry-After. Zero OutageDuration means none.
	OutageStart    time.Duration `json:"outage_start"`
	OutageDuration time.Duration `json:"outage_duration"`

	// SampleRate is the speech endpoint's output rate when a request does not ask for one
	// (speaches' sample_rate field). Zero means 16000.
	SampleRate int `json:"sample_rate"`
	// EmbeddingDim is the embedding size when a request does not ask for dimensions. Zero means
	// 384.
	EmbeddingDim int `json:"embedding_dim"`
	// MaxBatch is TEI's max_client_batch_size: /embed and /rerank answer 413 above it. Zero
	// means 32, TEI's default.
	MaxBatch int `json:"max_batch"`
	// ShutdownTimeout bounds the graceful shutdown in Serve; requests still running after it are
	// cancelled. Zero means 5s.
	ShutdownTimeout time.Duration `json:"shutdown_timeout"`
}

const (
	defaultAddr         = "127.0.0.1:8000"
	defaultPrefix       = "/v1"
	defaultSampleRate   = 16000
	defaultEmbeddingDim = 384
	defaultMaxBatch     = 32
	defaultShutdown     = 5 * time.Second
	maxEmbeddingDim     = 8192
)

// withDefaults fills the zero fields and cleans the prefixes.
func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = defaultAddr
	}
	if c.Prefix == "" {
		c.Prefix = defaultPrefix
	}
	c.Prefix = cleanPrefix(c.Prefix)
	c.TEIPrefix = cleanPrefix(c.TEIPrefix)
	if c.SampleRate == 0 {
		c.SampleRate = defaultSampleRate
	}
	if c.EmbeddingDim == 0 {
		c.EmbeddingDim = defaultEmbeddingDim
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = defaultMaxBatch
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = defaultShutdown
	}
	return c
}

// cleanPrefix makes "v1/", "/v1" and "/v1/" all "/v1", and "" the root "/". It is idempotent,
// so withDefaults can run more than once.
func cleanPrefix(p string) string {
	return "/" + strings.Trim(p, "/")
}

// route joins a cleaned prefix and a path that starts with a slash.
func route(prefix, path string) string {
	return strings.TrimSuffix(prefix, "/") + path
}

// Validate reports every field out of range, each by name; the error matches ErrInvalidConfig.
func (c Config) Validate() error {
	c = c.withDefaults()
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for name, d := range map[string]time.Duration{
		"Delay": c.Delay, "DelayJitter": c.DelayJitter, "TokenDelay": c.TokenDelay,
		"OutageStart": c.OutageStart, "OutageDuration": c.OutageDuration, "ShutdownTimeout": c.ShutdownTimeout,
	} {
		if d < 0 {
			bad("%s %v is negative", name, d)
		}
	}
	if math.IsNaN(c.ErrorRate) || c.ErrorRate < 0 || c.ErrorRate > 1 {
		bad("ErrorRate %g is outside [0, 1]", c.ErrorRate)
	}
	if err := CheckSampleRate(c.SampleRate); err != nil {
		bad("SampleRate: %v", err)
	}
	if c.EmbeddingDim < 1 || c.EmbeddingDim > maxEmbeddingDim {
		bad("EmbeddingDim %d is outside [1, %d]", c.EmbeddingDim, maxEmbeddingDim)
	}
	if c.MaxBatch < 1 {
		bad("MaxBatch %d is below 1", c.MaxBatch)
	}
	if c.Prefix == c.TEIPrefix {
		bad("Prefix and TEIPrefix are both %q: the two /rerank routes would collide", c.Prefix)
	}
	if strings.ContainsAny(c.Prefix+c.TEIPrefix, " {}") {
		bad("prefixes %q and %q must be plain paths", c.Prefix, c.TEIPrefix)
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(problems, "; "))
}

// Env lists every variable FromEnv reads, for standin-models --help; a test checks it against
// what FromEnv really reads.
var Env = []envconfig.Section{
	{Title: "Serving", Vars: []envconfig.Var{
		{Name: "STANDIN_ADDR", Default: defaultAddr, Usage: "listen address"},
		{Name: "STANDIN_PREFIX", Default: defaultPrefix, Usage: "base path of the OpenAI routes (chat, embeddings, /rerank in the Cohere shape, audio, models)"},
		{Name: "STANDIN_TEI_PREFIX", Default: "the root", Usage: "base path of TEI's /embed and /rerank"},
		{Name: "STANDIN_SHUTDOWN_TIMEOUT", Default: defaultShutdown, Usage: "limit on the graceful shutdown"},
	}},
	{Title: "Latency and faults (also at run time: POST /admin/outage?for=10s, GET /admin/stats)", Vars: []envconfig.Var{
		{Name: "STANDIN_DELAY", Default: time.Duration(0), Usage: "fixed delay per model request"},
		{Name: "STANDIN_DELAY_JITTER", Default: time.Duration(0), Usage: "random extra delay per request, uniform in [0, jitter)"},
		{Name: "STANDIN_TOKEN_DELAY", Default: time.Duration(0), Usage: "LLM time per generated word, streamed or not"},
		{Name: "STANDIN_ERROR_RATE", Default: 0, Usage: "share of requests answered 503, 0 to 1"},
		{Name: "STANDIN_SEED", Default: 0, Usage: "seed of the jitter and error draws"},
		{Name: "STANDIN_OUTAGE_START", Default: time.Duration(0), Usage: "start of an outage (every model route answers 503), from the server's start"},
		{Name: "STANDIN_OUTAGE_DURATION", Default: "no outage", Usage: "length of that outage"},
	}},
	{Title: "Models", Vars: []envconfig.Var{
		{Name: "STANDIN_SAMPLE_RATE", Default: defaultSampleRate, Usage: "TTS output rate in Hz when a request asks for none"},
		{Name: "STANDIN_EMBEDDING_DIM", Default: defaultEmbeddingDim, Usage: "embedding size when a request asks for none"},
		{Name: "STANDIN_MAX_BATCH", Default: defaultMaxBatch, Usage: "TEI max_client_batch_size: /embed and /rerank answer 413 above it"},
	}},
}

// FromEnv reads the configuration from the environment through lookup (nil means os.LookupEnv):
// the variables of Env.
func FromEnv(lookup envconfig.Lookup) (Config, error) {
	r := envconfig.New(lookup)
	const long = 24 * time.Hour
	c := Config{
		Addr:            r.String("STANDIN_ADDR", defaultAddr),
		Prefix:          r.String("STANDIN_PREFIX", defaultPrefix),
		TEIPrefix:       r.String("STANDIN_TEI_PREFIX", ""),
		Delay:           r.Duration("STANDIN_DELAY", 0, 0, long),
		DelayJitter:     r.Duration("STANDIN_DELAY_JITTER", 0, 0, long),
		TokenDelay:      r.Duration("STANDIN_TOKEN_DELAY", 0, 0, time.Minute),
		ErrorRate:       r.Float("STANDIN_ERROR_RATE", 0, 0, 1),
		Seed:            uint64(r.Int("STANDIN_SEED", 0, 0, math.MaxInt)),
		OutageStart:     r.Duration("STANDIN_OUTAGE_START", 0, 0, 365*long),
		OutageDuration:  r.Duration("STANDIN_OUTAGE_DURATION", 0, 0, 365*long),
		SampleRate:      r.Int("STANDIN_SAMPLE_RATE", defaultSampleRate, MinSampleRate, MaxSampleRate),
		EmbeddingDim:    r.Int("STANDIN_EMBEDDING_DIM", defaultEmbeddingDim, 1, maxEmbeddingDim),
		MaxBatch:        r.Int("STANDIN_MAX_BATCH", defaultMaxBatch, 1, 1<<20),
		ShutdownTimeout: r.Duration("STANDIN_SHUTDOWN_TIMEOUT", defaultShutdown, time.Millisecond, time.Hour),
	}
	if err := r.Err(); err != nil {
		return Config{}, fmt.Errorf("reading stand-in configuration: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("reading stand-in configuration: %w", err)
	}
	return c.withDefaults(), nil
}
