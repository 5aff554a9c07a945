package retrieval

import (
	"bytes"
	_ "embed"
	"io"
)

//go:embed corpus/platform.jsonl
var sampleCorpus []byte

// SampleCorpus returns a small JSONL corpus (about 30 documents describing the platform itself:
// JetStream, KEDA, Milvus, Ray Serve, the workers) for `jetflow dev` and demos. Its lines carry no
// vectors: load it with LoadJSONL and the same embedder that embeds the questions, or the
// similarities would mean nothing. Metadata has "topic" and "source" keys.
func SampleCorpus() io.Reader { return bytes.NewReader(sampleCorpus) }
