package retrieval

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
)

// MaxLineBytes bounds one line of a JSONL corpus (a 4096-dimension vector in JSON is ~80 KB).
const MaxLineBytes = 4 << 20

// EmbedFunc turns texts into vectors, one per text and in order; an embeddings client's method
// value fits.
type EmbedFunc func(ctx context.Context, texts []string) ([][]float32, error)

// LoadJSONL reads a corpus with one JSON object per line:
//
//	{"id": "nats-1", "text": "...", "vector": [0.1, ...], "metadata": {"source": "docs"}}
//
// "vector" and "metadata" are optional; other keys are refused, so a misspelt "vectors" is an
// error instead of a silent re-embedding. Blank lines are skipped. IDs must be unique and
// texts non-empty. Lines without a vector are embedded with one call of embed after the whole
// file has been read, so a bad line costs no embedding calls; splitting the texts into requests
// the server accepts is embed's job (the embeddings client batches by its BatchSize). Every vector, read
// or embedded, must be finite, non-zero and of one dimension. A problem with a line is a
// *LineError naming it.
func LoadJSONL(ctx context.Context, r io.Reader, embed EmbedFunc) ([]Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4<<10), MaxLineBytes)

	var (
		records []Record
		lines   []int              // lines[i] is the line records[i] came from
		firstAt = map[string]int{} // id -> line
		pending []int              // indexes into records that need embedding
		dim     int
		dimLine int
		lineNo  int
	)
	checkDim := func(n, line int) error {
		if dim == 0 {
			dim, dimLine = n, line
			return nil
		}
		if n != dim {
			return fmt.Errorf("vector has dimension %d, line %d has %d", n, dimLine, dim)
		}
		return nil
	}

	for sc.Scan() {
		lineNo++
		line := sc.Bytes()
		if lineNo == 1 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")) // a UTF-8 BOM from a Windows editor
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		rec, err := decodeRecord(line)
		if err != nil {
			return nil, &LineError{Line: lineNo, Err: err}
		}
		if first, dup := firstAt[rec.ID]; dup {
			return nil, &LineError{Line: lineNo, Err: fmt.Errorf("id %q repeats line %d", rec.ID, first)}
		}
		firstAt[rec.ID] = lineNo
		if rec.Vector == nil {
			pending = append(pending, len(records))
		} else if err := checkDim(len(rec.Vector), lineNo); err != nil {
			return nil, &LineError{Line: lineNo, Err: err}
		}
		records = append(records, rec)
		lines = append(lines, lineNo)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &LineError{Line: lineNo + 1, Err: fmt.Errorf("longer than %d bytes", MaxLineBytes)}
		}
		return nil, fmt.Errorf("reading corpus after line %d: %w", lineNo, err)
	}

	if len(pending) > 0 && embed == nil {
		return nil, &LineError{Line: lines[pending[0]], Err: errors.New("no vector, and no embed function to make one")}
	}
	if len(pending) == 0 {
		return records, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("embedding corpus: %w", err)
	}
	texts := make([]string, len(pending))
	for i, at := range pending {
		texts[i] = records[at].Text
	}
	first, last := lines[pending[0]], lines[pending[len(pending)-1]]
	vectors, err := embed(ctx, texts)
	if err != nil {
		return nil, fmt.Errorf("embedding lines %d-%d: %w", first, last, err)
	}
	if len(vectors) != len(pending) {
		return nil, fmt.Errorf("embedding lines %d-%d: got %d vectors for %d texts", first, last, len(vectors), len(pending))
	}
	for i, at := range pending {
		if err := checkVector(vectors[i]); err != nil {
			return nil, &LineError{Line: lines[at], Err: fmt.Errorf("embedding: %w", err)}
		}
		if err := checkDim(len(vectors[i]), lines[at]); err != nil {
			return nil, &LineError{Line: lines[at], Err: fmt.Errorf("embedding: %w", err)}
		}
		records[at].Vector = vectors[i]
	}
	return records, nil
}

func decodeRecord(line []byte) (Record, error) {
	var rec Record
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return Record{}, fmt.Errorf("decoding JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Record{}, errors.New("decoding JSON: more than one value on the line")
	}
	switch {
	case rec.ID == "":
		return Record{}, errors.New(`missing "id"`)
	case rec.Text == "":
		return Record{}, errors.New(`missing "text"`)
	}
	if rec.Vector != nil {
		if err := checkVector(rec.Vector); err != nil {
			return Record{}, err
		}
	}
	return rec, nil
}

// checkVector refuses what cosine similarity cannot use.
func checkVector(v []float32) error {
	if len(v) == 0 {
		return errors.New("vector is empty")
	}
	zero := true
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("vector element %d is %v", i, x)
		}
		zero = zero && x == 0
	}
	if zero {
		return errors.New("vector is all zeros")
	}
	return nil
}
