package retrieval_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval"
)

// hashVectors is a deterministic stand-in embedder: dim dimensions from each text's FNV hash.
func hashVectors(dim int, texts []string) [][]float32 {
	out := make([][]float32, len(texts))
	for i, s := range texts {
		h := fnv.New64a()
		_, _ = h.Write([]byte(s)) // a hash.Hash never fails to write
		x := h.Sum64()
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(int64(x>>(j*8)&0xff) - 127)
		}
		v[0] = 200 // never the zero vector
		out[i] = v
	}
	return out
}

// hashEmbed is hashVectors as an EmbedFunc that records its calls.
func hashEmbed(dim int) (retrieval.EmbedFunc, *[][]string) {
	var calls [][]string
	return func(ctx context.Context, texts []string) ([][]float32, error) {
		calls = append(calls, slices.Clone(texts))
		return hashVectors(dim, texts), nil
	}, &calls
}

func TestLoadJSONL(t *testing.T) {
	in := "\xef\xbb\xbf" + `{"id":"a","text":"alpha","vector":[1,0,0],"metadata":{"lang":"en"}}

{"id":"b","text":"beta","vector":[0,1,0]}
   
{"id":"c","text":"gamma","vector":[0,0,1],"metadata":{}}
`
	recs, err := retrieval.LoadJSONL(t.Context(), strings.NewReader(in), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []retrieval.Record{
		{ID: "a", Text: "alpha", Vector: []float32{1, 0, 0}, Metadata: map[string]string{"lang": "en"}},
		{ID: "b", Text: "beta", Vector: []float32{0, 1, 0}},
		{ID: "c", Text: "gamma", Vector: []float32{0, 0, 1}, Metadata: map[string]string{}},
	}
	if fmt.Sprint(recs) != fmt.Sprint(want) {
		t.Fatalf("got %+v\nwant %+v", recs, want)
	}
}

// The embed function gets every text at once: batching them into requests the server accepts is
// the embeddings client's job.
func TestLoadJSONLEmbedsInOneCall(t *testing.T) {
	var b strings.Builder
	const n = 70
	var wantTexts []string
	for i := range n {
		if i == 5 {
			fmt.Fprintf(&b, `{"id":"d%d","text":"text %d","vector":[1,2,3,4]}`+"\n", i, i)
			continue
		}
		fmt.Fprintf(&b, `{"id":"d%d","text":"text %d"}`+"\n", i, i)
		wantTexts = append(wantTexts, fmt.Sprintf("text %d", i))
	}
	embed, calls := hashEmbed(4)
	recs, err := retrieval.LoadJSONL(t.Context(), strings.NewReader(b.String()), embed)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != n {
		t.Fatalf("got %d records, want %d", len(recs), n)
	}
	if len(*calls) != 1 {
		t.Fatalf("embed called %d times, want once", len(*calls))
	}
	if (*calls)[0][0] != "text 0" || (*calls)[0][5] != "text 6" || !slices.Equal((*calls)[0], wantTexts) {
		t.Fatalf("embedded texts = %v, want texts in file order without the line that has a vector", (*calls)[0])
	}
	if !slices.Equal(recs[5].Vector, []float32{1, 2, 3, 4}) {
		t.Fatalf("a given vector was replaced: %v", recs[5].Vector)
	}
	for i, rec := range recs {
		if i == 5 {
			continue
		}
		if !slices.Equal(rec.Vector, hashVectors(4, []string{rec.Text})[0]) {
			t.Fatalf("record %d (%s) has the vector of another text", i, rec.ID)
		}
	}
}

func TestLoadJSONLErrorsNameTheLine(t *testing.T) {
	good := `{"id":"ok","text":"ok","vector":[1,0]}`
	tests := []struct {
		name  string
		in    string
		embed retrieval.EmbedFunc
		line  int
		text  string
	}{
		{"bad JSON", good + "\n\n{\"id\":", nil, 3, "decoding JSON"},
		{"not an object", "[1,2]", nil, 1, "decoding JSON"},
		{"unknown key", `{"id":"a","text":"a","vectors":[1]}`, nil, 1, "unknown field"},
		{"two values", good + ` {}`, nil, 1, "more than one value"},
		{"missing id", `{"text":"a","vector":[1,0]}`, nil, 1, `missing "id"`},
		{"missing text", `{"id":"a","vector":[1,0]}`, nil, 1, `missing "text"`},
		{"duplicate id", good + "\n" + `{"id":"x","text":"x","vector":[0,1]}` + "\n" + good, nil, 3, `repeats line 1`},
		{"dimensions differ", good + "\n" + `{"id":"b","text":"b","vector":[1,2,3]}`, nil, 2, "dimension 3"},
		{"empty vector", `{"id":"a","text":"a","vector":[]}`, nil, 1, "empty"},
		{"zero vector", `{"id":"a","text":"a","vector":[0,0]}`, nil, 1, "zeros"},
		{"float32 overflow", `{"id":"a","text":"a","vector":[1e39]}`, nil, 1, "decoding JSON"},
		{"metadata not strings", `{"id":"a","text":"a","vector":[1],"metadata":{"n":1}}`, nil, 1, "decoding JSON"},
		{"no embed function", good + "\n" + `{"id":"b","text":"b"}`, nil, 2, "no embed function"},
		{"embedding of another dimension", good + "\n" + `{"id":"b","text":"b"}`, must(hashEmbed(3)), 2, "dimension 3"},
		{"zero embedding", `{"id":"b","text":"b"}`, func(context.Context, []string) ([][]float32, error) {
			return [][]float32{{0, 0}}, nil
		}, 1, "zeros"},
		{"zero embedding after a good one", good + "\n" + `{"id":"b","text":"b"}` + "\n" + `{"id":"c","text":"c"}`,
			func(context.Context, []string) ([][]float32, error) { return [][]float32{{0, 1}, {0, 0}}, nil }, 3, "zeros"},
		{"line too long", good + "\n" + `{"id":"` + strings.Repeat("x", retrieval.MaxLineBytes) + `"}`, nil, 2, "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := retrieval.LoadJSONL(t.Context(), strings.NewReader(tt.in), tt.embed)
			var le *retrieval.LineError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v, want a *LineError", err)
			}
			if le.Line != tt.line || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("err = %q (line %d), want line %d mentioning %q", err, le.Line, tt.line, tt.text)
			}
		})
	}
}

