package standin

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"net/http"
	"testing"
)

type clientEmbeddings struct {
	Object string `json:"object"`
	Model  string `json:"model"`
	Data   []struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	} `json:"data"`
	Usage struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na*nb)
}

func TestEmbedSimilarity(t *testing.T) {
	tests := []struct{ name, text, nearDuplicate, unrelated string }{
		{"punctuation and case", "The café opens at 9 o'clock.", "the Cafe opens at 9 o'clock", "Quarterly revenue grew by twelve percent."},
		{"one word changed", "JetStream keeps every message durable.", "JetStream keeps each message durable.", "Bananas are rich in potassium."},
		{"typo", "Kubernetes schedules pods onto nodes", "Kubernetes schedules pods onto ndoes", "Il pleut à Paris depuis lundi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Embed(tt.text, 384)
			near, far := cosine(v, Embed(tt.nearDuplicate, 384)), cosine(v, Embed(tt.unrelated, 384))
			if near <= far || near < 0.6 || far > 0.3 {
				t.Errorf("cosine near %.3f, unrelated %.3f", near, far)
			}
		})
	}
	if got := cosine(Embed("same text", 384), Embed("same text", 384)); math.Abs(got-1) > 1e-6 {
		t.Errorf("a text is not identical to itself: %v", got)
	}
	if got := Embed("", 16); math.IsNaN(float64(got[0])) || cosine(got, got) < 0.99 {
		t.Errorf("empty text embeds to %v", got)
	}
}

func TestOpenAIEmbeddings(t *testing.T) {
	ts, _ := serve(t, Config{})
	tests := []struct {
		name    string
		req     map[string]any
		texts   []string
		wantDim int
	}{
		{"one string", map[string]any{"model": "m", "input": "hello world"}, []string{"hello world"}, 384},
		{"array", map[string]any{"input": []string{"a b", "c", "d e f"}}, []string{"a b", "c", "d e f"}, 384},
		{"dimensions", map[string]any{"input": []string{"x"}, "dimensions": 64}, []string{"x"}, 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeAs[clientEmbeddings](t, post(t, ts.URL+"/v1/embeddings", tt.req), http.StatusOK)
			if got.Object != "list" || got.Model != ModelEmbed || len(got.Data) != len(tt.texts) {
				t.Fatalf("answer = %+v", got)
			}
			wantTokens := 0
			for i, d := range got.Data {
				if d.Object != "embedding" || d.Index != i || len(d.Embedding) != tt.wantDim {
					t.Errorf("data[%d] = index %d, %d dims", i, d.Index, len(d.Embedding))
				}
				if c := cosine(d.Embedding, Embed(tt.texts[d.Index], tt.wantDim)); math.Abs(c-1) > 1e-6 {
					t.Errorf("data[%d] is not Embed(%q)", i, tt.texts[d.Index])
				}
				wantTokens += len(words(tt.texts[i]))
			}
			if got.Usage.PromptTokens != wantTokens || got.Usage.TotalTokens != wantTokens {
				t.Errorf("usage = %+v, want %d", got.Usage, wantTokens)
			}
		})
	}
}

func TestOpenAIEmbeddingsBase64(t *testing.T) {
	ts, _ := serve(t, Config{EmbeddingDim: 8})
	type b64 struct {
		Data []struct {
			Embedding string `json:"embedding"`
		} `json:"data"`
	}
	got := decodeAs[b64](t, post(t, ts.URL+"/v1/embeddings", map[string]any{"input": "x y", "encoding_format": "base64"}), http.StatusOK)
	raw, err := base64.StdEncoding.DecodeString(got.Data[0].Embedding)
	if err != nil || len(raw) != 32 {
		t.Fatalf("base64 %q: %v", got.Data[0].Embedding, err)
	}
	want := Embed("x y", 8)
	for i := range want {
		if v := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])); v != want[i] {
			t.Errorf("[%d] = %v, want %v", i, v, want[i])
		}
	}
}

func TestOpenAIEmbeddingsRejects(t *testing.T) {
	ts, _ := serve(t, Config{})
	for name, body := range map[string]any{
		"no input":      map[string]any{"model": "m"},
		"empty array":   map[string]any{"input": []string{}},
		"token ids":     map[string]any{"input": []int{1, 2, 3}},
		"bad format":    map[string]any{"input": "x", "encoding_format": "int8"},
		"bad dimension": map[string]any{"input": "x", "dimensions": 0},
	} {
		t.Run(name, func(t *testing.T) {
			got := decodeAs[vllmError](t, post(t, ts.URL+"/v1/embeddings", body), http.StatusBadRequest)
			if got.Error.Code != http.StatusBadRequest {
				t.Errorf("error = %+v", got)
			}
		})
	}
}

func TestTEIEmbed(t *testing.T) {
	ts, _ := serve(t, Config{TEIPrefix: "/tei", MaxBatch: 2})
	t.Run("string", func(t *testing.T) {
		got := decodeAs[[][]float32](t, post(t, ts.URL+"/tei/embed", map[string]any{"inputs": "hello"}), http.StatusOK)
		if len(got) != 1 || len(got[0]) != 384 || cosine(got[0], Embed("hello", 384)) < 0.999999 {
			t.Errorf("got %d vectors", len(got))
		}
	})
	t.Run("array, not normalised", func(t *testing.T) {
		got := decodeAs[[][]float32](t, post(t, ts.URL+"/tei/embed", map[string]any{"inputs": []string{"a a", "b"}, "normalize": false}), http.StatusOK)
		if len(got) != 2 || cosine(got[0], Embed("a a", 384)) < 0.999999 {
			t.Fatalf("got %v", len(got))
		}
		var norm float64
		for _, x := range got[0] {
			norm += float64(x) * float64(x)
		}
		if math.Abs(norm-1) < 1e-3 {
			t.Errorf("normalize=false gave a unit vector")
		}
	})
	tests := []struct {
		name       string
		body       any
		wantStatus int
		wantType   string
	}{
		{"batch too large", map[string]any{"inputs": []string{"a", "b", "c"}}, http.StatusRequestEntityTooLarge, "validation"},
		{"empty batch", map[string]any{"inputs": []string{}}, http.StatusBadRequest, "empty"},
		{"not JSON", "nope", http.StatusUnprocessableEntity, "validation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeAs[teiErrorBody](t, post(t, ts.URL+"/tei/embed", tt.body), tt.wantStatus)
			if got.ErrorType != tt.wantType || got.Error == "" {
				t.Errorf("error = %+v", got)
			}
		})
	}
}
