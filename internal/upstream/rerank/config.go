package rerank

import (
	"fmt"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
)

// EnvPrefix is the prefix of the variables FromEnv reads (RERANKER_URL...).
const EnvPrefix = "RERANKER"

// DefaultBatchSize is TEI's default max_client_batch_size, which also bounds the texts of one
// /rerank request. Scores are per (query, document) pair, so batching does not change them.
const DefaultBatchSize = 32

// API names a wire shape.
type API string

const (
	// APITEI is TEI's POST {BaseURL}/rerank with {"query","texts"} answered by a bare array
	// [{"index","score"}] sorted by score. BaseURL is the TEI root, such as http://tei:8080.
	APITEI API = "tei"
	// APICohere is POST {BaseURL}/rerank with {"model","query","documents","top_n"} answered by
	// {"results":[{"index","relevance_score"}]}: Cohere, Jina, vLLM and Infinity (whose old
	// versions say "data" for "results"). BaseURL ends in the version segment, such as
	// http://ray:8000/rerank/v1.
	APICohere API = "cohere"
)

// Config describes a rerank endpoint.
type Config struct {
	// HTTP is the endpoint; its Model is sent with APICohere only (TEI serves one model).
	HTTP modelhttp.Config
	// API is the wire shape; zero means APITEI.
	API API
	// BatchSize is the most documents sent in one request; zero means DefaultBatchSize.
	BatchSize int
	// Truncate asks TEI to cut pairs longer than the model's limit instead of failing them
	// (APITEI only).
	Truncate bool
}

func validAPI(a API) bool { return a == "" || a == APITEI || a == APICohere }

// Validate reports a configuration that could never work.
func (c Config) Validate() error {
	if err := c.HTTP.Validate(); err != nil {
		return err
	}
	if !validAPI(c.API) {
		return fmt.Errorf("rerank API %q is not %q or %q", c.API, APITEI, APICohere)
	}
	if c.BatchSize < 0 {
		return fmt.Errorf("rerank batch size %d is negative", c.BatchSize)
	}
	return nil
}

// FromEnv reads RERANKER_URL, _MODEL, _API_KEY and _TIMEOUT (see modelhttp.FromEnv), plus
// RERANKER_API (tei or cohere), RERANKER_BATCH_SIZE (1 to 4096) and RERANKER_TRUNCATE, each
// falling back to defaults. Problems are recorded in r.
func FromEnv(r *envconfig.Reader, defaults Config) Config {
	cfg := Config{
		HTTP:      modelhttp.FromEnv(r, EnvPrefix, defaults.HTTP),
		API:       API(r.String(EnvPrefix+"_API", string(defaults.API))),
		BatchSize: r.Int(EnvPrefix+"_BATCH_SIZE", defaults.BatchSize, 1, 4096),
		Truncate:  r.Bool(EnvPrefix+"_TRUNCATE", defaults.Truncate),
	}
	if !validAPI(cfg.API) {
		r.Fail(EnvPrefix+"_API", "%q is not %q or %q", cfg.API, APITEI, APICohere)
		cfg.API = defaults.API
	}
	return cfg
}
