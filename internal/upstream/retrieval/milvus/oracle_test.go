package milvus_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus/client/v2/column"
	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
	"github.com/milvus-io/milvus/pkg/v2/util/merr"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval/milvus"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval/milvusfake"
)

// The Milvus Go SDK (milvus/client/v2) is the oracle of the retriever's wire behaviour: the
// retriever speaks Milvus' gRPC API itself, so that the workers do not link the SDK's server
// packages, and this test keeps it honest. Each case runs the same search through the SDK and
// through the retriever against the fake, which records every call, and requires the same
// calls, the same requests (collection, the vector as a placeholder group, filter, top-k,
// metric, output fields, consistency, search params), the same metadata (credentials, database)
// and the same documents parsed from the answers.

// oracleCase is one search, as a retriever configuration and the SDK options that mean the same.
type oracleCase struct {
	name       string
	collection milvusfake.Collection
	dbPath     string // appended to the address: "/kb" names a database
	cfg        milvus.Config
	query      retrieval.Query
	sdk        func(*milvusclient.ClientConfig, *milvusSearch)
}

// milvusSearch collects what the case changes in the SDK's search option.
type milvusSearch struct {
	filter       string
	outputFields []string
	consistency  *entity.ConsistencyLevel
	annParam     index.AnnParam
}

func TestSDKOracle(t *testing.T) {
	tagged := func(metric string) milvusfake.Collection {
		return milvusfake.Collection{Metric: metric, Records: records()}
	}
	numeric := milvusfake.Collection{Int64IDs: true, Records: []retrieval.Record{
		{ID: "7", Text: "seven", Vector: []float32{1, 0, 0, 0}, Metadata: map[string]string{"doc_id": "kb-7", "topic": "x"}},
		{ID: "9", Text: "nine", Vector: []float32{0.5, 0.5, 0, 0}, Metadata: map[string]string{"doc_id": "kb-9", "topic": "y"}},
	}}
	strong := entity.ClStrong
	eventually := entity.ClEventually
	tests := []oracleCase{
		{name: "defaults", collection: tagged("COSINE"), query: retrieval.Query{Vector: unit, TopK: 2}},
		{
			name: "filter and metadata", collection: tagged("COSINE"),
			cfg:   milvus.Config{OutputFields: []string{"topic"}},
			query: retrieval.Query{Vector: []float32{0.6, 0.8, 0, 0}, TopK: 3, Filter: `topic == "x"`},
			sdk: func(_ *milvusclient.ClientConfig, s *milvusSearch) {
				s.filter, s.outputFields = `topic == "x"`, []string{"text", "topic"}
			},
		},
		{
			name: "default filter", collection: tagged("COSINE"),
			cfg:   milvus.Config{Filter: `topic == "y"`, OutputFields: []string{"topic"}},
			query: retrieval.Query{Vector: unit},
			sdk: func(_ *milvusclient.ClientConfig, s *milvusSearch) {
				s.filter, s.outputFields = `topic == "y"`, []string{"text", "topic"}
			},
		},
		{name: "L2", collection: tagged("L2"), cfg: milvus.Config{Metric: milvus.L2}, query: retrieval.Query{Vector: unit, TopK: 3}},
		{name: "IP", collection: tagged("IP"), cfg: milvus.Config{Metric: milvus.InnerProduct}, query: retrieval.Query{Vector: unit, TopK: 3}},
		{
			name: "int64 ids", collection: numeric,
			query: retrieval.Query{Vector: unit, TopK: 2},
		},
		{
			name: "id field", collection: numeric,
			cfg:   milvus.Config{IDField: "doc_id", OutputFields: []string{"topic", "doc_id"}},
			query: retrieval.Query{Vector: unit, TopK: 2},
			sdk: func(_ *milvusclient.ClientConfig, s *milvusSearch) {
				s.outputFields = []string{"text", "doc_id", "topic"}
			},
		},
		{
			name: "strong consistency and nprobe", collection: tagged("COSINE"),
			cfg:   milvus.Config{Consistency: milvus.Strong, SearchParams: `{ "nprobe": 16 }`},
			query: retrieval.Query{Vector: unit, TopK: 1},
			sdk: func(_ *milvusclient.ClientConfig, s *milvusSearch) {
				s.consistency, s.annParam = &strong, index.NewIvfAnnParam(16)
			},
		},
		{
			name: "eventual consistency and ef", collection: tagged("COSINE"),
			cfg:   milvus.Config{Consistency: milvus.Eventually, SearchParams: `{"ef":64}`},
			query: retrieval.Query{Vector: unit, TopK: 1},
			sdk: func(_ *milvusclient.ClientConfig, s *milvusSearch) {
				s.consistency, s.annParam = &eventually, index.NewHNSWAnnParam(64)
			},
		},
		{
			name: "user, password and database", collection: tagged("COSINE"), dbPath: "/kb",
			cfg:   milvus.Config{Username: "root", Password: "Milvus"},
			query: retrieval.Query{Vector: unit, TopK: 1},
			sdk:   func(c *milvusclient.ClientConfig, _ *milvusSearch) { c.Username, c.Password = "root", "Milvus" },
		},
		{
			name: "api key", collection: tagged("COSINE"),
			cfg:   milvus.Config{APIKey: "db-key-123"},
			query: retrieval.Query{Vector: unit, TopK: 1},
			sdk:   func(c *milvusclient.ClientConfig, _ *milvusSearch) { c.APIKey = "db-key-123" },
		},
		{
			name: "missing collection", collection: tagged("COSINE"),
			query: retrieval.Query{Vector: unit, TopK: 1, Collection: "nowhere"},
		},
		{
			name: "invalid query", collection: tagged("COSINE"),
			query: retrieval.Query{Vector: unit, TopK: 1, Filter: `lang == "en"`},
			sdk:   func(_ *milvusclient.ClientConfig, s *milvusSearch) { s.filter = `lang == "en"` },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runOracle(t, tt) })
	}
}

