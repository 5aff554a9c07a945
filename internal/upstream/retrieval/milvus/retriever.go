// Package milvus implements retrieval.Retriever on a Milvus 2.5/2.6 server with the maintained
// Go SDK, github.com/milvus-io/milvus/client/v2 (the older milvus-sdk-go is archived and stops
// at Milvus 2.4). It lives apart from package retrieval so that only binaries that search
// Milvus link the SDK and its gRPC, etcd and Prometheus dependencies.
package milvus

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	grpc_retry "github.com/grpc-ecosystem/go-grpc-middleware/retry"
	"github.com/milvus-io/milvus/client/v2/column"
	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
	"golang.org/x/sync/semaphore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/keepalive"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/telemetry/tracecontext"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval"
)

// maxRecvBytes bounds one search response. MaxTopK documents of a few KB each fit many times.
const maxRecvBytes = 64 << 20

// searchRetry replaces, for Search calls, the SDK's retry of Unavailable and ResourceExhausted
// (6 attempts over ~22 s, client.go dialOptions): two retries within 0.4 s ride out a proxy
// restart, and then the error reaches the stage, which naks with its own backoff and lets its
// circuit breaker count the failure instead of holding the message until the deadline. The
// once-per-collection DescribeCollection keeps the SDK's retries, bounded by the deadline.
func searchRetry() []grpc.CallOption {
	return []grpc.CallOption{
		grpc_retry.WithMax(3),
		grpc_retry.WithBackoff(func(attempt uint) time.Duration {
			return 100 * time.Millisecond * time.Duration(math.Pow(3, float64(attempt-1)))
		}),
	}
}

// maxSearches is the weight of the semaphore that lets Close wait for in-flight searches.
const maxSearches = math.MaxInt32

// Retriever searches one Milvus deployment. It is safe for concurrent use.
//
// The request path is DescribeCollection (once per collection; the SDK caches the schema) then
// Search. The SDK's Connect handshake is skipped (ClientConfig.DisableConn): in client/v2 v2.6.2
// a failed handshake inside milvusclient.New drops the gRPC connection without closing it, so a
// worker started while Milvus is down would leak one connection per attempt. Without it, New
// does no I/O, gRPC connects in the background and reconnects by itself, and an unreachable
// server surfaces as a retryable Search error.
type Retriever struct {
	cfg    Config
	log    *slog.Logger
	client *milvusclient.Client

	closed     atomic.Bool         // set by Close: no new searches
	inflight   *semaphore.Weighted // each Search holds 1; Close takes it all
	connClosed bool                // written only while holding all of inflight
}

var _ retrieval.Retriever = (*Retriever)(nil)

// Option tunes a Retriever.
type Option func(*Retriever)

// WithLogger sets the logger; the default discards. Secrets are never logged.
func WithLogger(l *slog.Logger) Option {
	return func(r *Retriever) { r.log = l }
}

// New validates cfg and prepares a client. It does no network I/O (ctx bounds only the SDK's
// setup), so a worker starts while Milvus is down; use Ping for readiness.
func New(ctx context.Context, cfg Config, opts ...Option) (*Retriever, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuring milvus retriever: %w", err)
	}
	r := &Retriever{
		cfg:      cfg.withDefaults(),
		log:      slog.New(slog.DiscardHandler),
		inflight: semaphore.NewWeighted(maxSearches),
	}
	for _, opt := range opts {
		opt(r)
	}
	client, err := milvusclient.New(ctx, &milvusclient.ClientConfig{
		Address:     r.cfg.Addr,
		Username:    r.cfg.Username,
		Password:    r.cfg.Password,
		APIKey:      r.cfg.APIKey,
		DisableConn: true,
		// Setting DialOptions replaces the SDK defaults, which include grpc.WithBlock: we want a
		// dial that returns at once. The rest matches the defaults of client_config.go; keepalive
		// pings at 5 s are what Milvus' own server policy permits.
		DialOptions: []grpc.DialOption{
			grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 5 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 3 * time.Second},
				MinConnectTimeout: 3 * time.Second,
			}),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvBytes)),
			grpc.WithStatsHandler(newStatsHandler()),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("creating milvus client for %s: %w", r.cfg.Addr, err)
	}
	r.client = client
	r.log.Info("milvus retriever configured", "milvus", r.cfg)
	return r, nil
}

// Ping checks that Milvus answers and that the default collection exists, for a readiness
// probe. Its errors are classified like Search's.
func (r *Retriever) Ping(ctx context.Context) error {
	if err := r.acquire(ctx); err != nil {
		return err
	}
	defer r.inflight.Release(1)
	ctx, cancel := r.withTimeout(ctx)
	defer cancel()
	if _, err := r.client.DescribeCollection(ctx, milvusclient.NewDescribeCollectionOption(r.cfg.Collection)); err != nil {
		return classify(ctx, fmt.Sprintf("describing milvus collection %q", r.cfg.Collection), err)
	}
	return nil
}

