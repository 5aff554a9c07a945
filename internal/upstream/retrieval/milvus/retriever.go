// Package milvus implements retrieval.Retriever on a Milvus 2.5/2.6 server over Milvus' gRPC
// API (github.com/milvus-io/milvus-proto/go-api/v2, the generated API every Milvus SDK wraps),
// not over the Go SDK (milvus/client/v2): the SDK links Milvus' server-side packages and etcd,
// which doubled the size and the idle memory of the workers that search. The SDK is kept as the
// test oracle: oracle_test.go runs the same searches through both against the fake server and
// requires the same requests on the wire and the same parsed results. It lives apart from
// package retrieval so that only binaries that search Milvus link gRPC.
package milvus

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"golang.org/x/sync/semaphore"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/telemetry/tracecontext"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval"
)

// maxSearches is the weight of the semaphore that lets Close wait for in-flight searches.
const maxSearches = math.MaxInt32

// Retriever searches one Milvus deployment. It is safe for concurrent use.
//
// The request path is the SDK's: DescribeCollection once per collection (so a missing
// collection is reported as such before any search), then Search. The SDK's Connect handshake
// is not made: it only registers the client for the server's client list.
type Retriever struct {
	cfg     Config
	params  string // cfg.SearchParams as sent
	log     *slog.Logger
	conn    *grpc.ClientConn
	service milvuspb.MilvusServiceClient

	describedMu sync.Mutex
	described   map[string]bool // collections DescribeCollection found

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

// New validates cfg and prepares a connection. It does no network I/O, so a worker starts while
// Milvus is down; use Ping for readiness. ctx is kept for callers that bound setup.
func New(_ context.Context, cfg Config, opts ...Option) (*Retriever, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuring milvus retriever: %w", err)
	}
	ep, err := parseAddr(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("configuring milvus retriever: %w", err)
	}
	params, _ := compactParams(cfg.SearchParams) // checked by Validate
	r := &Retriever{
		cfg:       cfg.withDefaults(),
		params:    params,
		log:       slog.New(slog.DiscardHandler),
		described: map[string]bool{},
		inflight:  semaphore.NewWeighted(maxSearches),
	}
	for _, opt := range opts {
		opt(r)
	}
	if r.conn, err = dial(ep, r.cfg); err != nil {
		return nil, err
	}
	r.service = milvuspb.NewMilvusServiceClient(r.conn)
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
	if err := r.describe(ctx, r.cfg.Collection); err != nil {
		return classify(ctx, fmt.Sprintf("describing milvus collection %q", r.cfg.Collection), err)
	}
	return nil
}

// describe asks Milvus for the collection, to learn that it exists.
func (r *Retriever) describe(ctx context.Context, collection string) error {
	resp, err := r.service.DescribeCollection(ctx, &milvuspb.DescribeCollectionRequest{CollectionName: collection})
	if err != nil {
		return err
	}
	return statusError(resp.GetStatus())
}

// describeOnce describes collection before its first search, as the SDK does to cache its
// schema: a missing collection is then reported by name, and a retry of a search that found it
// costs one call.
func (r *Retriever) describeOnce(ctx context.Context, collection string) error {
	r.describedMu.Lock()
	done := r.described[collection]
	r.describedMu.Unlock()
	if done {
		return nil
	}
	if err := r.describe(ctx, collection); err != nil {
		return err
	}
	r.describedMu.Lock()
	r.described[collection] = true
	r.describedMu.Unlock()
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
	op := fmt.Sprintf("searching milvus collection %q", collection)
	if err := r.describeOnce(ctx, collection); err != nil {
		return nil, classify(ctx, op, err)
	}
	req, err := r.searchRequest(collection, q.Vector, topK, cmp.Or(q.Filter, r.cfg.Filter))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	ctx, attempts := tracecontext.CountAttempts(ctx)
	resp, err := r.service.Search(ctx, req)
	attempts.Record(ctx)
	if err == nil {
		err = statusError(resp.GetStatus())
	}
	if err != nil {
		return nil, classify(ctx, op, err)
	}
	docs, err := r.documents(resp.GetResults())
	if err != nil {
		return nil, fmt.Errorf("reading milvus results from collection %q: %w", collection, err)
	}
	slices.SortStableFunc(docs, func(a, b retrieval.Document) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.ID, b.ID))
	})
	return docs[:min(topK, len(docs))], nil
}

// searchRequest builds the request the SDK builds for NewSearchOption(collection, topK,
// vector).WithANNSField(...).WithOutputFields(...).WithSearchParam("metric_type", ...) with the
// filter, consistency and search params set (milvusclient/read_options.go).
func (r *Retriever) searchRequest(collection string, vector []float32, topK int, filter string) (*milvuspb.SearchRequest, error) {
	placeholders, err := proto.Marshal(&commonpb.PlaceholderGroup{Placeholders: []*commonpb.PlaceholderValue{{
		Tag:    "$0",
		Type:   commonpb.PlaceholderType_FloatVector,
		Values: [][]byte{floatVectorBytes(vector)},
	}}})
	if err != nil {
		return nil, fmt.Errorf("encoding the query vector: %w", err)
	}
	// DbName stays empty: the SDK names the database in the dbname header only.
	req := &milvuspb.SearchRequest{
		CollectionName: collection,
		Dsl:            filter,
		DslType:        commonpb.DslType_BoolExprV1,
		OutputFields:   r.outputFields(),
		SearchInput:    &milvuspb.SearchRequest_PlaceholderGroup{PlaceholderGroup: placeholders},
		Nq:             1,
		SearchParams: []*commonpb.KeyValuePair{
			{Key: "anns_field", Value: r.cfg.VectorField},
			{Key: "topk", Value: strconv.Itoa(topK)},
			{Key: "offset", Value: "0"},
			{Key: "metric_type", Value: string(r.cfg.Metric)},
			{Key: "round_decimal", Value: "-1"},
			{Key: "ignore_growing", Value: "false"},
			{Key: "params", Value: r.params},
		},
		// Unset, the collection's level applies; the SDK then still sends Bounded beside the flag.
		ConsistencyLevel:      commonpb.ConsistencyLevel_Bounded,
		UseDefaultConsistency: true,
	}
	if r.cfg.Consistency != "" {
		req.ConsistencyLevel = commonpb.ConsistencyLevel(commonpb.ConsistencyLevel_value[string(r.cfg.Consistency)])
		req.UseDefaultConsistency = false
	}
	return req, nil
}

// floatVectorBytes is the placeholder encoding of a float vector: little-endian float32s.
func floatVectorBytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
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
	if err := r.conn.Close(); err != nil {
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