func runOracle(t *testing.T, tt oracleCase) {
	tt.collection.Name = collection
	srv := milvusfake.Start(t, tt.collection)
	cfg := tt.cfg
	cfg.Addr, cfg.Collection = srv.Addr()+tt.dbPath, collection
	if cfg.Metric == "" {
		cfg.Metric = milvus.Metric(cmp.Or(tt.collection.Metric, "COSINE"))
	}
	r, err := milvus.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	got, gotErr := r.Search(ctx(t, 5*time.Second), tt.query)
	ours := srv.Requests()

	sdkCfg := &milvusclient.ClientConfig{Address: srv.Addr() + tt.dbPath, DisableConn: true}
	search := &milvusSearch{outputFields: []string{"text"}}
	if cfg.IDField != "" {
		search.outputFields = append(search.outputFields, cfg.IDField)
	}
	if tt.sdk != nil {
		tt.sdk(sdkCfg, search)
	}
	want, wantErr := sdkSearch(t, sdkCfg, cfg, search, tt.query)
	theirs := srv.Requests()[len(ours):]

	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("retriever error %v, SDK error %v", gotErr, wantErr)
	}
	if gotErr != nil {
		t.Logf("both failed: retriever %v; SDK %v", gotErr, wantErr)
	}
	if len(ours) == 0 {
		t.Fatal("the fake recorded no call")
	}
	compareRequests(t, ours, theirs)
	if !slices.EqualFunc(got, want, sameDocument) {
		t.Errorf("documents differ:\nretriever %v\nSDK       %v", got, want)
	}
}

