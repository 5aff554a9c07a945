package milvus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval"
)

// Metric is the similarity metric of the collection's vector index. A search must name the
// index's metric; Milvus refuses any other.
type Metric string

// The metrics of float-vector indexes.
const (
	Cosine       Metric = "COSINE"
	InnerProduct Metric = "IP"
	L2           Metric = "L2"
)

// Consistency is the consistency level of a search: how recent the writes it must see are.
type Consistency string

// The consistency levels a search can ask for. Zero means the collection's own level.
const (
	Strong     Consistency = "Strong"
	Session    Consistency = "Session"
	Bounded    Consistency = "Bounded"
	Eventually Consistency = "Eventually"
)

// Defaults applied by New where Config leaves a field zero.
const (
	DefaultVectorField = "embedding"
	DefaultTextField   = "text"
	DefaultMetric      = Cosine
	DefaultTimeout     = 10 * time.Second
)

// Config describes the collection to search and how to reach it. Only Addr and Collection are
// required.
type Config struct {
	// Addr is the Milvus proxy, host:port ("milvus.milvus:19530"). An https:// prefix turns TLS
	// on; a path names the database ("host:19530/kb").
	Addr string
	// Collection is searched when a query names none.
	Collection string
	// VectorField is the float-vector field to search. Zero means DefaultVectorField.
	VectorField string
	// TextField holds the document text returned as Document.Text. Zero means DefaultTextField.
	TextField string
	// IDField, when set, is a scalar field returned as Document.ID instead of the primary key,
	// for collections whose primary key is an auto-generated number. Zero means the primary key.
	IDField string
	// OutputFields are scalar fields returned as Document.Metadata, formatted as strings.
	OutputFields []string
	// Metric is the metric of the vector index; it decides how distances become scores (see
	// retrieval.Document.Score). Zero means DefaultMetric.
	Metric Metric
	// TopK is used when a query leaves TopK 0. Zero means retrieval.DefaultTopK.
	TopK int
	// Filter is used when a query has none; empty means no filter.
	Filter string
	// Consistency is the level every search asks for. Zero means the collection's own level,
	// which is what Milvus applies to a search that names none.
	Consistency Consistency
	// SearchParams is the index's search parameters as a JSON object, for example
	// {"nprobe": 16} for IVF indexes or {"ef": 64} for HNSW. Zero means the index's defaults.
	SearchParams string
	// Username and Password, or APIKey ("user:password" or a Zilliz Cloud key), authenticate.
	// They are never logged: String and LogValue redact them.
	Username string
	Password string
	APIKey   string
	// Timeout bounds a search whose context has no deadline. Zero means DefaultTimeout.
	Timeout time.Duration
}

// Validate reports every problem with the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("milvus address is empty"))
	}
	if c.Collection == "" {
		errs = append(errs, errors.New("milvus collection is empty"))
	}
	switch c.Metric {
	case "", Cosine, InnerProduct, L2:
	default:
		errs = append(errs, fmt.Errorf("milvus metric %q is not COSINE, IP or L2", c.Metric))
	}
	if c.TopK < 0 || c.TopK > retrieval.MaxTopK {
		errs = append(errs, fmt.Errorf("milvus top_k %d is outside [0, %d]", c.TopK, retrieval.MaxTopK))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("milvus timeout %v is negative", c.Timeout))
	}
	if err := c.Consistency.validate(); err != nil {
		errs = append(errs, err)
	}
	if _, err := compactParams(c.SearchParams); err != nil {
		errs = append(errs, err)
	}
	if c.APIKey != "" && (c.Username != "" || c.Password != "") {
		errs = append(errs, errors.New("milvus credentials: set an API key or a username and password, not both"))
	}
	if c.Password != "" && c.Username == "" {
		errs = append(errs, errors.New("milvus credentials: a password without a username"))
	}
	for _, f := range c.OutputFields {
		if f == "" {
			errs = append(errs, errors.New("milvus output fields contain an empty name"))
			break
		}
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.VectorField == "" {
		c.VectorField = DefaultVectorField
	}
	if c.TextField == "" {
		c.TextField = DefaultTextField
	}
	if c.Metric == "" {
		c.Metric = DefaultMetric
	}
	if c.TopK == 0 {
		c.TopK = retrieval.DefaultTopK
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// String describes the configuration without its secrets, so it can be printed with %v.
func (c Config) String() string {
	return fmt.Sprintf("milvus{addr=%s collection=%s vector=%s text=%s id=%s output=%v metric=%s top_k=%d filter=%q consistency=%s params=%s auth=%s timeout=%v}",
		c.Addr, c.Collection, c.VectorField, c.TextField, c.IDField, c.OutputFields, c.Metric, c.TopK, c.Filter,
		c.Consistency, c.SearchParams, c.auth(), c.Timeout)
}

// GoString keeps %#v from printing the secrets too.
func (c Config) GoString() string { return c.String() }

// LogValue is what slog records for a Config: everything but the secrets.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("addr", c.Addr),
		slog.String("collection", c.Collection),
		slog.String("vector_field", c.VectorField),
		slog.String("text_field", c.TextField),
		slog.String("id_field", c.IDField),
		slog.Any("output_fields", c.OutputFields),
		slog.String("metric", string(c.Metric)),
		slog.Int("top_k", c.TopK),
		slog.String("filter", c.Filter),
		slog.String("consistency", string(c.Consistency)),
		slog.String("search_params", c.SearchParams),
		slog.String("auth", c.auth()),
		slog.Duration("timeout", c.Timeout),
	)
}

