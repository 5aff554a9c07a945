package milvus

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval"
)

// documents reads the results of one query vector as the SDK's ResultSet does
// (milvusclient/read.go handleSearchResult): IDs from the primary keys or Config.IDField, text
// and metadata from the output fields, a field outside the schema from the dynamic $meta field.
func (r *Retriever) documents(res *schemapb.SearchResultData) ([]retrieval.Document, error) {
	if res.GetNumQueries() != 1 {
		return nil, fmt.Errorf("got %d result sets for one query vector", res.GetNumQueries())
	}
	if len(res.GetTopks()) < 1 {
		return nil, errors.New("topk not returned for nq 0")
	}
	n := int(res.GetTopks()[0])
	if len(res.GetScores()) < n {
		return nil, fmt.Errorf("got %d scores for %d results", len(res.GetScores()), n)
	}
	if n == 0 {
		return []retrieval.Document{}, nil
	}
	fields := res.GetFieldsData()
	text := column(fields, r.cfg.TextField)
	var ids func(int) (string, error)
	if r.cfg.IDField != "" {
		if col := column(fields, r.cfg.IDField); col != nil {
			ids = col.value
		}
	} else if pk := primaryKeys(res.GetIds()); pk != nil {
		ids = pk
	}
	if ids == nil || text == nil {
		return nil, failure.Permanentf("results lack the id or the text field %q", r.cfg.TextField)
	}
	meta := make([]*fieldColumn, len(r.cfg.OutputFields))
	for j, name := range r.cfg.OutputFields {
		meta[j] = column(fields, name)
	}
	docs := make([]retrieval.Document, n)
	for i := range n {
		id, err := ids(i)
		if err != nil {
			return nil, fmt.Errorf("result %d id: %w", i, err)
		}
		txt, err := text.value(i)
		if err != nil {
			return nil, fmt.Errorf("result %d field %s: %w", i, r.cfg.TextField, err)
		}
		docs[i] = retrieval.Document{ID: id, Text: txt, Score: r.score(res.GetScores()[i])}
		for j, name := range r.cfg.OutputFields {
			if meta[j] == nil {
				continue
			}
			v, err := meta[j].value(i)
			if errors.Is(err, errNoDynamicValue) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("result %d field %s: %w", i, name, err)
			}
			if docs[i].Metadata == nil {
				docs[i].Metadata = make(map[string]string, len(r.cfg.OutputFields))
			}
			docs[i].Metadata[name] = v
		}
	}
	return docs, nil
}

// score turns what Milvus reports into "higher is better": COSINE and IP already are; L2 is a
// squared distance, mapped by the decreasing 1/(1+d) into (0, 1].
func (r *Retriever) score(s float32) float32 {
	if r.cfg.Metric == L2 {
		return float32(1 / (1 + math.Max(float64(s), 0)))
	}
	return s
}

// primaryKeys returns the i-th primary key as a string, or nil when the results carry none.
func primaryKeys(ids *schemapb.IDs) func(int) (string, error) {
	switch {
	case ids.GetIntId() != nil:
		data := ids.GetIntId().GetData()
		return func(i int) (string, error) { return at(data, i, formatInt) }
	case ids.GetStrId() != nil:
		data := ids.GetStrId().GetData()
		return func(i int) (string, error) { return at(data, i, func(s string) string { return s }) }
	default:
		return nil
	}
}

// fieldColumn is one output field of the results, or one key of the dynamic field.
type fieldColumn struct {
	data       *schemapb.FieldData
	dynamicKey string // set: the value is this key of data's JSON rows
}

// errNoDynamicValue is a row of the dynamic field without the key asked for: the document has
// no such metadata. (The SDK fails the whole search there; one sparse key should not.)
var errNoDynamicValue = errors.New("no value in the dynamic field")

// column finds the field called name among the results, as ResultSet.GetColumn does: the field
// itself, else its key in the dynamic field. nil when neither exists.
func column(fields []*schemapb.FieldData, name string) *fieldColumn {
	var dynamic *schemapb.FieldData
	for _, f := range fields {
		if f.GetFieldName() == name {
			return &fieldColumn{data: f}
		}
		if f.GetIsDynamic() {
			dynamic = f
		}
	}
	if dynamic != nil {
		return &fieldColumn{data: dynamic, dynamicKey: name}
	}
	return nil
}