func must(f retrieval.EmbedFunc, _ *[][]string) retrieval.EmbedFunc { return f }

func TestLoadJSONLEmbedFailures(t *testing.T) {
	in := `{"id":"a","text":"a"}` + "\n" + `{"id":"b","text":"b"}`
	boom := errors.New("embedding server down")
	tests := []struct {
		name  string
		embed retrieval.EmbedFunc
		want  error
		text  string
	}{
		{"error", func(context.Context, []string) ([][]float32, error) { return nil, boom }, boom, "embedding lines 1-2"},
		{"wrong count", func(context.Context, []string) ([][]float32, error) { return [][]float32{{1}}, nil }, nil, "got 1 vectors for 2 texts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := retrieval.LoadJSONL(t.Context(), strings.NewReader(in), tt.embed)
			if err == nil || !strings.Contains(err.Error(), tt.text) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tt.want, tt.text)
			}
		})
	}
}

func TestLoadJSONLHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	embed, calls := hashEmbed(2)
	_, err := retrieval.LoadJSONL(ctx, strings.NewReader(`{"id":"a","text":"a"}`), embed)
	if !errors.Is(err, context.Canceled) || len(*calls) != 0 {
		t.Fatalf("err = %v after %d embed calls, want context.Canceled and none", err, len(*calls))
	}
}

