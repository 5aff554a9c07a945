package embedding

import (
	"fmt"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
)

// EnvPrefix is the prefix of the variables FromEnv reads (EMBEDDINGS_URL...).
const EnvPrefix = "EMBEDDINGS"

// DefaultBatchSize is TEI's default max_client_batch_size: a larger batch gets HTTP 413.
const DefaultBatchSize = 32

// API names a wire shape.
type API string

const (
	// APIOpenAI is POST {BaseURL}/embeddings with {"input":[...]} answered by
	// {"data":[{"index","embedding"}]}: vLLM, TEI, Infinity, OpenAI. BaseURL ends in "/v1".
	APIOpenAI API = "openai"
	// APITEI is TEI's native POST {BaseURL}/embed with {"inputs":[...]} answered by a bare
	// [][]float32. BaseURL is the TEI root, such as http://tei:8080.
	APITEI API = "tei"
)

// Config describes an embeddings endpoint.
type Config struct {
	// HTTP is the endpoint; its Model is sent with APIOpenAI only (TEI serves one model).
	HTTP modelhttp.Config
	// API is the wire shape; zero means APIOpenAI.
	API API
	// BatchSize is the most texts sent in one request; zero means DefaultBatchSize.
	BatchSize int
	// Truncate asks TEI to cut inputs longer than the model's limit instead of failing them
	// with HTTP 413/422 (APITEI only; OpenAI-shaped servers have no such field).
	Truncate bool
}

// Validate reports a configuration that could never work.
func (c Config) Validate() error {
	if err := c.HTTP.Validate(); err != nil {
		return err
	}
	switch c.API {
	case "", APIOpenAI, APITEI:
	default:
		return fmt.Errorf("embeddings API %q is not %q or %q", c.API, APIOpenAI, APITEI)
	}
	if c.BatchSize < 0 {
		return fmt.Errorf("embeddings batch size %d is negative", c.BatchSize)
	}
	return nil
}

// FromEnv reads EMBEDDINGS_URL, _MODEL, _API_KEY and _TIMEOUT (see modelhttp.FromEnv), plus
// EMBEDDINGS_API (openai or tei), EMBEDDINGS_BATCH_SIZE (1 to 4096) and EMBEDDINGS_TRUNCATE,
// each falling back to defaults. Problems are recorded in r.
func FromEnv(r *envconfig.Reader, defaults Config) Config {
	cfg := Config{
		HTTP:      modelhttp.FromEnv(r, EnvPrefix, defaults.HTTP),
		API:       API(r.String(EnvPrefix+"_API", string(defaults.API))),
		BatchSize: r.Int(EnvPrefix+"_BATCH_SIZE", defaults.BatchSize, 1, 4096),
		Truncate:  r.Bool(EnvPrefix+"_TRUNCATE", defaults.Truncate),
	}
	switch cfg.API {
	case "", APIOpenAI, APITEI:
	default:
		r.Fail(EnvPrefix+"_API", "%q is not %q or %q", cfg.API, APIOpenAI, APITEI)
		cfg.API = defaults.API
	}
	return cfg
}