// sdkSearch searches with the SDK as the retriever was built to, and parses its result set the
// way the retriever did while it used the SDK.
func sdkSearch(t *testing.T, sdkCfg *milvusclient.ClientConfig, cfg milvus.Config, s *milvusSearch, q retrieval.Query) ([]retrieval.Document, error) {
	t.Helper()
	client, err := milvusclient.New(t.Context(), sdkCfg)
	if err != nil {
		t.Fatalf("SDK client: %v", err)
	}
	defer client.Close(context.Background())
	topK := cmp.Or(q.TopK, cfg.TopK, retrieval.DefaultTopK)
	opt := milvusclient.NewSearchOption(cmp.Or(q.Collection, collection), topK, []entity.Vector{entity.FloatVector(q.Vector)}).
		WithANNSField(cmp.Or(cfg.VectorField, milvus.DefaultVectorField)).
		WithOutputFields(s.outputFields...).
		WithSearchParam("metric_type", string(cfg.Metric))
	if s.filter != "" {
		opt = opt.WithFilter(s.filter)
	}
	if s.consistency != nil {
		opt = opt.WithConsistencyLevel(*s.consistency)
	}
	if s.annParam != nil {
		opt = opt.WithAnnParam(s.annParam)
	}
	results, err := client.Search(ctx(t, 5*time.Second), opt)
	if err != nil {
		return nil, err
	}
	if len(results) != 1 || results[0].Err != nil {
		t.Fatalf("SDK result sets: %d (%v)", len(results), results)
	}
	return sdkDocuments(t, cfg, results[0], topK), nil
}