func TestLoadJSONLEmpty(t *testing.T) {
	recs, err := retrieval.LoadJSONL(t.Context(), strings.NewReader("\n\n"), nil)
	if err != nil || len(recs) != 0 {
		t.Fatalf("got %v, %v; want nothing", recs, err)
	}
}

func TestSampleCorpus(t *testing.T) {
	embed, _ := hashEmbed(8)
	recs, err := retrieval.LoadJSONL(t.Context(), retrieval.SampleCorpus(), embed)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) < 25 || len(recs) > 40 {
		t.Fatalf("sample corpus has %d documents, want about 30", len(recs))
	}
	topics := map[string]int{}
	for _, r := range recs {
		topics[r.Metadata["topic"]]++
	}
	for _, topic := range []string{"nats", "keda", "milvus", "ray", "workers"} {
		if topics[topic] == 0 {
			t.Errorf("no document about %s", topic)
		}
	}
	m, err := retrieval.NewMemory(recs)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := m.Search(t.Context(), retrieval.Query{Vector: recs[3].Vector, TopK: 1, Filter: `topic == "nats"`})
	if err != nil || len(docs) != 1 || docs[0].ID != recs[3].ID {
		t.Fatalf("searching for a corpus document's own vector: %+v, %v", docs, err)
	}
	// A fresh reader each time.
	again, _ := io.ReadAll(retrieval.SampleCorpus())
	if !bytes.HasPrefix(again, []byte(`{"id"`)) {
		t.Fatal("SampleCorpus did not start at the beginning")
	}
}

func FuzzLoadJSONL(f *testing.F) {
	for _, seed := range []string{
		``,
		`{"id":"a","text":"alpha","vector":[1,0,0],"metadata":{"lang":"en"}}`,
		"{\"id\":\"a\",\"text\":\"a\"}\n{\"id\":\"b\",\"text\":\"b\",\"vector\":[0.5,-1e-3,2,7]}\n",
		"{\"id\":\"a\",\"text\":\"a\",\"vector\":[1]}\n{\"id\":\"a\",\"text\":\"a\",\"vector\":[1]}",
		`{"id":"a","text":"a","vector":[1,2]}` + "\n" + `{"id":"b","text":"b","vector":[1]}`,
		`{"id":"a","text":"a","vector":[]}`,
		`{"id":"a","text":"a","vector":null,"metadata":null}`,
		`{"id":"a","text":"a","vectors":[1]}`,
		`{"id":"a","text":"a"} {"id":"b"}`,
		`{"id":1,"text":"a"}`,
		"\xef\xbb\xbf{\"id\":\"\\u00e9\",\"text\":\"\\ud800\"}\r\n",
		`null`,
		`{"id":"a","text":"a","vector":[0,0,0]}`,
	} {
		f.Add([]byte(seed))
	}
	embed := func(_ context.Context, texts []string) ([][]float32, error) { return hashVectors(4, texts), nil }
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := retrieval.LoadJSONL(context.Background(), bytes.NewReader(data), embed)
		if err != nil {
			var le *retrieval.LineError
			if errors.As(err, &le) && (le.Line < 1 || le.Line > bytes.Count(data, []byte("\n"))+1) {
				t.Fatalf("error names line %d of a %d-line input: %v", le.Line, bytes.Count(data, []byte("\n"))+1, err)
			}
			return
		}
		seen := map[string]bool{}
		for _, r := range recs {
			if r.ID == "" || r.Text == "" || seen[r.ID] {
				t.Fatalf("accepted a bad or repeated record: %+v", r)
			}
			seen[r.ID] = true
			if len(r.Vector) != len(recs[0].Vector) {
				t.Fatalf("accepted vectors of dimensions %d and %d", len(recs[0].Vector), len(r.Vector))
			}
		}
		if len(recs) > 0 {
			if _, err := retrieval.NewMemory(recs); err != nil {
				t.Fatalf("LoadJSONL accepted records NewMemory refuses: %v", err)
			}
		}
	})
}