// Search implements retrieval.Retriever. Scores follow Config.Metric as documented on
// retrieval.Document.Score.
func (r *Retriever) Search(ctx context.Context, q retrieval.Query) ([]retrieval.Document, error) {
	collection := cmp.Or(q.Collection, r.cfg.Collection)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("searching milvus collection %q: %w", collection, err)
	}
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("searching milvus collection %q: %w", collection, err)
	}
	if err := r.acquire(ctx); err != nil {
		return nil, fmt.Errorf("searching milvus collection %q: %w", collection, err)
	}
	defer r.inflight.Release(1)
	ctx, cancel := r.withTimeout(ctx)
	defer cancel()

	topK := cmp.Or(q.TopK, r.cfg.TopK)
	opt := milvusclient.NewSearchOption(collection, topK, []entity.Vector{entity.FloatVector(q.Vector)}).
		WithANNSField(r.cfg.VectorField).
		WithOutputFields(r.outputFields()...).
		WithSearchParam("metric_type", string(r.cfg.Metric))
	if filter := cmp.Or(q.Filter, r.cfg.Filter); filter != "" {
		opt = opt.WithFilter(filter)
	}
	ctx, attempts := tracecontext.CountAttempts(ctx)
	results, err := r.client.Search(ctx, opt, searchRetry()...)
	attempts.Record(ctx)
	if err != nil {
		return nil, classify(ctx, fmt.Sprintf("searching milvus collection %q", collection), err)
	}
	docs, err := r.documents(results)
	if err != nil {
		return nil, fmt.Errorf("reading milvus results from collection %q: %w", collection, err)
	}
	slices.SortStableFunc(docs, func(a, b retrieval.Document) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.ID, b.ID))
	})
	return docs[:min(topK, len(docs))], nil
}

// Close waits for in-flight searches (each bounded by its context or Config.Timeout), then
// closes the connection. Searches fail with ErrClosed from the moment Close is called. If ctx
// ends first, ctx's error is returned and the connection stays open until a later Close.
func (r *Retriever) Close(ctx context.Context) error {
	r.closed.Store(true)
	if err := r.inflight.Acquire(ctx, maxSearches); err != nil {
		return fmt.Errorf("closing milvus retriever: waiting for searches: %w", err)
	}
	defer r.inflight.Release(maxSearches)
	if r.connClosed { // guarded by holding the whole semaphore
		return nil
	}
	r.connClosed = true
	if err := r.client.Close(ctx); err != nil {
		return fmt.Errorf("closing milvus connection: %w", err)
	}
	r.log.Info("milvus retriever closed", "addr", r.cfg.Addr)
	return nil
}

func (r *Retriever) acquire(ctx context.Context) error {
	if r.closed.Load() {
		return ErrClosed
	}
	if err := r.inflight.Acquire(ctx, 1); err != nil {
		return err
	}
	if r.closed.Load() { // Close started while we waited
		r.inflight.Release(1)
		return ErrClosed
	}
	return nil
}

// withTimeout adds Config.Timeout when the caller set no deadline, so a search against a dead
// server cannot hang a handler forever.
func (r *Retriever) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, r.cfg.Timeout)
}

func (r *Retriever) outputFields() []string {
	fields := []string{r.cfg.TextField}
	if r.cfg.IDField != "" {
		fields = append(fields, r.cfg.IDField)
	}
	for _, f := range r.cfg.OutputFields {
		if !slices.Contains(fields, f) {
			fields = append(fields, f)
		}
	}
	return fields
}

func (r *Retriever) documents(results []milvusclient.ResultSet) ([]retrieval.Document, error) {
	if len(results) != 1 {
		return nil, fmt.Errorf("got %d result sets for one query vector", len(results))
	}
	rs := results[0]
	if rs.Err != nil {
		return nil, rs.Err
	}
	n := rs.ResultCount
	if len(rs.Scores) < n {
		return nil, fmt.Errorf("got %d scores for %d results", len(rs.Scores), n)
	}
	if n == 0 {
		return []retrieval.Document{}, nil
	}
	ids := rs.IDs
	if r.cfg.IDField != "" {
		ids = rs.GetColumn(r.cfg.IDField)
	}
	text := rs.GetColumn(r.cfg.TextField)
	if ids == nil || text == nil {
		return nil, failure.Permanentf("results lack the id or the text field %q", r.cfg.TextField)
	}
	docs := make([]retrieval.Document, n)
	for i := range n {
		id, err := columnString(ids, i)
		if err != nil {
			return nil, fmt.Errorf("result %d id: %w", i, err)
		}
		txt, err := columnString(text, i)
		if err != nil {
			return nil, fmt.Errorf("result %d field %s: %w", i, r.cfg.TextField, err)
		}
		docs[i] = retrieval.Document{ID: id, Text: txt, Score: r.score(rs.Scores[i])}
		for _, name := range r.cfg.OutputFields {
			col := rs.GetColumn(name)
			if col == nil {
				continue
			}
			v, err := columnString(col, i)
			if err != nil {
				return nil, fmt.Errorf("result %d field %s: %w", i, name, err)
			}
			if docs[i].Metadata == nil {
				docs[i].Metadata = make(map[string]string, len(r.cfg.OutputFields))
			}
			docs[i].Metadata[name] = v
		}
	}
	return docs, nil
}

// score turns what Milvus reports into "higher is better": COSINE and IP already are; L2 is a
// squared distance, mapped by the decreasing 1/(1+d) into (0, 1].
func (r *Retriever) score(s float32) float32 {
	if r.cfg.Metric == L2 {
		return float32(1 / (1 + math.Max(float64(s), 0)))
	}
	return s
}

// columnString formats one scalar value for Document.ID or Metadata.
func columnString(col column.Column, i int) (string, error) {
	v, err := col.Get(i)
	if err != nil {
		return "", err
	}
	switch v := v.(type) {
	case string:
		return v, nil
	case []byte: // JSON fields
		return string(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case int32:
		return strconv.FormatInt(int64(v), 10), nil
	case int16:
		return strconv.FormatInt(int64(v), 10), nil
	case int8:
		return strconv.FormatInt(int64(v), 10), nil
	case float32:
		return strconv.FormatFloat(float64(v), 'g', -1, 32), nil
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), nil
	case bool:
		return strconv.FormatBool(v), nil
	case nil:
		return "", nil
	default:
		return fmt.Sprint(v), nil
	}
}
