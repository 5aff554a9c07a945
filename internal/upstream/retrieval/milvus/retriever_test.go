package milvus_test

import (
	"context"
	"errors"
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus/pkg/v2/util/merr"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval/milvus"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval/milvusfake"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval/retrievaltest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, milvusfake.GoleakOptions()...) }

const collection = "docs"

// open starts a fake serving records as "docs" and a retriever on it, both closed at cleanup.
func open(t *testing.T, fc milvusfake.Collection, cfg milvus.Config) (*milvusfake.Server, *milvus.Retriever) {
	t.Helper()
	fc.Name = collection
	if fc.Dim == 0 {
		fc.Dim = retrievaltest.Dim
	}
	srv := milvusfake.Start(t, fc)
	cfg.Addr = srv.Addr()
	cfg.Collection = collection
	if cfg.Metric == "" && fc.Metric != "" {
		cfg.Metric = milvus.Metric(fc.Metric)
	}
	if cfg.OutputFields == nil {
		keys := map[string]bool{}
		for _, r := range fc.Records {
			for k := range r.Metadata {
				keys[k] = true
			}
		}
		cfg.OutputFields = slices.Sorted(maps.Keys(keys))
	}
	r, err := milvus.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("milvus.New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv, r
}

func TestContract(t *testing.T) {
	for _, metric := range []milvus.Metric{milvus.Cosine, milvus.InnerProduct, milvus.L2} {
		t.Run(string(metric), func(t *testing.T) {
			retrievaltest.Run(t, func(t *testing.T, records []retrieval.Record) retrieval.Retriever {
				_, r := open(t, milvusfake.Collection{Metric: string(metric), Records: records}, milvus.Config{})
				return r
			})
		})
	}
}

var unit = []float32{1, 0, 0, 0}

func records() []retrieval.Record {
	return []retrieval.Record{
		{ID: "a", Text: "alpha", Vector: []float32{1, 0, 0, 0}, Metadata: map[string]string{"topic": "x"}},
		{ID: "b", Text: "beta", Vector: []float32{0.6, 0.8, 0, 0}, Metadata: map[string]string{"topic": "y"}},
		{ID: "c", Text: "gamma", Vector: []float32{0, 0, 1, 0}, Metadata: map[string]string{"topic": "x"}},
	}
}

func ctx(t *testing.T, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return c
}

// TestRequestPath pins down what the SDK sends, so a change in a new SDK version shows here.
func TestRequestPath(t *testing.T) {
	srv, r := open(t, milvusfake.Collection{Records: records()}, milvus.Config{OutputFields: []string{"topic"}})
	for range 2 {
		if _, err := r.Search(ctx(t, 5*time.Second), retrieval.Query{Vector: unit, TopK: 2, Filter: `topic == "x"`}); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := srv.Calls(), []string{"DescribeCollection", "Search", "Search"}; !slices.Equal(got, want) {
		t.Fatalf("calls = %v, want %v (schema described once, then cached)", got, want)
	}
	req := srv.LastSearch()
	params := map[string]string{}
	for _, kv := range req.GetSearchParams() {
		params[kv.GetKey()] = kv.GetValue()
	}
	want := map[string]string{"anns_field": "embedding", "topk": "2", "metric_type": "COSINE"}
	for k, v := range want {
		if params[k] != v {
			t.Errorf("search param %s = %q, want %q (all: %v)", k, params[k], v, params)
		}
	}
	if req.GetDsl() != `topic == "x"` || !slices.Equal(req.GetOutputFields(), []string{"text", "topic"}) {
		t.Errorf("dsl %q, output fields %v", req.GetDsl(), req.GetOutputFields())
	}
}

// TestMilvusStatus is the classification of the statuses a Milvus server answers with. The rule:
// the query's own faults and missing resources are permanent; everything else, including what
// the server marks retriable and statuses we do not know, is retryable like an HTTP 5xx.
func TestMilvusStatus(t *testing.T) {
	tests := []struct {
		name      string
		status    *commonpb.Status
		permanent bool
		is        error
	}{
		{"rate limited", merr.Status(merr.WrapErrServiceRateLimit(10)), false, nil},
		{"too many requests", merr.Status(merr.WrapErrTooManyRequests(32)), false, nil},
		{"not ready", merr.Status(merr.WrapErrServiceNotReady("proxy", 1, "Initializing")), false, nil},
		{"internal", merr.Status(merr.WrapErrServiceInternal("segcore crashed")), false, nil},
		{"collection not loaded", merr.Status(merr.WrapErrCollectionNotLoaded(collection)), false, nil},
		{"legacy unexpected error", &commonpb.Status{ErrorCode: commonpb.ErrorCode_UnexpectedError, Reason: "boom"}, false, nil}, //nolint:staticcheck // servers before Milvus 2.3 send only the legacy code
		{"unknown code", &commonpb.Status{Code: 424242, Reason: "new in Milvus 9"}, false, nil},
		{"collection not found", merr.Status(merr.WrapErrCollectionNotFound(collection)), true, retrieval.ErrCollectionNotFound},
		{"legacy collection not found", &commonpb.Status{ErrorCode: commonpb.ErrorCode_CollectionNotExists}, true, retrieval.ErrCollectionNotFound}, //nolint:staticcheck // servers before Milvus 2.3 send only the legacy code
		{"invalid parameter", merr.Status(merr.WrapErrParameterInvalidMsg("dim mismatch")), true, retrieval.ErrInvalidQuery},
		{"legacy illegal argument", &commonpb.Status{ErrorCode: commonpb.ErrorCode_IllegalArgument}, true, retrieval.ErrInvalidQuery}, //nolint:staticcheck // servers before Milvus 2.3 send only the legacy code
		{"field not found", merr.Status(merr.WrapErrFieldNotFound("lang")), true, retrieval.ErrInvalidQuery},
		{"flagged input error", &commonpb.Status{Code: 65535, Reason: "bad expr", ExtraInfo: map[string]string{"is_input_error": "true"}}, true, retrieval.ErrInvalidQuery},
		{"not permitted", merr.Status(merr.WrapErrPrivilegeNotPermitted("search")), true, nil},
		{"index not found", merr.Status(merr.WrapErrIndexNotFound("embedding")), true, nil},
		{"database not found", merr.Status(merr.WrapErrDatabaseNotFound("kb")), true, nil},
	}
	srv, r := open(t, milvusfake.Collection{Records: records()}, milvus.Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.FailSearches(tt.status)
			_, err := r.Search(ctx(t, 5*time.Second), retrieval.Query{Vector: unit, TopK: 1})
			if err == nil {
				t.Fatal("Search succeeded")
			}
			if failure.IsPermanent(err) != tt.permanent {
				t.Fatalf("err %v: permanent = %v, want %v", err, failure.IsPermanent(err), tt.permanent)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("err %v does not match %v", err, tt.is)
			}
		})
	}
	srv.FailSearches(nil)
	if _, err := r.Search(ctx(t, 5*time.Second), retrieval.Query{Vector: unit, TopK: 1}); err != nil {
		t.Fatalf("after clearing the failure: %v", err)
	}
}

func TestUnavailableServer(t *testing.T) {
	tests := []struct {
		name       string
		warm       bool // searched successfully before the server went away
		ctxTimeout time.Duration
		cfgTimeout time.Duration
		within     time.Duration
		code       codes.Code // of the gRPC error under ours
	}{
		// The first search describes the collection, with the SDK's own retries: the deadline ends it.
		{"never reached, ctx deadline", false, 700 * time.Millisecond, 0, 1700 * time.Millisecond, codes.DeadlineExceeded},
		{"never reached, config timeout", false, 0, 700 * time.Millisecond, 1700 * time.Millisecond, codes.DeadlineExceeded},
		// Later searches retry Unavailable briefly, then report it long before the deadline.
		{"went away", true, 10 * time.Second, 0, 2 * time.Second, codes.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, r := open(t, milvusfake.Collection{Records: records()}, milvus.Config{Timeout: tt.cfgTimeout})
			if tt.warm {
				if _, err := r.Search(ctx(t, 5*time.Second), retrieval.Query{Vector: unit, TopK: 1}); err != nil {
					t.Fatal(err)
				}
			}
			srv.Stop()
			c := context.Background()
			if tt.ctxTimeout > 0 {
				c = ctx(t, tt.ctxTimeout)
			}
			start := time.Now()
			_, err := r.Search(c, retrieval.Query{Vector: unit, TopK: 1})
			elapsed := time.Since(start)
			if err == nil {
				t.Fatal("Search succeeded against a stopped server")
			}
			if failure.IsPermanent(err) {
				t.Fatalf("err %v is permanent; an unavailable server is retryable", err)
			}
			if elapsed > tt.within {
				t.Fatalf("Search returned after %v, want within %v", elapsed, tt.within)
			}
			if got := status.Code(err); got != tt.code {
				t.Fatalf("err %v has gRPC code %v, want %v", err, got, tt.code)
			}
			t.Logf("%v after %v", err, elapsed.Round(time.Millisecond))
		})
	}
}

