package standin

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"strings"
	"unicode"
)

// Embed is the stand-in embedding model: feature hashing of the lower-cased words (weight 1) and
// of the character trigrams of each word padded with spaces (weight 1/2) into dim signed buckets,
// L2-normalised. Texts that share words and spellings get a high cosine, unrelated texts a
// cosine near 0, and the same text always gets the same vector, on every machine.
// A text without letters or digits gets a fixed vector of its own. dim must be at least 1.
func Embed(text string, dim int) []float32 {
	v := embedRaw(text, dim)
	var norm float64
	for _, x := range v {
		norm += float64(x) * float64(x)
	}
	norm = math.Sqrt(norm)
	for i := range v {
		v[i] = float32(float64(v[i]) / norm)
	}
	return v
}

// embedRaw is Embed without the normalisation (TEI's normalize=false).
func embedRaw(text string, dim int) []float32 {
	v := make([]float32, dim)
	add := func(feature string, weight float32) {
		h := fnv.New64a()
		h.Write([]byte(feature))
		sum := h.Sum64()
		if sum>>63 == 1 {
			weight = -weight
		}
		v[sum%uint64(dim)] += weight
	}
	ws := words(text)
	for _, w := range ws {
		add("w:"+w, 1)
		runes := []rune(" " + w + " ")
		for i := 0; i+3 <= len(runes); i++ {
			add("c:"+string(runes[i:i+3]), 0.5)
		}
	}
	if len(ws) == 0 {
		add("empty", 1)
	}
	return v
}

// words splits text into lower-cased runs of letters and digits.
func words(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// openAIEmbeddingsRequest is OpenAI's (and vLLM's and TEI's) embeddings request.
type openAIEmbeddingsRequest struct {
	Input          json.RawMessage `json:"input"`
	Model          string          `json:"model"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     *int            `json:"dimensions"`
}

type openAIEmbeddings struct {
	Object string            `json:"object"`
	Data   []openAIEmbedding `json:"data"`
	Model  string            `json:"model"`
	Usage  embeddingUsage    `json:"usage"`
}

type openAIEmbedding struct {
	Object    string `json:"object"`
	Embedding any    `json:"embedding"` // []float32, or a base64 string of little-endian float32
	Index     int    `json:"index"`
}

type embeddingUsage struct {
	PromptTokens int `json:"prompt_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

// teiEmbedRequest is TEI's EmbedRequest.
type teiEmbedRequest struct {
	Inputs     json.RawMessage `json:"inputs"`
	Normalize  *bool           `json:"normalize"`
	Dimensions *int            `json:"dimensions"`
	Truncate   *bool           `json:"truncate"`
}

// stringOrStrings decodes a JSON string or array of strings; name is the field, for errors.
func stringOrStrings(raw json.RawMessage, name string) ([]string, *statusError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, invalid("%s is required", name)
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, invalid("%s: %v", name, err)
		}
		return []string{s}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, invalid("%s must be a string or an array of strings (token ids are not supported): %v", name, err)
	}
	if len(list) == 0 {
		return nil, &statusError{status: http.StatusBadRequest, msg: name + " must not be empty", teiType: "empty"}
	}
	return list, nil
}

// dimensions returns the requested size, or the configured one.
func (s *Server) dimensions(requested *int) (int, *statusError) {
	if requested == nil {
		return s.cfg.EmbeddingDim, nil
	}
	if *requested < 1 || *requested > maxEmbeddingDim {
		return 0, invalid("dimensions %d is outside [1, %d]", *requested, maxEmbeddingDim)
	}
	return *requested, nil
}

func (s *Server) openAIEmbeddings(w http.ResponseWriter, r *http.Request) *statusError {
	var req openAIEmbeddingsRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	inputs, serr := stringOrStrings(req.Input, "input")
	if serr != nil {
		return serr
	}
	dim, serr := s.dimensions(req.Dimensions)
	if serr != nil {
		return serr
	}
	if req.EncodingFormat != "" && req.EncodingFormat != "float" && req.EncodingFormat != "base64" {
		return invalid("encoding_format %q is not float or base64", req.EncodingFormat)
	}
	out := openAIEmbeddings{Object: "list", Model: ModelEmbed, Data: make([]openAIEmbedding, len(inputs))}
	for i, text := range inputs {
		v := Embed(text, dim)
		out.Data[i] = openAIEmbedding{Object: "embedding", Index: i, Embedding: v}
		if req.EncodingFormat == "base64" {
			buf := make([]byte, 0, 4*len(v))
			for _, x := range v {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
			}
			out.Data[i].Embedding = base64.StdEncoding.EncodeToString(buf)
		}
		out.Usage.PromptTokens += len(words(text))
	}
	out.Usage.TotalTokens = out.Usage.PromptTokens
	writeJSON(w, http.StatusOK, out)
	return nil
}

// teiEmbed answers TEI's POST /embed with a bare array of vectors.
func (s *Server) teiEmbed(w http.ResponseWriter, r *http.Request) *statusError {
	var req teiEmbedRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return unprocessable(err)
	}
	inputs, serr := stringOrStrings(req.Inputs, "inputs")
	if serr != nil {
		return serr
	}
	if err := s.checkBatch(len(inputs)); err != nil {
		return err
	}
	dim, serr := s.dimensions(req.Dimensions)
	if serr != nil {
		return serr
	}
	out := make([][]float32, len(inputs))
	for i, text := range inputs {
		if req.Normalize != nil && !*req.Normalize {
			out[i] = embedRaw(text, dim)
		} else {
			out[i] = Embed(text, dim)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// checkBatch enforces TEI's max_client_batch_size with TEI's 413.
func (s *Server) checkBatch(n int) *statusError {
	if n > s.cfg.MaxBatch {
		return &statusError{status: http.StatusRequestEntityTooLarge, teiType: "validation",
			msg: fmt.Sprintf("batch size %d > maximum allowed batch size %d", n, s.cfg.MaxBatch)}
	}
	return nil
}

// unprocessable turns a body that is not the expected JSON into TEI's 422, as its JSON extractor
// answers; other errors pass unchanged.
func unprocessable(err *statusError) *statusError {
	if err.status == http.StatusBadRequest {
		err.status = http.StatusUnprocessableEntity
	}
	return err
}
