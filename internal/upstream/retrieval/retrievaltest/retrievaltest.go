// Package retrievaltest is the contract every retrieval.Retriever must meet, as one suite that
// each implementation's tests run against their own constructor (the pattern of watermill's
// pubsub/tests). A behaviour belongs here when the stages rely on it whatever the backend.
package retrievaltest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval"
)

// Dim is the dimension of every vector the suite uses; a factory that must declare a dimension
// up front (a Milvus schema) uses it for an empty corpus.
const Dim = 4

// UnknownCollection is a collection name no factory may serve.
const UnknownCollection = "no_such_collection"

// Factory returns a retriever whose default collection holds exactly records, uses cosine
// similarity (or a metric that orders unit vectors the same way), returns every metadata key as
// Document.Metadata, and has retrieval.DefaultTopK as its default TopK. Every record has a
// Dim-dimensional unit vector and the same metadata keys, as rows of one Milvus collection do.
// The factory cleans up with t.Cleanup.
type Factory func(t *testing.T, records []retrieval.Record) retrieval.Retriever

// Run runs the contract against newRetriever.
func Run(t *testing.T, newRetriever Factory) {
	tests := []struct {
		name string
		run  func(*testing.T, Factory)
	}{
		{"OrdersBySimilarity", testOrdersBySimilarity},
		{"TopKBoundsResults", testTopKBoundsResults},
		{"DefaultTopK", testDefaultTopK},
		{"MatchesExactSearch", testMatchesExactSearch},
		{"EmptyCorpus", testEmptyCorpus},
		{"ContextDone", testContextDone},
		{"UnknownCollection", testUnknownCollection},
		{"InvalidQueries", testInvalidQueries},
		{"Filter", testFilter},
		{"Deterministic", testDeterministic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newRetriever) })
	}
}

// planar returns the unit vector at angle degrees from (1,0,0,0) in the plane of the first two
// axes: its cosine with Query is cos(angle).
func planar(degrees float64) []float32 {
	r := degrees * math.Pi / 180
	return []float32{float32(math.Cos(r)), float32(math.Sin(r)), 0, 0}
}

// query is the query vector of the hand-made corpora.
var query = []float32{1, 0, 0, 0}

// fan is a corpus whose similarity to query is known by construction: doc-N is N degrees away.
func fan(angles ...int) []retrieval.Record {
	recs := make([]retrieval.Record, len(angles))
	for i, a := range angles {
		topic := "even"
		if i%2 == 1 {
			topic = "odd"
		}
		recs[i] = retrieval.Record{
			ID:       fmt.Sprintf("doc-%03d", a),
			Text:     fmt.Sprintf("document %d degrees away", a),
			Vector:   planar(float64(a)),
			Metadata: map[string]string{"topic": topic, "angle": fmt.Sprint(a)},
		}
	}
	return recs
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func search(t *testing.T, r retrieval.Retriever, q retrieval.Query) []retrieval.Document {
	t.Helper()
	docs, err := r.Search(ctxFor(t), q)
	if err != nil {
		t.Fatalf("Search(%+v): %v", q, err)
	}
	checkSorted(t, docs)
	if q.TopK > 0 && len(docs) > q.TopK {
		t.Fatalf("Search returned %d documents, TopK is %d", len(docs), q.TopK)
	}
	return docs
}

func checkSorted(t *testing.T, docs []retrieval.Document) {
	t.Helper()
	for i := 1; i < len(docs); i++ {
		a, b := docs[i-1], docs[i]
		if a.Score < b.Score || (a.Score == b.Score && a.ID > b.ID) {
			t.Fatalf("documents %d (%s, %v) and %d (%s, %v) are out of order", i-1, a.ID, a.Score, i, b.ID, b.Score)
		}
	}
}

func ids(docs []retrieval.Document) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.ID
	}
	return out
}

func testOrdersBySimilarity(t *testing.T, newRetriever Factory) {
	recs := fan(120, 0, 45, 170, 10, 80, 30)
	r := newRetriever(t, recs)
	docs := search(t, r, retrieval.Query{Vector: query, TopK: len(recs)})

	want := []string{"doc-000", "doc-010", "doc-030", "doc-045", "doc-080", "doc-120", "doc-170"}
	if got := ids(docs); !slices.Equal(got, want) {
		t.Fatalf("order = %v, want %v", got, want)
	}
	byID := map[string]retrieval.Record{}
	for _, rec := range recs {
		byID[rec.ID] = rec
	}
	for i := 1; i < len(docs); i++ {
		if docs[i-1].Score <= docs[i].Score {
			t.Errorf("score of %s (%v) is not above %s (%v)", docs[i-1].ID, docs[i-1].Score, docs[i].ID, docs[i].Score)
		}
	}
	for _, d := range docs {
		rec := byID[d.ID]
		if d.Text != rec.Text {
			t.Errorf("%s: text = %q, want %q", d.ID, d.Text, rec.Text)
		}
		if !maps.Equal(d.Metadata, rec.Metadata) {
			t.Errorf("%s: metadata = %v, want %v", d.ID, d.Metadata, rec.Metadata)
		}
	}
}