// TestSDKOracleStatuses checks the retriever's reading of Milvus statuses against the SDK's
// (merr): the same statuses must be permanent, and match the same errors, as they were when the
// retriever classified the SDK's errors with merr.
func TestSDKOracleStatuses(t *testing.T) {
	statuses := []*commonpb.Status{
		merr.Status(merr.WrapErrServiceRateLimit(10)),
		merr.Status(merr.WrapErrTooManyRequests(32)),
		merr.Status(merr.WrapErrServiceNotReady("proxy", 1, "Initializing")),
		merr.Status(merr.WrapErrServiceInternal("segcore crashed")),
		merr.Status(merr.WrapErrCollectionNotLoaded(collection)),
		merr.Status(merr.WrapErrCollectionNotFullyLoaded(collection)),
		merr.Status(merr.WrapErrCollectionOnRecovering(collection)),
		merr.Status(merr.WrapErrCollectionNotFound(collection)),
		merr.Status(merr.WrapErrParameterInvalidMsg("dim mismatch")),
		merr.Status(merr.WrapErrParameterMissing("anns_field")),
		merr.Status(merr.WrapErrParameterTooLarge("topk")),
		merr.Status(merr.WrapErrFieldNotFound("lang")),
		merr.Status(merr.WrapErrFieldNameInvalid("l a n g")),
		merr.Status(merr.WrapErrCollectionIllegalSchema(collection, "no pk")),
		merr.Status(merr.WrapErrCollectionSchemaMisMatch(collection)),
		merr.Status(merr.WrapErrAliasNotFound("a", "b")),
		merr.Status(merr.WrapErrPartitionNotFound("p")),
		merr.Status(merr.WrapErrIndexNotFound("embedding")),
		merr.Status(merr.WrapErrIndexNotSupported("FLAT")),
		merr.Status(merr.WrapErrDatabaseNotFound("kb")),
		merr.Status(merr.WrapErrDatabaseNameInvalid("k b")),
		merr.Status(merr.WrapErrPrivilegeNotAuthenticated("x")),
		merr.Status(merr.WrapErrPrivilegeNotPermitted("search")),
		merr.Status(merr.ErrNeedAuthenticate),
		merr.Status(merr.WrapErrServiceUnimplemented(errors.New("x"))),
		merr.Status(merr.ErrOperationNotSupported),
		{Code: 65535, Reason: "bad expr", ExtraInfo: map[string]string{"is_input_error": "true"}},
		{Code: 424242, Reason: "new in Milvus 9"},
		// Servers before Milvus 2.3 send only the legacy ErrorCode.
		{ErrorCode: commonpb.ErrorCode_UnexpectedError, Reason: "boom"},
		{ErrorCode: commonpb.ErrorCode_CollectionNotExists},
		{ErrorCode: commonpb.ErrorCode_IllegalArgument},
		{ErrorCode: commonpb.ErrorCode_IndexNotExist},
		{ErrorCode: commonpb.ErrorCode_RateLimit, Reason: "slow down"},
		{ErrorCode: commonpb.ErrorCode_NotReadyServe, Reason: "starting up"},
	}
	srv := milvusfake.Start(t, milvusfake.Collection{Name: collection, Records: records()})
	r, err := milvus.New(t.Context(), milvus.Config{Addr: srv.Addr(), Collection: collection})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	client, err := milvusclient.New(t.Context(), &milvusclient.ClientConfig{Address: srv.Addr(), DisableConn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(context.Background())
	for _, st := range statuses {
		t.Run(fmt.Sprintf("%d/%v", st.GetCode(), st.GetErrorCode()), func(t *testing.T) { //nolint:staticcheck // the legacy code names the case
			srv.FailSearches(st)
			_, got := r.Search(ctx(t, 5*time.Second), retrieval.Query{Vector: unit, TopK: 1})
			// The SDK's own rate-limit retry is off by default (client.go), so it answers at once.
			_, sdkErr := client.Search(ctx(t, 5*time.Second), milvusclient.NewSearchOption(collection, 1, []entity.Vector{entity.FloatVector(unit)}).
				WithANNSField("embedding").WithOutputFields("text").WithSearchParam("metric_type", "COSINE"))
			if got == nil || sdkErr == nil {
				t.Fatalf("retriever %v, SDK %v: both must fail", got, sdkErr)
			}
			permanent, is := sdkClassification(sdkErr)
			if failure.IsPermanent(got) != permanent {
				t.Errorf("retriever %v: permanent %v; the SDK's %v reads as permanent %v", got, failure.IsPermanent(got), sdkErr, permanent)
			}
			if is != nil && !errors.Is(got, is) {
				t.Errorf("retriever %v does not match %v, as the SDK's %v does", got, is, sdkErr)
			}
		})
	}
}

// sdkClassification is how the retriever read the SDK's errors before it spoke gRPC itself.
func sdkClassification(err error) (permanent bool, is error) {
	switch {
	case merr.IsRetryableErr(err):
		return false, nil
	case errors.Is(err, merr.ErrCollectionNotFound):
		return true, retrieval.ErrCollectionNotFound
	case merr.GetErrorType(err) == merr.InputError,
		isAny(err, merr.ErrParameterInvalid, merr.ErrParameterMissing, merr.ErrParameterTooLarge,
			merr.ErrFieldNotFound, merr.ErrFieldInvalidName):
		return true, retrieval.ErrInvalidQuery
	case isAny(err, merr.ErrCollectionIllegalSchema, merr.ErrCollectionSchemaMismatch, merr.ErrAliasNotFound,
		merr.ErrPartitionNotFound, merr.ErrIndexNotFound, merr.ErrIndexNotSupported, merr.ErrDatabaseNotFound,
		merr.ErrDatabaseInvalidName, merr.ErrPrivilegeNotAuthenticated, merr.ErrPrivilegeNotPermitted,
		merr.ErrNeedAuthenticate, merr.ErrServiceUnimplemented, merr.ErrOperationNotSupported):
		return true, nil
	}
	return false, nil
}

func isAny(err error, targets ...error) bool {
	for _, target := range targets {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

func sdkDocuments(t *testing.T, cfg milvus.Config, rs milvusclient.ResultSet, topK int) []retrieval.Document {
	t.Helper()
	ids := rs.IDs
	if cfg.IDField != "" {
		ids = rs.GetColumn(cfg.IDField)
	}
	text := rs.GetColumn(cmp.Or(cfg.TextField, milvus.DefaultTextField))
	docs := make([]retrieval.Document, rs.ResultCount)
	for i := range docs {
		score := rs.Scores[i]
		if cfg.Metric == milvus.L2 {
			score = float32(1 / (1 + math.Max(float64(score), 0)))
		}
		docs[i] = retrieval.Document{ID: sdkString(t, ids, i), Text: sdkString(t, text, i), Score: score}
		for _, name := range cfg.OutputFields {
			if col := rs.GetColumn(name); col != nil {
				if docs[i].Metadata == nil {
					docs[i].Metadata = map[string]string{}
				}
				docs[i].Metadata[name] = sdkString(t, col, i)
			}
		}
	}
	slices.SortStableFunc(docs, func(a, b retrieval.Document) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.ID, b.ID))
	})
	return docs[:min(topK, len(docs))]
}

func sdkString(t *testing.T, col column.Column, i int) string {
	t.Helper()
	v, err := col.Get(i)
	if err != nil {
		t.Fatalf("SDK column %s row %d: %v", col.Name(), i, err)
	}
	switch v := v.(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	default:
		return fmt.Sprint(v)
	}
}

func sameDocument(a, b retrieval.Document) bool {
	return a.ID == b.ID && a.Text == b.Text && a.Score == b.Score && maps.Equal(a.Metadata, b.Metadata)
}

// Metadata that legitimately differs: the retriever's connection carries the caller's trace,
// and the request time is a clock reading.
var unequalMetadata = []string{"traceparent", "tracestate", "client-request-unixmsec"}

func compareRequests(t *testing.T, ours, theirs []milvusfake.Request) {
	t.Helper()
	method := func(r milvusfake.Request) string { return r.Method }
	if a, b := mapSlice(ours, method), mapSlice(theirs, method); !slices.Equal(a, b) {
		t.Fatalf("calls: retriever %v, SDK %v", a, b)
	}
	for i := range ours {
		a, b := ours[i], theirs[i]
		if !proto.Equal(normalize(a.Message), normalize(b.Message)) {
			t.Errorf("%s request:\nretriever %v\nSDK       %v", a.Method, a.Message, b.Message)
		}
		if !slices.Equal(sortedKeys(a.Metadata), sortedKeys(b.Metadata)) {
			t.Errorf("%s metadata keys: retriever %v, SDK %v", a.Method, sortedKeys(a.Metadata), sortedKeys(b.Metadata))
		}
		for k, v := range b.Metadata {
			if !slices.Contains(unequalMetadata, k) && !slices.Equal(a.Metadata[k], v) {
				t.Errorf("%s metadata %s: retriever %q, SDK %q", a.Method, k, a.Metadata[k], v)
			}
		}
		for _, k := range []string{"client-request-unixmsec"} {
			if len(a.Metadata[k]) != len(b.Metadata[k]) {
				t.Errorf("%s metadata %s: retriever %q, SDK %q", a.Method, k, a.Metadata[k], b.Metadata[k])
			}
		}
	}
}

// normalize sorts a search's parameters, which the SDK sends in map order, and checks that the
// placeholder group decodes.
func normalize(m proto.Message) proto.Message {
	req, ok := m.(*milvuspb.SearchRequest)
	if !ok {
		return m
	}
	req = proto.Clone(req).(*milvuspb.SearchRequest)
	slices.SortFunc(req.SearchParams, func(a, b *commonpb.KeyValuePair) int { return strings.Compare(a.GetKey(), b.GetKey()) })
	var group commonpb.PlaceholderGroup
	if err := proto.Unmarshal(req.GetPlaceholderGroup(), &group); err != nil {
		return req // left as bytes, which then must be equal
	}
	req.SearchInput = nil
	req.ExprTemplateValues = nil // the SDK sends an empty map, which is the same on the wire
	placeholders, _ := proto.MarshalOptions{Deterministic: true}.Marshal(&group)
	req.SearchInput = &milvuspb.SearchRequest_PlaceholderGroup{PlaceholderGroup: placeholders}
	return req
}

func sortedKeys[V any](m map[string]V) []string {
	var keys []string
	for k := range m {
		if k != "traceparent" && k != "tracestate" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func mapSlice[T, U any](s []T, f func(T) U) []U {
	out := make([]U, len(s))
	for i, v := range s {
		out[i] = f(v)
	}
	return out
}