// value formats row i for Document.ID, Text or Metadata: strings as they are, numbers in
// decimal, JSON as its text, a null as "".
func (c *fieldColumn) value(i int) (string, error) {
	if c.dynamicKey != "" {
		row, err := at(c.data.GetScalars().GetJsonData().GetData(), i, func(b []byte) string { return string(b) })
		if err != nil {
			return "", err
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal([]byte(row), &obj); err != nil {
			return "", fmt.Errorf("reading the dynamic field: %w", err)
		}
		raw, ok := obj[c.dynamicKey]
		if !ok {
			return "", errNoDynamicValue
		}
		return string(raw), nil // raw JSON, as the SDK's dynamic column gives it
	}
	if valid := c.data.GetValidData(); len(valid) > 0 {
		if i >= len(valid) {
			return "", fmt.Errorf("index %d out of range [0, %d)", i, len(valid))
		}
		if !valid[i] {
			return "", nil
		}
		if scalarLen(c.data.GetScalars()) < len(valid) { // compact: only the valid rows are sent
			k := 0
			for _, v := range valid[:i] {
				if v {
					k++
				}
			}
			i = k
		}
	}
	return scalarString(c.data.GetScalars(), i, c.data)
}

func scalarString(s *schemapb.ScalarField, i int, f *schemapb.FieldData) (string, error) {
	switch d := s.GetData().(type) {
	case *schemapb.ScalarField_StringData:
		return at(d.StringData.GetData(), i, func(v string) string { return v })
	case *schemapb.ScalarField_LongData:
		return at(d.LongData.GetData(), i, formatInt)
	case *schemapb.ScalarField_IntData: // Int8, Int16 and Int32 fields
		return at(d.IntData.GetData(), i, func(v int32) string { return formatInt(int64(v)) })
	case *schemapb.ScalarField_FloatData:
		return at(d.FloatData.GetData(), i, func(v float32) string { return strconv.FormatFloat(float64(v), 'g', -1, 32) })
	case *schemapb.ScalarField_DoubleData:
		return at(d.DoubleData.GetData(), i, func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) })
	case *schemapb.ScalarField_BoolData:
		return at(d.BoolData.GetData(), i, strconv.FormatBool)
	case *schemapb.ScalarField_JsonData:
		return at(d.JsonData.GetData(), i, func(v []byte) string { return string(v) })
	case *schemapb.ScalarField_ArrayData:
		return at(d.ArrayData.GetData(), i, arrayString)
	default:
		return "", fmt.Errorf("field %s of type %s is not a scalar this retriever reads", f.GetFieldName(), f.GetType())
	}
}

// arrayString formats an Array field's value as the SDK's column does, with fmt.Sprint.
func arrayString(s *schemapb.ScalarField) string {
	switch d := s.GetData().(type) {
	case *schemapb.ScalarField_StringData:
		return fmt.Sprint(d.StringData.GetData())
	case *schemapb.ScalarField_LongData:
		return fmt.Sprint(d.LongData.GetData())
	case *schemapb.ScalarField_IntData:
		return fmt.Sprint(d.IntData.GetData())
	case *schemapb.ScalarField_FloatData:
		return fmt.Sprint(d.FloatData.GetData())
	case *schemapb.ScalarField_DoubleData:
		return fmt.Sprint(d.DoubleData.GetData())
	case *schemapb.ScalarField_BoolData:
		return fmt.Sprint(d.BoolData.GetData())
	default:
		return ""
	}
}

func scalarLen(s *schemapb.ScalarField) int {
	switch d := s.GetData().(type) {
	case *schemapb.ScalarField_StringData:
		return len(d.StringData.GetData())
	case *schemapb.ScalarField_LongData:
		return len(d.LongData.GetData())
	case *schemapb.ScalarField_IntData:
		return len(d.IntData.GetData())
	case *schemapb.ScalarField_FloatData:
		return len(d.FloatData.GetData())
	case *schemapb.ScalarField_DoubleData:
		return len(d.DoubleData.GetData())
	case *schemapb.ScalarField_BoolData:
		return len(d.BoolData.GetData())
	case *schemapb.ScalarField_JsonData:
		return len(d.JsonData.GetData())
	case *schemapb.ScalarField_ArrayData:
		return len(d.ArrayData.GetData())
	default:
		return 0
	}
}

func at[T any](data []T, i int, format func(T) string) (string, error) {
	if i < 0 || i >= len(data) {
		return "", fmt.Errorf("index %d out of range [0, %d)", i, len(data))
	}
	return format(data[i]), nil
}

func formatInt(v int64) string { return strconv.FormatInt(v, 10) }
