package embedding

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"slices"
	"testing"
)

func TestDecodeBase64Embedding(t *testing.T) {
	raw := make([]byte, 8)
	binary.LittleEndian.PutUint32(raw, math.Float32bits(0.5))
	binary.LittleEndian.PutUint32(raw[4:], math.Float32bits(-2))
	body := `{"data":[{"index":0,"object":"embedding","embedding":"` + base64.StdEncoding.EncodeToString(raw) + `"}]}`
	got, err := decodeOpenAI([]byte(body), 1)
	if err != nil || !slices.Equal(got[0], []float32{0.5, -2}) {
		t.Fatalf("got %v, %v", got, err)
	}
}

// checkDecoded holds for every successful decode: n vectors of one non-zero dimension.
func checkDecoded(t *testing.T, vecs [][]float32, n int) {
	t.Helper()
	if len(vecs) != n {
		t.Fatalf("%d vectors for %d inputs", len(vecs), n)
	}
	for _, v := range vecs {
		if len(v) == 0 || len(v) != len(vecs[0]) {
			t.Fatalf("inconsistent vectors %v", vecs)
		}
	}
}

func FuzzDecodeOpenAI(f *testing.F) {
	f.Add([]byte(`{"object":"list","data":[{"object":"embedding","embedding":[0.01,0.2],"index":1},{"object":"embedding","embedding":[0.3,0.4],"index":0}],"model":"bge","usage":{"prompt_tokens":5,"total_tokens":5}}`), 2)
	f.Add([]byte(`{"data":[{"index":0,"embedding":"AAAAPwAAAMA="}]}`), 1)
	f.Add([]byte(`{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]}`), 2)
	f.Add([]byte(`{"data":[{"embedding":[1]}]}`), 1)
	f.Add([]byte(`{"data":[]}`), 0)
	f.Add([]byte(`[[1,2]]`), 1)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		if n < 0 || n > 64 {
			return
		}
		vecs, err := decodeOpenAI(body, n)
		if err == nil {
			checkDecoded(t, vecs, n)
		}
	})
}

func FuzzDecodeTEI(f *testing.F) {
	f.Add([]byte(`[[0.0,1.0,2.5],[3,4,5]]`), 2)
	f.Add([]byte(`[[1],[1,2]]`), 2)
	f.Add([]byte(`[[]]`), 1)
	f.Add([]byte(`{"error":"Input validation error","error_type":"validation"}`), 1)
	f.Add([]byte(`[]`), 0)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		if n < 0 || n > 64 {
			return
		}
		vecs, err := decodeTEI(body, n)
		if err == nil {
			checkDecoded(t, vecs, n)
		}
	})
}
