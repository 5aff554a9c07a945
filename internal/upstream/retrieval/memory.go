package retrieval

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"

	"github.com/jetflow-dev/jetflow/internal/failure"
)

// DefaultCollection is the name a Memory answers to unless WithCollection says otherwise.
const DefaultCollection = "documents"

// ErrInvalidOption is returned by NewMemory for an option with a bad value.
var ErrInvalidOption = errors.New("invalid option")

// Memory is an exact (brute-force) cosine-similarity index over one collection held in memory.
// It serves `jetflow dev` and tests, where a corpus is a few thousand documents at most and an
// exact answer is worth more than speed. It is safe for concurrent use: searches share a read
// lock, Upsert takes the write lock.
type Memory struct {
	collection string
	topK       int

	mu   sync.RWMutex
	dim  int            // 0 while empty
	docs []memoryDoc    // in insertion order; ties are broken by ID, not by position
	byID map[string]int // index into docs
}

type memoryDoc struct {
	rec  Record
	unit []float32 // rec.Vector scaled to length 1, so cosine is a dot product
}

// MemoryOption tunes a Memory.
type MemoryOption func(*Memory) error

// WithCollection names the collection; a query for any other name fails with
// ErrCollectionNotFound, as it would against Milvus. The default is DefaultCollection.
func WithCollection(name string) MemoryOption {
	return func(m *Memory) error {
		if name == "" {
			return fmt.Errorf("%w: empty collection name", ErrInvalidOption)
		}
		m.collection = name
		return nil
	}
}

// WithTopK sets the TopK used when a query leaves it 0. The default is DefaultTopK.
func WithTopK(k int) MemoryOption {
	return func(m *Memory) error {
		if k < 1 || k > MaxTopK {
			return fmt.Errorf("%w: top_k %d is outside [1, %d]", ErrInvalidOption, k, MaxTopK)
		}
		m.topK = k
		return nil
	}
}

// NewMemory indexes records, which must all carry vectors of one dimension and unique IDs.
// Records are copied; the caller may reuse them.
func NewMemory(records []Record, opts ...MemoryOption) (*Memory, error) {
	m := &Memory{collection: DefaultCollection, topK: DefaultTopK, byID: map[string]int{}}
	for _, opt := range opts {
		if err := opt(m); err != nil {
			return nil, err
		}
	}
	if err := m.Upsert(records...); err != nil {
		return nil, err
	}
	return m, nil
}

// Len returns the number of documents held.
func (m *Memory) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.docs)
}

// Upsert adds records, replacing any with the same ID. Either every record is stored or, when
// one is invalid (no ID, no text, a bad vector, a dimension other than the index's, an ID twice
// in the batch), none is.
func (m *Memory) Upsert(records ...Record) error {
	if len(records) == 0 {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()

	dim := m.dim
	seen := make(map[string]int, len(records))
	prepared := make([]memoryDoc, 0, len(records))
	for i, r := range records {
		if r.ID == "" {
			return fmt.Errorf("record %d: empty id", i)
		}
		if first, dup := seen[r.ID]; dup {
			return fmt.Errorf("record %d: id %q repeats record %d", i, r.ID, first)
		}
		seen[r.ID] = i
		if r.Text == "" {
			return fmt.Errorf("record %d (id %q): empty text", i, r.ID)
		}
		unit, err := unitVector(r.Vector)
		if err != nil {
			return fmt.Errorf("record %d (id %q): %w", i, r.ID, err)
		}
		if dim == 0 {
			dim = len(unit)
		}
		if len(unit) != dim {
			return fmt.Errorf("record %d (id %q): vector has dimension %d, the index has %d", i, r.ID, len(unit), dim)
		}
		prepared = append(prepared, memoryDoc{rec: cloneRecord(r), unit: unit})
	}

	m.dim = dim
	for _, d := range prepared {
		if at, ok := m.byID[d.rec.ID]; ok {
			m.docs[at] = d
			continue
		}
		m.byID[d.rec.ID] = len(m.docs)
		m.docs = append(m.docs, d)
	}
	return nil
}

// Search implements Retriever with an exact scan; Score is the cosine similarity.
func (m *Memory) Search(ctx context.Context, q Query) ([]Document, error) {
	collection := cmp.Or(q.Collection, m.collection)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("searching collection %q: %w", collection, err)
	}
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("searching collection %q: %w", collection, err)
	}
	if collection != m.collection {
		return nil, failure.Permanent(fmt.Errorf("searching collection %q: %w", collection, ErrCollectionNotFound))
	}
	filter, err := ParseFilter(q.Filter)
	if err != nil {
		return nil, fmt.Errorf("searching collection %q: %w", collection, err)
	}
	topK := cmp.Or(q.TopK, m.topK)
	query := normalize(q.Vector) // Validate refused the vectors normalize cannot scale

	m.mu.RLock()
	defer m.mu.RUnlock()
	if len(m.docs) == 0 {
		return []Document{}, nil
	}
	if len(query) != m.dim {
		return nil, fmt.Errorf("searching collection %q: %w", collection,
			invalidf("query vector has dimension %d, the collection has %d", len(query), m.dim))
	}

	type hit struct {
		doc   *memoryDoc
		score float32
	}
	hits := make([]hit, 0, len(m.docs))
	for i := range m.docs {
		if i%4096 == 4095 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("searching collection %q: %w", collection, err)
			}
		}
		d := &m.docs[i]
		if !filter.Match(d.rec.Metadata) {
			continue
		}
		hits = append(hits, hit{doc: d, score: dot(query, d.unit)})
	}
	slices.SortFunc(hits, func(a, b hit) int {
		return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(a.doc.rec.ID, b.doc.rec.ID))
	})
	hits = hits[:min(topK, len(hits))]

	out := make([]Document, len(hits))
	for i, h := range hits {
		out[i] = Document{ID: h.doc.rec.ID, Text: h.doc.rec.Text, Score: h.score, Metadata: maps.Clone(h.doc.rec.Metadata)}
	}
	return out, nil
}

// unitVector returns v scaled to length 1, after checkVector: cosine similarity is undefined for
// a zero vector, and NaN or Inf would poison every comparison.
func unitVector(v []float32) ([]float32, error) {
	if err := checkVector(v); err != nil {
		return nil, err
	}
	return normalize(v), nil
}

// normalize returns v scaled to length 1; v must have passed checkVector.
func normalize(v []float32) []float32 {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	norm := math.Sqrt(sum)
	unit := make([]float32, len(v))
	for i, x := range v {
		unit[i] = float32(float64(x) / norm)
	}
	return unit
}

// dot is accumulated in float64 so that near-ties between long vectors order the same way on
// every run and platform.
func dot(a, b []float32) float32 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return float32(s)
}

func cloneRecord(r Record) Record {
	r.Vector = slices.Clone(r.Vector)
	r.Metadata = maps.Clone(r.Metadata)
	return r
}
