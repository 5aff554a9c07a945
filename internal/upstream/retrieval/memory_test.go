package retrieval_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval/retrievaltest"
)

func TestMemoryContract(t *testing.T) {
	retrievaltest.Run(t, func(t *testing.T, records []retrieval.Record) retrieval.Retriever {
		m, err := retrieval.NewMemory(records)
		if err != nil {
			t.Fatalf("NewMemory: %v", err)
		}
		return m
	})
}

func TestNewMemoryRefusesBadRecords(t *testing.T) {
	ok := retrieval.Record{ID: "a", Text: "a", Vector: []float32{1, 0}}
	tests := []struct {
		name    string
		records []retrieval.Record
		opts    []retrieval.MemoryOption
	}{
		{"empty id", []retrieval.Record{{Text: "x", Vector: []float32{1}}}, nil},
		{"empty text", []retrieval.Record{{ID: "x", Vector: []float32{1}}}, nil},
		{"no vector", []retrieval.Record{{ID: "x", Text: "x"}}, nil},
		{"zero vector", []retrieval.Record{{ID: "x", Text: "x", Vector: []float32{0, 0}}}, nil},
		{"dimensions differ", []retrieval.Record{ok, {ID: "b", Text: "b", Vector: []float32{1, 0, 0}}}, nil},
		{"duplicate id", []retrieval.Record{ok, ok}, nil},
		{"empty collection name", nil, []retrieval.MemoryOption{retrieval.WithCollection("")}},
		{"top_k zero", nil, []retrieval.MemoryOption{retrieval.WithTopK(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := retrieval.NewMemory(tt.records, tt.opts...); err == nil {
				t.Fatal("NewMemory succeeded")
			}
		})
	}
}

func TestMemoryOptions(t *testing.T) {
	recs := []retrieval.Record{
		{ID: "a", Text: "a", Vector: []float32{1, 0}},
		{ID: "b", Text: "b", Vector: []float32{1, 1}},
		{ID: "c", Text: "c", Vector: []float32{0, 1}},
	}
	m, err := retrieval.NewMemory(recs, retrieval.WithCollection("kb"), retrieval.WithTopK(2))
	if err != nil {
		t.Fatal(err)
	}
	for _, coll := range []string{"", "kb"} {
		docs, err := m.Search(t.Context(), retrieval.Query{Vector: []float32{1, 0}, Collection: coll})
		if err != nil || len(docs) != 2 {
			t.Fatalf("collection %q: %d docs, %v; want 2 docs", coll, len(docs), err)
		}
	}
	if _, err := m.Search(t.Context(), retrieval.Query{Vector: []float32{1, 0}, Collection: retrieval.DefaultCollection}); !errors.Is(err, retrieval.ErrCollectionNotFound) {
		t.Fatalf("default name after WithCollection: err = %v", err)
	}
}

func TestMemoryCopiesRecords(t *testing.T) {
	rec := retrieval.Record{ID: "a", Text: "a", Vector: []float32{1, 0}, Metadata: map[string]string{"k": "v"}}
	m, err := retrieval.NewMemory([]retrieval.Record{rec})
	if err != nil {
		t.Fatal(err)
	}
	rec.Vector[0], rec.Vector[1] = 0, 1
	rec.Metadata["k"] = "changed"
	docs, err := m.Search(t.Context(), retrieval.Query{Vector: []float32{1, 0}})
	if err != nil {
		t.Fatal(err)
	}
	if docs[0].Score < 0.999 || docs[0].Metadata["k"] != "v" {
		t.Fatalf("index changed with the caller's record: %+v", docs[0])
	}
	docs[0].Metadata["k"] = "changed by caller"
	again, _ := m.Search(t.Context(), retrieval.Query{Vector: []float32{1, 0}})
	if again[0].Metadata["k"] != "v" {
		t.Fatal("a caller's change to a result reached the index")
	}
}

func TestMemoryUpsert(t *testing.T) {
	m, err := retrieval.NewMemory(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Upsert(retrieval.Record{ID: "a", Text: "old", Vector: []float32{1, 0}}); err != nil {
		t.Fatal(err)
	}
	if err := m.Upsert(retrieval.Record{ID: "a", Text: "new", Vector: []float32{0, 1}}, retrieval.Record{ID: "b", Text: "b", Vector: []float32{1, 0}}); err != nil {
		t.Fatal(err)
	}
	if m.Len() != 2 {
		t.Fatalf("Len = %d, want 2", m.Len())
	}
	docs, err := m.Search(t.Context(), retrieval.Query{Vector: []float32{0, 1}, TopK: 1})
	if err != nil || docs[0].ID != "a" || docs[0].Text != "new" {
		t.Fatalf("after replace: %+v, %v", docs, err)
	}
	// A batch with one bad record stores nothing.
	err = m.Upsert(retrieval.Record{ID: "c", Text: "c", Vector: []float32{1, 1}}, retrieval.Record{ID: "d", Text: "d", Vector: []float32{1, 1, 1}})
	if err == nil || m.Len() != 2 {
		t.Fatalf("bad batch: err %v, Len %d; want an error and Len 2", err, m.Len())
	}
}

// TestMemoryConcurrentUpsertAndSearch is for the race detector.
func TestMemoryConcurrentUpsertAndSearch(t *testing.T) {
	m, err := retrieval.NewMemory([]retrieval.Record{{ID: "seed", Text: "seed", Vector: []float32{1, 0}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				id := fmt.Sprintf("w%d-%d", w, i)
				if err := m.Upsert(retrieval.Record{ID: id, Text: id, Vector: []float32{float32(i + 1), float32(w)}}); err != nil {
					t.Error(err)
					return
				}
				if _, err := m.Search(ctx, retrieval.Query{Vector: []float32{1, 1}, TopK: 3}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if m.Len() != 201 {
		t.Fatalf("Len = %d, want 201", m.Len())
	}
}

func BenchmarkMemorySearch(b *testing.B) {
	const n, dim = 10000, 384
	recs := make([]retrieval.Record, n)
	for i := range recs {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32((i*31+j*17)%97) - 48
		}
		recs[i] = retrieval.Record{ID: fmt.Sprint(i), Text: "t", Vector: v}
	}
	m, err := retrieval.NewMemory(recs)
	if err != nil {
		b.Fatal(err)
	}
	q := retrieval.Query{Vector: recs[42].Vector, TopK: 5}
	ctx := context.Background()
	for b.Loop() {
		if _, err := m.Search(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
}