func testTopKBoundsResults(t *testing.T, newRetriever Factory) {
	recs := fan(0, 10, 20, 30, 40, 50, 60, 70, 80, 90)
	r := newRetriever(t, recs)
	tests := []struct {
		name string
		topK int
		want int
	}{
		{"one", 1, 1},
		{"some", 3, 3},
		{"all", len(recs), len(recs)},
		{"more than the corpus", len(recs) + 5, len(recs)},
		{"max", retrieval.MaxTopK, len(recs)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs := search(t, r, retrieval.Query{Vector: query, TopK: tt.topK})
			if len(docs) != tt.want {
				t.Fatalf("got %d documents, want %d", len(docs), tt.want)
			}
			if docs[0].ID != "doc-000" {
				t.Fatalf("first document is %s, want doc-000", docs[0].ID)
			}
		})
	}
}

func testDefaultTopK(t *testing.T, newRetriever Factory) {
	r := newRetriever(t, fan(0, 10, 20, 30, 40, 50, 60, 70, 80, 90))
	docs := search(t, r, retrieval.Query{Vector: query})
	if len(docs) != retrieval.DefaultTopK {
		t.Fatalf("TopK 0 gave %d documents, want the default %d", len(docs), retrieval.DefaultTopK)
	}
}

// testMatchesExactSearch compares with a brute-force cosine ranking over random vectors.
func testMatchesExactSearch(t *testing.T, newRetriever Factory) {
	rng := rand.New(rand.NewPCG(1, 2))
	randomUnit := func() []float32 {
		v := make([]float64, Dim)
		var n float64
		for i := range v {
			v[i] = rng.NormFloat64()
			n += v[i] * v[i]
		}
		out := make([]float32, Dim)
		for i := range v {
			out[i] = float32(v[i] / math.Sqrt(n))
		}
		return out
	}
	recs := make([]retrieval.Record, 60)
	for i := range recs {
		recs[i] = retrieval.Record{
			ID: fmt.Sprintf("r%02d", i), Text: fmt.Sprintf("random %d", i), Vector: randomUnit(),
			Metadata: map[string]string{"topic": "random", "angle": "?"},
		}
	}
	r := newRetriever(t, recs)

	const topK = 7
	checked := 0
	for range 20 {
		q := randomUnit()
		type scored struct {
			id    string
			score float64
		}
		all := make([]scored, len(recs))
		for i, rec := range recs {
			var s float64
			for j := range q {
				s += float64(q[j]) * float64(rec.Vector[j])
			}
			all[i] = scored{rec.ID, s}
		}
		sort.Slice(all, func(i, j int) bool { return all[i].score > all[j].score })
		// Skip queries whose ranking hinges on a difference below float32 precision.
		ambiguous := false
		for i := 1; i <= topK; i++ {
			ambiguous = ambiguous || all[i-1].score-all[i].score < 1e-4
		}
		if ambiguous {
			continue
		}
		checked++
		want := make([]string, topK)
		for i := range want {
			want[i] = all[i].id
		}
		docs := search(t, r, retrieval.Query{Vector: q, TopK: topK})
		if got := ids(docs); !slices.Equal(got, want) {
			t.Fatalf("query %v: got %v, want %v", q, got, want)
		}
	}
	if checked < 5 {
		t.Fatalf("only %d of 20 random queries were unambiguous; pick another seed", checked)
	}
}

func testEmptyCorpus(t *testing.T, newRetriever Factory) {
	r := newRetriever(t, nil)
	docs := search(t, r, retrieval.Query{Vector: query, TopK: 3})
	if len(docs) != 0 {
		t.Fatalf("empty corpus returned %v", ids(docs))
	}
}

