// Package retrieval finds the documents nearest to a query vector, for the RAG stages of the chat
// and voice workers. The stages depend only on the Retriever interface; the implementations are
// an exact in-memory index (Memory, for `jetflow dev` and tests) and Milvus (package
// retrieval/milvus), and one contract suite (package retrieval/retrievaltest) holds both to the
// same behaviour.
//
// Errors follow internal/failure: a query the corpus cannot answer (unknown collection, wrong
// vector dimension, bad filter, bad TopK) is permanent and matches ErrCollectionNotFound or
// ErrInvalidQuery; an unreachable or overloaded server, a timeout or a cancelled context is
// retryable (unmarked).
package retrieval

import "context"

// MaxTopK is the largest TopK a query may ask for. It is Milvus' own limit (quotaAndLimits
// topK), so a query valid for one implementation is valid for the other.
const MaxTopK = 16384

// DefaultTopK is used when neither the query nor the retriever's configuration sets TopK.
const DefaultTopK = 5

// Retriever searches a collection of embedded documents.
type Retriever interface {
	// Search returns at most q.TopK documents ordered by Score, highest first; ties are ordered
	// by ID so identical queries give identical answers. An empty result is not an error.
	Search(ctx context.Context, q Query) ([]Document, error)
}

// Query is one nearest-neighbour search.
type Query struct {
	// Vector is the embedded question. It must have the collection's dimension.
	Vector []float32
	// TopK bounds the number of documents returned; 0 means the retriever's default.
	TopK int
	// Collection names the collection to search; empty means the retriever's default.
	Collection string
	// Filter restricts the candidates with a Milvus boolean expression; empty means the
	// retriever's default (none for Memory). Memory understands only `key == "value"` (see
	// ParseFilter).
	Filter string
}

// Document is one search hit.
type Document struct {
	ID   string
	Text string
	// Score is higher for a closer match whatever the metric, so callers can sort and
	// threshold without knowing it: cosine similarity in [-1, 1] for COSINE (and Memory), the
	// inner product for IP, and 1/(1+d) in (0, 1] for L2, where d is the squared Euclidean
	// distance Milvus reports (monotone, so Milvus' order is kept).
	Score    float32
	Metadata map[string]string
}

// Record is a document as stored: what a corpus file holds and what an index is built from.
type Record struct {
	ID       string            `json:"id"`
	Text     string            `json:"text"`
	Vector   []float32         `json:"vector,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Validate checks what can be checked without the corpus: a non-empty, finite, non-zero vector
// and a TopK within [0, MaxTopK]. Its errors are permanent and match ErrInvalidQuery.
func (q Query) Validate() error {
	if err := checkVector(q.Vector); err != nil {
		return invalidf("query %v", err)
	}
	if q.TopK < 0 || q.TopK > MaxTopK {
		return invalidf("top_k %d is outside [0, %d]", q.TopK, MaxTopK)
	}
	return nil
}
