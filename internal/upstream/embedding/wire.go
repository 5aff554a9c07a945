package embedding

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// openAIRequest follows TEI's OpenAICompatRequest and vLLM's EmbeddingRequest.
type openAIRequest struct {
	Input          []string `json:"input"`
	Model          string   `json:"model,omitempty"`
	EncodingFormat string   `json:"encoding_format"`
}

type openAIResponse struct {
	Data []struct {
		Index     *int            `json:"index"`
		Embedding json.RawMessage `json:"embedding"`
	} `json:"data"`
}

// teiRequest follows TEI's EmbedRequest (router/src/http/types.rs).
type teiRequest struct {
	Inputs   []string `json:"inputs"`
	Truncate bool     `json:"truncate,omitempty"`
}

// decodeOpenAI decodes an OpenAI-shaped response to n inputs, ordered by each item's index.
func decodeOpenAI(body []byte, n int) ([][]float32, error) {
	var resp openAIResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, err
	}
	if len(resp.Data) != n {
		return nil, fmt.Errorf("got %d embeddings for %d inputs", len(resp.Data), n)
	}
	out := make([][]float32, n)
	for i, item := range resp.Data {
		if item.Index == nil {
			return nil, fmt.Errorf("embedding %d has no index", i)
		}
		idx := *item.Index
		if idx < 0 || idx >= n {
			return nil, fmt.Errorf("embedding index %d is outside [0, %d)", idx, n)
		}
		if out[idx] != nil {
			return nil, fmt.Errorf("embedding index %d appears twice", idx)
		}
		vec, err := decodeVector(item.Embedding)
		if err != nil {
			return nil, fmt.Errorf("embedding %d: %w", idx, err)
		}
		out[idx] = vec
	}
	return out, checkDimensions(out)
}

// decodeVector reads a float array, or the base64 little-endian float32 form a server may send
// for encoding_format "base64" (TEI's untagged enum Embedding { Float, Base64 }).
func decodeVector(raw json.RawMessage) ([]float32, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("decoding base64 embedding: %w", err)
		}
		if len(b)%4 != 0 {
			return nil, fmt.Errorf("base64 embedding has %d bytes, not a multiple of 4", len(b))
		}
		vec := make([]float32, len(b)/4)
		for i := range vec {
			vec[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return vec, nil
	}
	var vec []float32
	if err := json.Unmarshal(raw, &vec); err != nil {
		return nil, err
	}
	return vec, nil
}

// decodeTEI decodes TEI's bare array of arrays, already in input order.
func decodeTEI(body []byte, n int) ([][]float32, error) {
	var out [][]float32
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, err
	}
	if len(out) != n {
		return nil, fmt.Errorf("got %d embeddings for %d inputs", len(out), n)
	}
	return out, checkDimensions(out)
}

var errEmptyVector = errors.New("embedding is empty")

// checkDimensions requires every vector to be non-empty, finite and of one length.
func checkDimensions(vecs [][]float32) error {
	for i, v := range vecs {
		if len(v) == 0 {
			return fmt.Errorf("embedding %d: %w", i, errEmptyVector)
		}
		if len(v) != len(vecs[0]) {
			return fmt.Errorf("embedding %d has %d dimensions, embedding 0 has %d", i, len(v), len(vecs[0]))
		}
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return fmt.Errorf("embedding %d holds %v", i, x)
			}
		}
	}
	return nil
}