func testContextDone(t *testing.T, newRetriever Factory) {
	r := newRetriever(t, fan(0, 10, 20))
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel2 := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel2()
	tests := []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"canceled", canceled, context.Canceled},
		{"deadline passed", expired, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := r.Search(tt.ctx, retrieval.Query{Vector: query, TopK: 1})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if failure.IsPermanent(err) {
				t.Fatalf("err %v is permanent; a done context is the caller's business, not the query's", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("Search took %v with a done context", d)
			}
		})
	}
}

func testUnknownCollection(t *testing.T, newRetriever Factory) {
	r := newRetriever(t, fan(0, 10))
	_, err := r.Search(ctxFor(t), retrieval.Query{Vector: query, TopK: 1, Collection: UnknownCollection})
	if !errors.Is(err, retrieval.ErrCollectionNotFound) || !failure.IsPermanent(err) {
		t.Fatalf("err = %v, want a permanent ErrCollectionNotFound", err)
	}
}

func testInvalidQueries(t *testing.T, newRetriever Factory) {
	r := newRetriever(t, fan(0, 10, 20))
	nan := float32(math.NaN())
	tests := []struct {
		name string
		q    retrieval.Query
	}{
		{"dimension too small", retrieval.Query{Vector: []float32{1, 0}, TopK: 1}},
		{"dimension too large", retrieval.Query{Vector: []float32{1, 0, 0, 0, 0}, TopK: 1}},
		{"empty vector", retrieval.Query{TopK: 1}},
		{"zero vector", retrieval.Query{Vector: []float32{0, 0, 0, 0}, TopK: 1}},
		{"NaN", retrieval.Query{Vector: []float32{nan, 0, 0, 0}, TopK: 1}},
		{"negative TopK", retrieval.Query{Vector: query, TopK: -1}},
		{"TopK above max", retrieval.Query{Vector: query, TopK: retrieval.MaxTopK + 1}},
		{"filter does not parse", retrieval.Query{Vector: query, TopK: 1, Filter: `topic == `}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Search(ctxFor(t), tt.q)
			if !errors.Is(err, retrieval.ErrInvalidQuery) || !failure.IsPermanent(err) {
				t.Fatalf("err = %v, want a permanent ErrInvalidQuery", err)
			}
		})
	}
}

func testFilter(t *testing.T, newRetriever Factory) {
	r := newRetriever(t, fan(0, 10, 20, 30, 40, 50))
	tests := []struct {
		name   string
		filter string
		want   []string
	}{
		{"none", "", []string{"doc-000", "doc-010", "doc-020", "doc-030", "doc-040", "doc-050"}},
		{"double quotes", `topic == "odd"`, []string{"doc-010", "doc-030", "doc-050"}},
		{"single quotes and spaces", ` topic=='even' `, []string{"doc-000", "doc-020", "doc-040"}},
		{"no match", `topic == "none"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs := search(t, r, retrieval.Query{Vector: query, TopK: 10, Filter: tt.filter})
			if got := ids(docs); len(got) != len(tt.want) || (len(got) > 0 && !slices.Equal(got, tt.want)) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func testDeterministic(t *testing.T, newRetriever Factory) {
	// doc-b and doc-a share a vector: the tie must be broken the same way every time.
	recs := fan(0, 30, 60)
	for _, id := range []string{"doc-b", "doc-a"} {
		recs = append(recs, retrieval.Record{
			ID: id, Text: "twin", Vector: planar(20), Metadata: map[string]string{"topic": "twin", "angle": "20"},
		})
	}
	r := newRetriever(t, recs)
	q := retrieval.Query{Vector: planar(5), TopK: 4}
	first := search(t, r, q)
	if got, want := ids(first), []string{"doc-000", "doc-a", "doc-b", "doc-030"}; !slices.Equal(got, want) {
		t.Fatalf("order = %v, want %v (ties by ID)", got, want)
	}

	const parallel = 8
	results := make([][]retrieval.Document, parallel)
	errs := make([]error, parallel)
	ctx := ctxFor(t)
	var wg sync.WaitGroup
	for i := range parallel {
		wg.Go(func() { results[i], errs[i] = r.Search(ctx, q) })
	}
	wg.Wait()
	for i := range parallel {
		if errs[i] != nil {
			t.Fatalf("concurrent search %d: %v", i, errs[i])
		}
		if !equalDocs(results[i], first) {
			t.Fatalf("concurrent search %d = %v, first search = %v", i, results[i], first)
		}
	}
}

func equalDocs(a, b []retrieval.Document) bool {
	return slices.EqualFunc(a, b, func(x, y retrieval.Document) bool {
		return x.ID == y.ID && x.Text == y.Text && x.Score == y.Score && maps.Equal(x.Metadata, y.Metadata)
	})
}