func (c Config) auth() string {
	switch {
	case c.APIKey != "":
		return "api-key"
	case c.Username != "":
		return "user " + c.Username
	default:
		return "none"
	}
}

// FromEnv reads the configuration from MILVUS_ADDR and MILVUS_COLLECTION (required),
// MILVUS_VECTOR_FIELD, MILVUS_TEXT_FIELD, MILVUS_ID_FIELD, MILVUS_OUTPUT_FIELDS (comma-separated),
// MILVUS_METRIC (COSINE, IP or L2, any case), MILVUS_TOP_K, MILVUS_FILTER, MILVUS_CONSISTENCY
// (Strong, Session, Bounded or Eventually, any case), MILVUS_SEARCH_PARAMS (a JSON object),
// MILVUS_TIMEOUT, and the secrets MILVUS_TOKEN or MILVUS_USERNAME and MILVUS_PASSWORD. lookup nil means the process
// environment. The error names every bad variable and never echoes a secret.
func FromEnv(lookup envconfig.Lookup) (Config, error) {
	env := envconfig.New(lookup)
	c := Config{
		Addr:         env.Required("MILVUS_ADDR"),
		Collection:   env.Required("MILVUS_COLLECTION"),
		VectorField:  env.String("MILVUS_VECTOR_FIELD", DefaultVectorField),
		TextField:    env.String("MILVUS_TEXT_FIELD", DefaultTextField),
		IDField:      env.String("MILVUS_ID_FIELD", ""),
		Metric:       Metric(strings.ToUpper(env.String("MILVUS_METRIC", string(DefaultMetric)))),
		TopK:         env.Int("MILVUS_TOP_K", retrieval.DefaultTopK, 1, retrieval.MaxTopK),
		Filter:       env.String("MILVUS_FILTER", ""),
		Consistency:  parseConsistency(env.String("MILVUS_CONSISTENCY", "")),
		SearchParams: env.String("MILVUS_SEARCH_PARAMS", ""),
		APIKey:       env.String("MILVUS_TOKEN", ""),
		Username:     env.String("MILVUS_USERNAME", ""),
		Password:     env.String("MILVUS_PASSWORD", ""),
		Timeout:      env.Duration("MILVUS_TIMEOUT", DefaultTimeout, 100*time.Millisecond, 10*time.Minute),
	}
	if fields := env.String("MILVUS_OUTPUT_FIELDS", ""); fields != "" {
		for f := range strings.SplitSeq(fields, ",") {
			if f = strings.TrimSpace(f); f != "" {
				c.OutputFields = append(c.OutputFields, f)
			}
		}
	}
	switch c.Metric {
	case Cosine, InnerProduct, L2:
	default:
		env.Fail("MILVUS_METRIC", "%q is not COSINE, IP or L2", c.Metric)
	}
	if err := c.Consistency.validate(); err != nil {
		env.Fail("MILVUS_CONSISTENCY", "%q is not Strong, Session, Bounded or Eventually", c.Consistency)
	}
	if _, err := compactParams(c.SearchParams); err != nil {
		env.Fail("MILVUS_SEARCH_PARAMS", "is not a JSON object: %v", err)
	}
	if c.APIKey != "" && (c.Username != "" || c.Password != "") {
		env.Fail("MILVUS_TOKEN", "set either MILVUS_TOKEN or MILVUS_USERNAME and MILVUS_PASSWORD, not both")
	}
	if c.Password != "" && c.Username == "" {
		env.Fail("MILVUS_USERNAME", "is required when MILVUS_PASSWORD is set")
	}
	if err := env.Err(); err != nil {
		return Config{}, fmt.Errorf("reading milvus configuration: %w", err)
	}
	return c, nil
}

// parseConsistency returns the level s names in any case, or s itself for validate to refuse.
func parseConsistency(s string) Consistency {
	for _, c := range []Consistency{Strong, Session, Bounded, Eventually} {
		if strings.EqualFold(s, string(c)) {
			return c
		}
	}
	return Consistency(s)
}

func (c Consistency) validate() error {
	switch c {
	case "", Strong, Session, Bounded, Eventually:
		return nil
	}
	return fmt.Errorf("milvus consistency %q is not Strong, Session, Bounded or Eventually", string(c))
}

// compactParams returns params as the SDK sends them: one compact JSON object, "{}" for none.
func compactParams(params string) (string, error) {
	if strings.TrimSpace(params) == "" {
		return "{}", nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(params), &obj); err != nil {
		return "", fmt.Errorf("milvus search params %q: %w", params, err)
	}
	if obj == nil {
		return "", fmt.Errorf("milvus search params %q: not a JSON object", params)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(params)); err != nil {
		return "", fmt.Errorf("milvus search params %q: %w", params, err)
	}
	return buf.String(), nil
}