func TestSlowServerHonoursDeadline(t *testing.T) {
	srv, r := open(t, milvusfake.Collection{Records: records()}, milvus.Config{})
	srv.SetDelay(time.Minute)
	start := time.Now()
	_, err := r.Search(ctx(t, 300*time.Millisecond), retrieval.Query{Vector: unit, TopK: 1})
	if !errors.Is(err, context.DeadlineExceeded) || failure.IsPermanent(err) {
		t.Fatalf("err = %v, want a retryable context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Search took %v with a 300ms deadline", d)
	}
}

func TestAuth(t *testing.T) {
	tests := []struct {
		name      string
		cfg       milvus.Config
		wantError bool
	}{
		{"user and password", milvus.Config{Username: "root", Password: "Milvus"}, false},
		{"api key", milvus.Config{APIKey: "root:Milvus"}, false},
		{"wrong password", milvus.Config{Username: "root", Password: "guess"}, true},
		{"none", milvus.Config{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, r := open(t, milvusfake.Collection{Records: records()}, tt.cfg)
			srv.RequireAuth("root:Milvus")
			_, err := r.Search(ctx(t, 5*time.Second), retrieval.Query{Vector: unit, TopK: 1})
			if tt.wantError != (err != nil) {
				t.Fatalf("err = %v, want error %v", err, tt.wantError)
			}
			if err != nil && !failure.IsPermanent(err) {
				t.Fatalf("auth failure %v is retryable, want permanent", err)
			}
		})
	}
}

