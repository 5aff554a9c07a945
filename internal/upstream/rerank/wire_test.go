package rerank

import (
	"slices"
	"testing"
)

func TestDecoders(t *testing.T) {
	tests := []struct {
		name   string
		decode func([]byte, int) ([]float64, error)
		body   string
		want   []float64
	}{
		{name: "tei sorted by score", decode: decodeTEI, body: `[{"index":2,"score":0.9},{"index":0,"score":0.5,"text":"a"},{"index":1,"score":0.1}]`, want: []float64{0.5, 0.1, 0.9}},
		{name: "cohere", decode: decodeCohere, body: `{"id":"x","results":[{"index":1,"relevance_score":0.7},{"index":0,"relevance_score":0.2}],"meta":{"api_version":{"version":"2"}}}`, want: []float64{0.2, 0.7}},
		{name: "old infinity data", decode: decodeCohere, body: `{"object":"rerank","data":[{"index":0,"relevance_score":0.3},{"index":1,"relevance_score":0.4}]}`, want: []float64{0.3, 0.4}},
		{name: "negative scores", decode: decodeTEI, body: `[{"index":1,"score":-1.5},{"index":0,"score":-3}]`, want: []float64{-3, -1.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.decode([]byte(tt.body), len(tt.want))
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// checkAligned holds for every successful decode: exactly n scores.
func checkAligned(t *testing.T, scores []float64, n int) {
	t.Helper()
	if len(scores) != n {
		t.Fatalf("%d scores for %d documents", len(scores), n)
	}
}

func FuzzDecodeTEI(f *testing.F) {
	f.Add([]byte(`[{"index":1,"score":0.98},{"index":0,"score":0.1,"text":"x"}]`), 2)
	f.Add([]byte(`[{"index":0,"score":1},{"index":0,"score":1}]`), 2)
	f.Add([]byte(`[{"index":9,"score":1}]`), 1)
	f.Add([]byte(`[]`), 0)
	f.Add([]byte(`{"error":"overloaded","error_type":"overloaded"}`), 1)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		if n < 0 || n > 256 {
			return
		}
		if scores, err := decodeTEI(body, n); err == nil {
			checkAligned(t, scores, n)
		}
	})
}

func FuzzDecodeCohere(f *testing.F) {
	f.Add([]byte(`{"id":"r","model":"m","usage":{"prompt_tokens":1,"total_tokens":1},"results":[{"index":0,"document":{"text":"a"},"relevance_score":0.5}]}`), 1)
	f.Add([]byte(`{"object":"rerank","data":[{"index":1,"relevance_score":0.2},{"index":0,"relevance_score":0.1}]}`), 2)
	f.Add([]byte(`{"results":[{"index":0,"relevance_score":1},{"index":0,"relevance_score":1}]}`), 2)
	f.Add([]byte(`{"results":null}`), 0)
	f.Add([]byte(`[{"index":0,"score":1}]`), 1)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		if n < 0 || n > 256 {
			return
		}
		if scores, err := decodeCohere(body, n); err == nil {
			checkAligned(t, scores, n)
		}
	})
}