func TestIDs(t *testing.T) {
	recs := []retrieval.Record{
		{ID: "7", Text: "seven", Vector: []float32{1, 0, 0, 0}, Metadata: map[string]string{"doc_id": "kb-7"}},
		{ID: "9", Text: "nine", Vector: []float32{0, 1, 0, 0}, Metadata: map[string]string{"doc_id": "kb-9"}},
	}
	tests := []struct {
		name    string
		idField string
		want    []string
	}{
		{"int64 primary key", "", []string{"7", "9"}},
		{"id from another field", "doc_id", []string{"kb-7", "kb-9"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, r := open(t, milvusfake.Collection{Int64IDs: true, Records: recs}, milvus.Config{IDField: tt.idField})
			docs, err := r.Search(ctx(t, 5*time.Second), retrieval.Query{Vector: unit, TopK: 2})
			if err != nil {
				t.Fatal(err)
			}
			if got := []string{docs[0].ID, docs[1].ID}; !slices.Equal(got, tt.want) {
				t.Fatalf("ids = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestScores(t *testing.T) {
	// Query (1,0,0,0) against a = (1,0,0,0), b = (0.6,0.8,0,0), c = (0,0,1,0).
	tests := []struct {
		metric milvus.Metric
		want   []float32 // for a, b, c
	}{
		{milvus.Cosine, []float32{1, 0.6, 0}},
		{milvus.InnerProduct, []float32{1, 0.6, 0}},
		{milvus.L2, []float32{1, 1 / (1 + 0.8), 1.0 / 3}}, // squared distances 0, 0.8, 2
	}
	for _, tt := range tests {
		t.Run(string(tt.metric), func(t *testing.T) {
			_, r := open(t, milvusfake.Collection{Metric: string(tt.metric), Records: records()}, milvus.Config{})
			docs, err := r.Search(ctx(t, 5*time.Second), retrieval.Query{Vector: unit, TopK: 3})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, d := range docs {
				ids = append(ids, d.ID)
			}
			if want := []string{"a", "b", "c"}; !slices.Equal(ids, want) {
				t.Fatalf("ids = %v, want %v", ids, want)
			}
			for i, d := range docs {
				if math.Abs(float64(d.Score-tt.want[i])) > 1e-5 {
					t.Errorf("%s: score %v, want %v", d.ID, d.Score, tt.want[i])
				}
			}
		})
	}
}

func TestMetricMismatchIsPermanent(t *testing.T) {
	_, r := open(t, milvusfake.Collection{Metric: "L2", Records: records()}, milvus.Config{Metric: milvus.Cosine})
	_, err := r.Search(ctx(t, 5*time.Second), retrieval.Query{Vector: unit, TopK: 1})
	if !errors.Is(err, retrieval.ErrInvalidQuery) || !failure.IsPermanent(err) {
		t.Fatalf("err = %v, want a permanent ErrInvalidQuery", err)
	}
}

func TestDefaultFilter(t *testing.T) {
	_, r := open(t, milvusfake.Collection{Records: records()}, milvus.Config{Filter: `topic == "x"`})
	tests := []struct {
		name   string
		filter string
		want   []string
	}{
		{"default applies", "", []string{"a", "c"}},
		{"query overrides", `topic == "y"`, []string{"b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := r.Search(ctx(t, 5*time.Second), retrieval.Query{Vector: unit, TopK: 5, Filter: tt.filter})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range docs {
				got = append(got, d.ID)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("ids = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPing(t *testing.T) {
	srv, r := open(t, milvusfake.Collection{Records: records()}, milvus.Config{})
	if err := r.Ping(ctx(t, 5*time.Second)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	srv.Stop()
	if err := r.Ping(ctx(t, 500*time.Millisecond)); err == nil || failure.IsPermanent(err) {
		t.Fatalf("Ping of a stopped server: %v, want a retryable error", err)
	}

	other := milvusfake.Start(t, milvusfake.Collection{Name: "other", Dim: 4})
	r2, err := milvus.New(t.Context(), milvus.Config{Addr: other.Addr(), Collection: collection})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close(t.Context())
	if err := r2.Ping(ctx(t, 5*time.Second)); !errors.Is(err, retrieval.ErrCollectionNotFound) || !failure.IsPermanent(err) {
		t.Fatalf("Ping of a missing collection: %v, want a permanent ErrCollectionNotFound", err)
	}
}

func TestClose(t *testing.T) {
	srv, r := open(t, milvusfake.Collection{Records: records()}, milvus.Config{})
	srv.SetDelay(300 * time.Millisecond)
	errc := make(chan error, 1)
	go func() {
		_, err := r.Search(ctx(t, 5*time.Second), retrieval.Query{Vector: unit, TopK: 1})
		errc <- err
	}()
	jstest.Eventually(t, 5*time.Second, 5*time.Millisecond, func() error {
		if !slices.Contains(srv.Calls(), "Search") {
			return errors.New("search not started")
		}
		return nil
	})

	short, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if err := r.Close(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with a search in flight and a short deadline: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("in-flight search: %v", err)
	}
	_, err := r.Search(ctx(t, time.Second), retrieval.Query{Vector: unit, TopK: 1})
	if !errors.Is(err, milvus.ErrClosed) || failure.IsPermanent(err) {
		t.Fatalf("Search after Close: %v, want a retryable ErrClosed", err)
	}
}

func TestCloseWaitsForSearches(t *testing.T) {
	srv := milvusfake.Start(t, milvusfake.Collection{Name: collection, Records: records()})
	r, err := milvus.New(t.Context(), milvus.Config{Addr: srv.Addr(), Collection: collection})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetDelay(200 * time.Millisecond)
	errc := make(chan error, 1)
	go func() {
		_, err := r.Search(ctx(t, 5*time.Second), retrieval.Query{Vector: unit, TopK: 1})
		errc <- err
	}()
	jstest.Eventually(t, 5*time.Second, 5*time.Millisecond, func() error {
		if !slices.Contains(srv.Calls(), "Search") {
			return errors.New("search not started")
		}
		return nil
	})
	if err := r.Close(ctx(t, 5*time.Second)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("search during Close: %v", err)
		}
	default:
		t.Fatal("Close returned before the in-flight search")
	}
	if err := r.Close(t.Context()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
